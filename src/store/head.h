// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The store's published head: the last committed position, its chain hash and timestamp, the
// first stored position (the log start and the hash before it), and the last write's error.
// What readers, subscriptions, the shipper and GetInfo() see is what was published here, and
// nothing is published before the write that made it is done (durable in the store's mode).
// Writers: the sequencer (Publish, SetWriteError), the opener and Refresh (Publish after
// loading the tail), retention and the opener (SetLogStart). Owns only these fields and their lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <string>

#include "cairn/status.h"
#include "codec/chain.h"
#include "util/mutex.h"

namespace cairn::store {

class PublishedHead {
 public:
  struct Snapshot {
    std::uint64_t position = 0;
    codec::Hash chain_hash{};
    std::int64_t timestamp_us = 0;
    std::string write_error;  // empty while writes succeed
  };

  // A new head; wakes WaitPast.
  void Publish(std::uint64_t position, const codec::Hash& hash, std::int64_t timestamp_us)
      CAIRN_EXCLUDES(mu_) {
    {
      internal::MutexLock lk(mu_);
      position_ = position;
      hash_ = hash;
      timestamp_us_ = timestamp_us;
    }
    cv_.notify_all();
  }
  std::uint64_t position() const CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    return position_;
  }
  Snapshot Get() const CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    return {position_, hash_, timestamp_us_,
            write_status_.ok() ? std::string() : write_status_.ToString()};
  }
  // Blocks until the head is past `after`, the timeout expires or Close(); returns the head.
  std::uint64_t WaitPast(std::uint64_t after, std::chrono::milliseconds timeout) const
      CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    lk.WaitFor(cv_, timeout, [&]() CAIRN_REQUIRES(mu_) { return position_ > after || closed_; });
    return position_;
  }
  // The store is closing: wakes every waiter for good.
  void Close() CAIRN_EXCLUDES(mu_) {
    {
      internal::MutexLock lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  // The error that keeps the store from writing, or OK once a write succeeded again.
  void SetWriteError(const Status& s) CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    write_status_ = s;
  }
  Status write_status() const CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    return write_status_;
  }

  // The first stored position and the chain hash of the position before it (retention
  // removed everything below; 1 and the genesis hash's stand-in before any removal).
  std::uint64_t log_start() const { return log_start_.load(); }
  codec::Hash log_start_hash() const CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    return log_start_hash_;
  }
  void SetLogStart(std::uint64_t start, const codec::Hash& hash_before) CAIRN_EXCLUDES(mu_) {
    internal::MutexLock lk(mu_);
    log_start_hash_ = hash_before;
    log_start_ = start;
  }

 private:
  mutable internal::Mutex mu_;
  mutable std::condition_variable cv_;  // notified when the head moves or the store closes
  std::uint64_t position_ CAIRN_GUARDED_BY(mu_) = 0;
  codec::Hash hash_ CAIRN_GUARDED_BY(mu_){};
  std::int64_t timestamp_us_ CAIRN_GUARDED_BY(mu_) = 0;
  bool closed_ CAIRN_GUARDED_BY(mu_) = false;
  Status write_status_ CAIRN_GUARDED_BY(mu_);
  // Written under mu_ with log_start_hash_; atomic so that readers checking a position
  // against it need no lock.
  std::atomic<std::uint64_t> log_start_{1};
  codec::Hash log_start_hash_ CAIRN_GUARDED_BY(mu_){};
};

}  // namespace cairn::store
