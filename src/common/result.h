// Result<T> and Status: errors as values at every module boundary.
//
// A small closed set of codes; each maps to one HTTP status and one stable
// `error` string in http/json_error (the only place that mapping lives).
// `detail` is a human-readable sentence for the caller. It must never contain
// personal data or secrets: it is logged and sent over the wire.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace parley {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // malformed input from a peer or a user
  kNotFound,
  kAlreadyExists,
  kUnauthenticated,     // no or bad credentials
  kPermissionDenied,    // authenticated but not allowed
  kResourceExhausted,   // rate limited
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kFailedPrecondition,  // state does not allow the operation
  kAborted,             // lost to a concurrent change (a batch's predecessor not stored yet): retry after it
  kUnavailable,         // transient: retry later (store busy, shutting down)
  kConfig,              // bad configuration; detail names the key
  kInternal,
};

// Stable machine-readable name of a code ("invalid_argument", ...).
std::string_view CodeName(Code code);

struct Error {
  Code code = Code::kInternal;
  std::string detail;
};

inline Error InvalidArgument(std::string detail) { return {Code::kInvalidArgument, std::move(detail)}; }
inline Error NotFound(std::string detail) { return {Code::kNotFound, std::move(detail)}; }
inline Error AlreadyExists(std::string detail) { return {Code::kAlreadyExists, std::move(detail)}; }
inline Error Unauthenticated(std::string detail) { return {Code::kUnauthenticated, std::move(detail)}; }
inline Error PermissionDenied(std::string detail) { return {Code::kPermissionDenied, std::move(detail)}; }
inline Error ResourceExhausted(std::string detail) { return {Code::kResourceExhausted, std::move(detail)}; }
inline Error PayloadTooLarge(std::string detail) { return {Code::kPayloadTooLarge, std::move(detail)}; }
inline Error FailedPrecondition(std::string detail) { return {Code::kFailedPrecondition, std::move(detail)}; }
inline Error Aborted(std::string detail) { return {Code::kAborted, std::move(detail)}; }
inline Error Unavailable(std::string detail) { return {Code::kUnavailable, std::move(detail)}; }
inline Error ConfigError(std::string detail) { return {Code::kConfig, std::move(detail)}; }
inline Error Internal(std::string detail) { return {Code::kInternal, std::move(detail)}; }

// Result<T>: either a value or an Error. Result<void> is Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}    // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;
inline Status Ok() { return {}; }

}  // namespace parley

// Propagates an error from an expression returning Result/Status.
#define PARLEY_TRY(expr)                          \
  do {                                            \
    auto parley_try_r_ = (expr);                  \
    if (!parley_try_r_.ok()) return parley_try_r_.error(); \
  } while (0)

#define PARLEY_CONCAT_INNER(a, b) a##b
#define PARLEY_CONCAT(a, b) PARLEY_CONCAT_INNER(a, b)
// PARLEY_ASSIGN_OR_RETURN(auto x, Expr()): binds the value or returns the error.
#define PARLEY_ASSIGN_OR_RETURN(lhs, expr) \
  PARLEY_ASSIGN_OR_RETURN_IMPL(PARLEY_CONCAT(parley_r_, __LINE__), lhs, expr)
#define PARLEY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.error();                 \
  lhs = std::move(tmp).value()
