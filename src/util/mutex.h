// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// A mutex the compiler can check: Clang's thread-safety analysis (-Wthread-safety, on in the
// clang build of .ci/reliability) proves that every field marked CAIRN_GUARDED_BY(mu) is only
// touched with `mu` held, as LevelDB's and Abseil's annotations do. Under GCC the annotations
// expand to nothing and Mutex is a std::mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/saturating.h"

#if defined(__clang__)
#define CAIRN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CAIRN_THREAD_ANNOTATION(x)
#endif

#define CAIRN_CAPABILITY(name) CAIRN_THREAD_ANNOTATION(capability(name))
#define CAIRN_SCOPED_CAPABILITY CAIRN_THREAD_ANNOTATION(scoped_lockable)
#define CAIRN_GUARDED_BY(mu) CAIRN_THREAD_ANNOTATION(guarded_by(mu))
#define CAIRN_REQUIRES(...) CAIRN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define CAIRN_EXCLUDES(...) CAIRN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define CAIRN_ACQUIRE(...) CAIRN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define CAIRN_RELEASE(...) CAIRN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define CAIRN_NO_THREAD_SAFETY_ANALYSIS CAIRN_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace cairn::internal {

class CAIRN_CAPABILITY("mutex") Mutex {
 public:
  void Lock() CAIRN_ACQUIRE() { mu_.lock(); }
  void Unlock() CAIRN_RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope; can release and take it again (Unlock/Lock) and wait on a
// condition variable. A wait releases the mutex while blocked and holds it again when it
// returns, so to the analysis the mutex stays held; the predicate runs with it held and is
// annotated so: [&]() CAIRN_REQUIRES(mu_) { ... }.
class CAIRN_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) CAIRN_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() CAIRN_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() CAIRN_RELEASE() { lock_.unlock(); }
  void Lock() CAIRN_ACQUIRE() { lock_.lock(); }

  template <typename Predicate>
  void Wait(std::condition_variable& cv, Predicate ready) {
    cv.wait(lock_, ready);
  }
  // False when `timeout` passed with the predicate still false. A timeout too long for the
  // clock (milliseconds::max()) waits for ever: wait_for would add it to now() and overflow
  // into the past, returning at once.
  template <typename Rep, typename Period, typename Predicate>
  bool WaitFor(std::condition_variable& cv, std::chrono::duration<Rep, Period> timeout,
               Predicate ready) {
    return cv.wait_until(lock_, DeadlineAfter(timeout), ready);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace cairn::internal
