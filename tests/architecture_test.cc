// The dependency arrows of ../shared/design/ARCHITECTURE.md, checked on every #include "dir/...".
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

// folder -> folders its files may include (base is allowed everywhere). tokenizer may read GGUF
// metadata only, i.e. denoiser/gguf/.
const std::map<std::string, std::set<std::string>> kAllowed = {
    {"base", {}},
    {"kernels", {}},
    {"denoiser", {"kernels"}},
    {"tokenizer", {"denoiser/gguf"}},
    {"schedulers", {}},
    {"sampling", {"kernels"}},
    {"diffusion", {"denoiser", "schedulers", "sampling"}},
    {"engine", {"diffusion", "tokenizer", "denoiser"}},
    {"cli", {"engine", "bench", "server"}},  // bench: behind `sculpt bench`; server: `sculpt serve`
    {"server", {"engine"}},
    {"demos", {"engine"}},
};

bool Allowed(const std::string& from, const std::string& include) {
  const std::string dir = include.substr(0, include.find('/'));
  if (dir == from || dir == "base") return true;
  for (const std::string& a : kAllowed.at(from)) {
    if (include.rfind(a + "/", 0) == 0) return true;
  }
  return false;
}

TEST(Architecture, IncludesFollowTheDependencyTable) {
  const fs::path root = SCULPT_SOURCE_DIR;
  const std::regex include_re(R"(^\s*#\s*include\s*"([^"]+)\")");
  int files = 0;
  for (const auto& [folder, allowed] : kAllowed) {
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / folder)) {
      const auto ext = e.path().extension();
      if (ext != ".h" && ext != ".cc") continue;
      ++files;
      std::ifstream in(e.path());
      std::string line;
      while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, include_re)) continue;
        const std::string inc = m[1];
        if (inc.find('/') == std::string::npos) continue;  // same-folder relative include
        const std::string top = inc.substr(0, inc.find('/'));
        if (!kAllowed.count(top) && top != "tests" && top != "bench" && top != "tools") {
          continue;  // a library's header (hwy/, CLI/, nlohmann/ ...)
        }
        EXPECT_TRUE(Allowed(folder, inc))
            << fs::relative(e.path(), root).string() << " includes \"" << inc << "\"";
      }
    }
  }
  EXPECT_GT(files, 10);
}

}  // namespace
