// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Subscription (include/cairn/subscription.h): a thread that reads forward from a saved
// position, filters with EventSelector, calls the handler and saves its checkpoint.
#include "cairn/subscription.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "util/mutex.h"

namespace cairn {

class Subscription::Impl {
 public:
  Impl(Store& store, SubscriptionOptions options, EventHandler handler)
      : store_(store),
        opt_(std::move(options)),
        selector_{opt_.stream, opt_.category, opt_.types},
        handler_(std::move(handler)) {}
  ~Impl() { (void)Stop(); }

  Status Init() {
    if (!handler_) return Status::InvalidArgument("subscription without a handler");
    // Where to begin: a saved checkpoint wins over from_end / from_position.
    std::uint64_t start = 0;
    bool resumed = false;
    if (!opt_.name.empty()) {
      // Two subscriptions of one name would each run the handler on every event and race
      // on one checkpoint (Stop releases the claim).
      if (Status s = store_.ClaimCheckpoint(CheckpointName()); !s.ok()) return s;
      claimed_ = true;
      auto saved = store_.LoadCheckpoint(CheckpointName());
      if (!saved.ok()) return saved.status();
      resumed = *saved > 0;
      start = *saved;
    }
    if (!resumed) {
      if (opt_.from_end)
        start = store_.last_position();
      else if (opt_.from_position)
        start = *opt_.from_position > 0 ? *opt_.from_position - 1 : 0;
    }
    {
      internal::MutexLock lk(mu_);
      position_ = start;
    }
    return Start();
  }

  std::uint64_t position() const {
    internal::MutexLock lk(mu_);
    return position_;
  }
  Status status() const {
    internal::MutexLock lk(mu_);
    return status_;
  }

  Status WaitUntil(std::uint64_t position, std::chrono::milliseconds timeout) {
    internal::MutexLock lk(mu_);
    lk.WaitFor(cv_, timeout, [&]() CAIRN_REQUIRES(mu_) { return position_ >= position || done_; });
    if (position_ >= position) return Status::Ok();
    if (!status_.ok()) return status_;
    if (done_) return Status::Cancelled("the subscription stopped");
    return Status::TimedOut(fmt::format("position {} not reached within {} ms (at {})", position,
                                        timeout.count(), position_));
  }

  Status Stop() {
    {
      internal::MutexLock lk(stop_mu_);
      if (stopped_) return status();
      stopped_ = true;
    }
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (claimed_) store_.ReleaseCheckpoint(CheckpointName());
    claimed_ = false;
    return status();
  }

 private:
  std::string CheckpointName() const { return "subscription." + opt_.name; }

  Status Start() {
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  bool Matches(const RecordedEvent& e) const { return selector_.Matches(e); }

  void Publish(std::uint64_t position) {
    {
      internal::MutexLock lk(mu_);
      position_ = position;
    }
    cv_.notify_all();
  }

  void Fail(Status s) {
    {
      internal::MutexLock lk(mu_);
      status_ = std::move(s);
    }
    cv_.notify_all();
  }

  void SaveCheckpoint(std::uint64_t position) {
    if (opt_.name.empty() || position == saved_) return;
    if (Status s = store_.SaveCheckpoint(CheckpointName(), position, /*sync=*/false); s.ok())
      saved_ = position;
    last_save_ = std::chrono::steady_clock::now();
  }

  void Run() {
    std::uint64_t done = position();
    saved_ = done;
    while (!stop_) {
      const std::uint64_t head = store_.last_position();
      if (head <= done) {
        store_.WaitForPosition(done, std::chrono::milliseconds(50));
        if (std::chrono::steady_clock::now() - last_save_ >= opt_.checkpoint_interval)
          SaveCheckpoint(done);
        continue;
      }
      LogReadOptions ro;
      ro.from_position = done + 1;
      auto reader = store_.ReadLog(ro);
      if (!reader.ok()) {
        Fail(reader.status());
        break;
      }
      bool failed = false;
      for (; reader->Valid() && !stop_; reader->Next()) {
        const RecordedEvent& e = reader->event();
        if (Matches(e)) {
          Status s;
          try {
            s = handler_(e);
          } catch (const std::exception& ex) {
            s = Status::Internal(
                fmt::format("the handler threw at position {}: {}", e.position, ex.what()));
          } catch (...) {
            s = Status::Internal(fmt::format("the handler threw at position {}", e.position));
          }
          if (!s.ok()) {
            Fail(s);
            failed = true;
            break;
          }
        }
        done = e.position;
        // Publishing takes a lock and wakes waiters: every 1,024 events while catching up (a
        // cost that otherwise dominates, measured 0.16x of a bare scan), and whenever the
        // reader runs dry below.
        if ((done & 1023) == 0) {
          Publish(done);
          if (std::chrono::steady_clock::now() - last_save_ >= opt_.checkpoint_interval)
            SaveCheckpoint(done);
        }
      }
      Publish(done);
      if (!failed && !reader->status().ok()) {
        Fail(reader->status());
        failed = true;
      }
      if (failed) break;
    }
    SaveCheckpoint(done);
    {
      internal::MutexLock lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }

  Store& store_;
  const SubscriptionOptions opt_;
  const EventSelector selector_;  // opt_'s filters
  EventHandler handler_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  internal::Mutex stop_mu_;
  bool stopped_ CAIRN_GUARDED_BY(stop_mu_) = false;
  bool claimed_ = false;  // Init claimed the checkpoint; Stop, once, releases it

  mutable internal::Mutex mu_;
  std::condition_variable cv_;
  std::uint64_t position_ CAIRN_GUARDED_BY(mu_) = 0;
  Status status_ CAIRN_GUARDED_BY(mu_);
  bool done_ CAIRN_GUARDED_BY(mu_) = false;

  // Subscription thread only.
  std::uint64_t saved_ = 0;
  std::chrono::steady_clock::time_point last_save_ = std::chrono::steady_clock::now();
};

Subscription::Subscription(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscription::~Subscription() = default;

Result<std::unique_ptr<Subscription>> Subscription::Start(Store& store, SubscriptionOptions options,
                                                          EventHandler handler) {
  // A closed store fails here, not later on the subscription's thread.
  if (auto head = store.Refresh(); !head.ok()) return head.status();
  auto impl = std::make_unique<Impl>(store, std::move(options), std::move(handler));
  if (Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Subscription>(new Subscription(std::move(impl)));
}

std::uint64_t Subscription::position() const { return impl_->position(); }
Status Subscription::status() const { return impl_->status(); }
Status Subscription::WaitUntil(std::uint64_t position, std::chrono::milliseconds timeout) {
  return impl_->WaitUntil(position, timeout);
}
Status Subscription::Stop() { return impl_->Stop(); }

}  // namespace cairn
