// Status and Result<T>: the one error type of pgthaw (no exceptions inside).
//
// A Status is ok or carries a code and a message naming what failed (syscall,
// path, tenant). Result<T> is a value or a non-ok Status; C++20 has no
// std::expected. Both are cheap to move and safe to copy.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace pgthaw {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong
  kNotFound,
  kIoError,            // a host syscall failed
  kCorruption,         // a file or snapshot is not what it claims to be
  kEngineTrap,         // the engine trapped; that instance is dead
  kEngineError,        // the engine reported an error it could not recover from
  kResourceExhausted,  // out of memory, fds, pool slots
  kUnavailable,        // closed, shutting down
  kAborted,            // the server ended it (a hold idle past its timeout)
  kInternal,
  kAlreadyExists,    // the thing to create is there already
  kUnauthenticated,  // the credentials do not prove who the client claims to be
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status EngineTrap(std::string msg) { return {StatusCode::kEngineTrap, std::move(msg)}; }
  static Status EngineError(std::string msg) { return {StatusCode::kEngineError, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Aborted(std::string msg) { return {StatusCode::kAborted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {StatusCode::kUnauthenticated, std::move(msg)};
  }
  // errno-carrying I/O failure: "open base/5/1259: No such file or directory".
  static Status FromErrno(const std::string& context, int host_errno);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // The same failure with `prefix` in front of its message.
  Status Annotate(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + message_);
  }

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pgthaw

#define PGTHAW_RETURN_IF_ERROR(expr) \
  do {                               \
    ::pgthaw::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)
