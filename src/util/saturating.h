// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Arithmetic on caller-given durations, times, counts and positions that saturates instead
// of wrapping (issue #24). A "keep for ever" audit window of 9,999,999,999 days is 8.6e20
// microseconds: multiplied into an int64 it wrapped to a negative age, and retention removed
// the events it was asked to keep. Every cut-off, deadline and limit computed from a value a
// user chose goes through these, so the worst a huge value can do is mean "for ever".
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace cairn::internal {

template <typename T>
constexpr T SaturatingAdd(T a, T b) {
  static_assert(std::is_integral_v<T>);
  T out;
  if (!__builtin_add_overflow(a, b, &out)) return out;
  if constexpr (std::is_signed_v<T>)
    return b > 0 ? std::numeric_limits<T>::max() : std::numeric_limits<T>::min();
  return std::numeric_limits<T>::max();
}

template <typename T>
constexpr T SaturatingSub(T a, T b) {
  static_assert(std::is_integral_v<T>);
  T out;
  if (!__builtin_sub_overflow(a, b, &out)) return out;
  if constexpr (std::is_signed_v<T>)
    return b > 0 ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
  return T{0};
}

template <typename T>
constexpr T SaturatingMul(T a, T b) {
  static_assert(std::is_integral_v<T>);
  T out;
  if (!__builtin_mul_overflow(a, b, &out)) return out;
  if constexpr (std::is_signed_v<T>)
    return (a < 0) != (b < 0) ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
  return std::numeric_limits<T>::max();
}

// `d` in microseconds, clamped to what an int64 holds (±292,000 years).
template <typename Rep, typename Period>
constexpr std::int64_t SaturatingMicros(std::chrono::duration<Rep, Period> d) {
  static_assert(std::is_integral_v<Rep>);
  using Micro = std::micro;
  using Ratio = std::ratio_divide<Period, Micro>;  // how many microseconds one tick is
  if constexpr (Ratio::den == 1) {
    return SaturatingMul<std::int64_t>(static_cast<std::int64_t>(d.count()), Ratio::num);
  } else {
    return static_cast<std::int64_t>(d.count()) * Ratio::num / Ratio::den;
  }
}

// The time `age` before `now_us` (microseconds since the epoch), clamped: an age longer than
// the epoch's range gives the earliest time, which nothing is older than.
template <typename Rep, typename Period>
constexpr std::int64_t CutoffBefore(std::int64_t now_us, std::chrono::duration<Rep, Period> age) {
  return SaturatingSub(now_us, SaturatingMicros(age));
}

// steady_clock::now() + timeout, clamped to the clock's last time point: a timeout of
// milliseconds::max() waits for ever instead of overflowing into the past. A negative timeout
// is now.
template <typename Rep, typename Period>
std::chrono::steady_clock::time_point DeadlineAfter(std::chrono::duration<Rep, Period> timeout) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point now = Clock::now();
  if (timeout <= timeout.zero()) return now;
  const auto room = Clock::time_point::max() - now;
  if (timeout >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(room) ||
      std::chrono::duration_cast<Clock::duration>(timeout) >= room)
    return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

}  // namespace cairn::internal
