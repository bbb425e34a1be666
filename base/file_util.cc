#include "base/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sculpt {

StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open '{}': {}", path, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("'{}' is not a regular file", path);
  }
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return Internal("cannot read '{}': {}", path, std::strerror(errno));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

namespace {

Status WriteAll(int fd, std::span<const char> bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("cannot write '{}': {}", path, std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status WriteFilesAtomically(const std::vector<std::pair<std::string, std::span<const char>>>& files) {
  std::vector<std::string> temps;
  auto cleanup = [&temps] {
    for (const std::string& t : temps) ::unlink(t.c_str());
  };
  for (const auto& [path, bytes] : files) {
    std::string tmp = path + ".tmp-XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
      cleanup();
      return Internal("cannot create '{}': {}", path, std::strerror(errno));
    }
    temps.push_back(tmp);
    Status s = WriteAll(fd, bytes, path);
    if (s.ok() && ::fsync(fd) != 0) s = Internal("cannot write '{}': {}", path, std::strerror(errno));
    ::fchmod(fd, 0644);
    if (::close(fd) != 0 && s.ok()) s = Internal("cannot write '{}': {}", path, std::strerror(errno));
    if (!s.ok()) {
      cleanup();
      return s;
    }
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (std::rename(temps[i].c_str(), files[i].first.c_str()) != 0) {
      const int err = errno;
      for (size_t j = i; j < temps.size(); ++j) ::unlink(temps[j].c_str());
      return Internal("cannot write '{}': {}", files[i].first, std::strerror(err));
    }
  }
  return Status::Ok();
}

}  // namespace sculpt
