// The one shape for "failed, and why": a value, or the reason there is none.
// (g++ 12 in C++20 mode has no std::expected; this is the small part of it we use.)
#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace p2p {

// Why something failed, in words meant for the user (or the log) that asked.
struct Problem {
  std::string why;
};

// Holds a T, or an E saying why there is no T. E is Problem unless a caller must branch
// on the kind of failure (FsFailure carries an FsError code for that).
template <class T, class E = Problem>
class [[nodiscard]] Result {
 public:
  // Anything a T is made from ("text" for a Result<std::string>), so `return x;` reads plainly.
  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&(!std::is_same_v<std::remove_cvref_t<U>, Result>)&&(
      !std::is_same_v<std::remove_cvref_t<U>, E>)Result(U&& value)
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  Result(const E& error) : v_(std::in_place_index<1>, error) {}
  Result(E&& error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return checked_value(); }
  const T& value() const& { return const_cast<Result*>(this)->checked_value(); }
  T&& value() && { return std::move(checked_value()); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const E& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

  template <class U>
  T value_or(U&& fallback) const& {
    return ok() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  T& checked_value() {
    assert(ok());
    return std::get<0>(v_);
  }

  std::variant<T, E> v_;
};

// For a function that has nothing to return but may fail. Default-constructed: success.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(const E& error) : error_(error), failed_(true) {}
  Result(E&& error) : error_(std::move(error)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }

  const E& error() const {
    assert(!ok());
    return error_;
  }

 private:
  E error_{};
  bool failed_ = false;
};

}  // namespace p2p
