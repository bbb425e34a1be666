// Status / StatusOr: how load and request problems travel (STYLE.md rule 6).
// A Status carries one human-readable line that names the bad value and, where possible, the fix.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace sculpt {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // a bad flag, option or request
  kNotFound,         // a missing file, key or tensor
  kDataLoss,         // a malformed file
  kUnimplemented,    // valid but not supported (yet)
  kOutOfRange,       // a value beyond a limit (context, vocabulary)
  kInternal,         // I/O failures and the like
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// `s` made safe to quote in a one-line message: control bytes and bytes >= 0x7f escaped as \xNN,
// cut to `max_len` bytes with "..." appended.
std::string Printable(std::string_view s, size_t max_len = 64);

// Builds a Status whose message is guaranteed to be one line (control characters escaped).
Status MakeStatus(StatusCode code, std::string message);

template <typename... Args>
Status InvalidArgument(fmt::format_string<Args...> f, Args&&... args) {
  return MakeStatus(StatusCode::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status NotFound(fmt::format_string<Args...> f, Args&&... args) {
  return MakeStatus(StatusCode::kNotFound, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status DataLoss(fmt::format_string<Args...> f, Args&&... args) {
  return MakeStatus(StatusCode::kDataLoss, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status Unimplemented(fmt::format_string<Args...> f, Args&&... args) {
  return MakeStatus(StatusCode::kUnimplemented, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status OutOfRange(fmt::format_string<Args...> f, Args&&... args) {
  return MakeStatus(StatusCode::kOutOfRange, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
Status Internal(fmt::format_string<Args...> f, Args&&... args) {
  return MakeStatus(StatusCode::kInternal, fmt::format(f, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(Status status) : v_(std::move(status)) {}  // NOLINT: implicit by design
  StatusOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sculpt

#define SCULPT_CONCAT_INNER(a, b) a##b
#define SCULPT_CONCAT(a, b) SCULPT_CONCAT_INNER(a, b)

#define SCULPT_RETURN_IF_ERROR(expr)             \
  do {                                           \
    ::sculpt::Status sculpt_status_ = (expr);    \
    if (!sculpt_status_.ok()) return sculpt_status_; \
  } while (0)

#define SCULPT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#define SCULPT_ASSIGN_OR_RETURN(lhs, expr) \
  SCULPT_ASSIGN_OR_RETURN_IMPL(SCULPT_CONCAT(sculpt_statusor_, __LINE__), lhs, expr)
