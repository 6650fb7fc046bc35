// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// In-process subscriptions: a thread that delivers a store's events to a handler in position
// order — first the ones already stored (catch-up), then each new one as it commits (woken by
// the write path, not by polling). Named subscriptions keep a durable checkpoint in the store
// and resume after it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn {

// Every field's default is given as "Default: ...", as StoreOptions does.
struct SubscriptionOptions {
  // Non-empty: the subscription is durable. Its position is saved in the store as checkpoint
  // "subscription.<name>" (every checkpoint_interval and on Stop) and a new subscription of
  // the same name resumes after it. Empty: nothing is saved. Default: empty.
  std::string name;
  // Where to start when there is no saved position: from this position, or from the end
  // (only events appended after Start), or else from the first event. Defaults: unset,
  // false (from the first event).
  std::optional<std::uint64_t> from_position;
  bool from_end = false;
  // Filters (all that are set must hold): one stream, one category (the stream id before its
  // first '-'), any of these types; matched as EventSelector (event.h) matches. Defaults:
  // empty (every event).
  std::string stream;
  std::string category;
  std::vector<std::string> types;
  // How often a durable subscription saves its position (also on Stop). Default: 200 ms.
  std::chrono::milliseconds checkpoint_interval{200};
};

// Called for each matching event, on the subscription's thread, one at a time. A non-OK
// Status (or an exception) stops the subscription; the event is not counted as handled, so a
// durable subscription delivers it again when restarted.
using EventHandler = std::function<Status(const RecordedEvent& event)>;

// Thread-safety: every method may be called from any thread except the handler's own (Stop
// from inside the handler would wait for itself). The store must outlive the subscription.
class Subscription {
 public:
  static Result<std::unique_ptr<Subscription>> Start(Store& store, SubscriptionOptions options,
                                                     EventHandler handler);

  // Every event at or below this position has been handled (or did not match).
  std::uint64_t position() const;
  // OK while running or after a clean Stop; the handler's error (or a read error) otherwise.
  Status status() const;
  // Waits until position() reaches `position`; kTimedOut, or the subscription's error.
  Status WaitUntil(std::uint64_t position, std::chrono::milliseconds timeout);
  // Stops after the event being handled, saves the position (durable subscriptions) and joins
  // the thread. Idempotent; returns status().
  Status Stop();

  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  // The implementation lives in src/; nothing of it is reachable from this header.
  class Impl;
  explicit Subscription(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn
