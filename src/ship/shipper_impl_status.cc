// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Status and metrics: the counters the shipping thread publishes under status_mu_, the
// checkpoint saved in the store, WaitUntilShipped, Stop, and the Prometheus text.
#include "ship/shipper_impl.h"

#include "metrics/prometheus.h"
#include "util/clock.h"

namespace cairn {

// --- status ----------------------------------------------------------------------------------

Status Shipper::Impl::SaveCheckpoint(bool sync) {
  Status s = store_.SaveCheckpoint(opt_.checkpoint_name, shipped_through_, sync);
  if (s.ok()) {
    saved_checkpoint_ = shipped_through_;
    last_checkpoint_save_ = Clock::now();
  }
  return s;
}

void Shipper::Impl::SetError(std::string error, bool failed) {
  internal::MutexLock lk(status_mu_);
  status_.last_error = std::move(error);
  if (failed) {
    status_.state = ShipperState::kFailed;
    final_status_ = Status::FailedPrecondition(status_.last_error);
    shipped_cv_.notify_all();
  }
}

void Shipper::Impl::PublishStatus(bool force) {
  const auto now = Clock::now();
  if (!force && now - last_publish_ < std::chrono::milliseconds(100)) return;
  last_publish_ = now;
  auto [p50, p99] = latencies_.P50P99Ms();
  internal::MutexLock lk(status_mu_);
  status_.events_shipped = events_shipped_;
  status_.bytes_shipped = bytes_shipped_;
  status_.produce_latency_p50_ms = p50;
  status_.produce_latency_p99_ms = p99;
  status_.broker_reachable = broker_reachable_;
  status_.lag_bytes =
      session_ ? session_->in_flight_bytes : 0;  // the rest is estimated in GetStatus
  if (status_.state == ShipperState::kRecovering) status_.state = ShipperState::kShipping;
  const double window = std::chrono::duration<double>(now - rate_window_start_).count();
  if (window >= 1.0) {
    status_.events_per_second = (events_shipped_ - rate_window_events_) / window;
    rate_window_events_ = events_shipped_;
    rate_window_start_ = now;
  }
  published_mean_bytes_ = mean_event_bytes_;
}

ShipperStatus Shipper::Impl::GetStatus() const {
  ShipperStatus s;
  const BacklogStatus backlog = store_.GetBacklog();
  std::uint64_t mean_bytes;
  {
    internal::MutexLock lk(status_mu_);
    s = status_;
    mean_bytes = published_mean_bytes_;
  }
  const StoreInfo info = store_.GetInfo();
  s.head_position = info.last_position;
  s.lag_events = s.head_position > s.shipped_through ? s.head_position - s.shipped_through : 0;
  if (s.lag_events > 0) {
    auto oldest = store_.ReadEvent(s.shipped_through + 1);
    if (oldest.ok())
      s.lag_seconds =
          std::max<double>(0, (internal::WallClockMicros() - oldest->timestamp_us) / 1e6);
    s.lag_bytes += s.lag_events * mean_bytes;
  } else {
    s.lag_bytes = 0;
  }
  s.backlog = backlog;
  return s;
}

Status Shipper::Impl::WaitUntilShipped(std::uint64_t position, std::chrono::milliseconds timeout) {
  internal::MutexLock lk(status_mu_);
  // Exactly-once, Kafka's checkpoint record decides what is shipped; the store's, shown until
  // the shipper has read Kafka's, may be ahead of it (a store shipped at-least-once before, or
  // to another cluster).
  auto shipped = [&]() CAIRN_REQUIRES(status_mu_) {
    return status_.shipped_through >= position &&
           (opt_.mode != DeliveryMode::kExactlyOnce || status_.state != ShipperState::kStarting);
  };
  const bool done = lk.WaitFor(shipped_cv_, timeout, [&]() CAIRN_REQUIRES(status_mu_) {
    return shipped() || status_.state == ShipperState::kFailed ||
           status_.state == ShipperState::kStopped;
  });
  if (shipped()) return Status::Ok();
  if (status_.state == ShipperState::kFailed) return final_status_;
  if (status_.state == ShipperState::kStopped)
    return Status::Cancelled(
        fmt::format("the shipper stopped at position {}", status_.shipped_through));
  (void)done;
  return Status::TimedOut(fmt::format("position {} not shipped within {} ms (shipped through {})",
                                      position, timeout.count(), status_.shipped_through));
}

Status Shipper::Impl::Stop() {
  internal::MutexLock lk(stop_mu_);
  if (stopped_) {
    internal::MutexLock slk(status_mu_);
    return final_status_;
  }
  stopped_ = true;
  stop_requested_ = true;
  if (thread_.joinable()) thread_.join();
  if (claimed_checkpoint_) store_.ReleaseCheckpoint(opt_.checkpoint_name);
  claimed_checkpoint_ = false;
  internal::MutexLock slk(status_mu_);
  if (status_.state == ShipperState::kFailed) return final_status_;
  return Status::Ok();
}

std::string Shipper::PrometheusMetrics() const {
  const ShipperStatus s = GetStatus();
  metrics::Exposition x("cairn_shipper_");
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                    double value) { x.Value(name, type, help, value); };
  x.Family("state", "gauge", "Current state (1 for the state named by the label).");
  for (ShipperState st : {ShipperState::kStarting, ShipperState::kShipping,
                          ShipperState::kRecovering, ShipperState::kStopped, ShipperState::kFailed})
    x.Sample("state", fmt::format("state=\"{}\"", ToString(st)), st == s.state ? 1 : 0);
  metric("broker_reachable", "gauge", "1 when a broker connection is up.", s.broker_reachable);
  metric("head_position", "gauge", "The store's committed head position.",
         static_cast<double>(s.head_position));
  metric("shipped_through_position", "gauge",
         "Every event at or below this position is in Kafka or dead-lettered.",
         static_cast<double>(s.shipped_through));
  metric("lag_events", "gauge", "Committed events not yet in Kafka.",
         static_cast<double>(s.lag_events));
  metric("lag_bytes", "gauge", "Estimated bytes of the events not yet in Kafka.",
         static_cast<double>(s.lag_bytes));
  metric("lag_seconds", "gauge", "Age of the oldest event not yet in Kafka.", s.lag_seconds);
  metric("events_shipped_total", "counter", "Events acknowledged by Kafka since start.",
         static_cast<double>(s.events_shipped));
  metric("bytes_shipped_total", "counter", "Value and key bytes acknowledged since start.",
         static_cast<double>(s.bytes_shipped));
  metric("events_per_second", "gauge", "Acknowledged events per second, recent.",
         s.events_per_second);
  metric("produce_latency_p50_seconds", "gauge", "Produce to acknowledgement, median, recent.",
         s.produce_latency_p50_ms / 1000);
  metric("produce_latency_p99_seconds", "gauge", "Produce to acknowledgement, p99, recent.",
         s.produce_latency_p99_ms / 1000);
  metric("delivery_errors_total", "counter", "Failed deliveries (retried or dead-lettered).",
         static_cast<double>(s.delivery_errors));
  metric("rewinds_total", "counter", "Restarts from the checkpoint after a failure.",
         static_cast<double>(s.rewinds));
  metric("dead_letters_total", "counter", "Events recorded as dead letters since start.",
         static_cast<double>(s.dead_letters));
  metric("transactions_committed_total", "counter", "Kafka transactions committed (exactly-once).",
         static_cast<double>(s.transactions_committed));
  if (s.backlog.max_events > 0 || s.backlog.max_bytes > 0) {
    // The quota counts from the checkpoint, which trails shipped_through by up to 200 ms.
    metric("backlog_quota_events", "gauge", "Backlog quota: most unshipped events (0: none).",
           static_cast<double>(s.backlog.max_events));
    metric("backlog_quota_bytes", "gauge", "Backlog quota: most unshipped bytes (0: none).",
           static_cast<double>(s.backlog.max_bytes));
    double used = 0;
    if (s.backlog.max_events > 0)
      used = std::max(used, static_cast<double>(s.backlog.events) / s.backlog.max_events);
    if (s.backlog.max_bytes > 0)
      used = std::max(used, static_cast<double>(s.backlog.bytes) / s.backlog.max_bytes);
    metric("backlog_quota_used_ratio", "gauge",
           "Backlog over quota, the fuller of events and bytes (1 = appends wait or fail).", used);
    metric("appends_blocked_total", "counter", "Appends that waited for backlog room.",
           static_cast<double>(s.backlog.blocked_appends));
    metric("appends_rejected_total", "counter", "Appends refused: backlog quota exceeded.",
           static_cast<double>(s.backlog.rejected_appends));
  }
  return x.Take();
}

}  // namespace cairn
