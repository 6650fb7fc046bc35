// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The backlog quota's admission and counters, and the estimate of an event's stored bytes
// (backlog.h).
#include "store/backlog.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/saturating.h"

namespace cairn::store {

std::uint64_t EstimatedLogRecordBytes(std::string_view stream, const EventData& event) {
  // The envelope's fixed part: the value header, FlatBuffers' root offset, identifier and
  // vtable, the scalars, the id, the 32-byte chain hash and a length prefix per field.
  constexpr std::uint64_t kEnvelopeFixedBytes = 174;
  constexpr std::size_t kPositionKeyBytes = 8;
  return LogRecordBytes(kPositionKeyBytes, kEnvelopeFixedBytes + stream.size() + event.type.size() +
                                               event.content_type.size() + event.metadata.size() +
                                               event.payload.size() + event.traceparent.size() +
                                               event.tracestate.size());
}

Backlog::Backlog(const BacklogQuota& quota, bool read_only)
    : quota_(quota), enabled_(!read_only && (quota.max_events > 0 || quota.max_bytes > 0)) {}

void Backlog::Start(std::uint64_t shipped, std::uint64_t head, std::uint64_t bytes) {
  internal::MutexLock lk(mu_);
  shipped_position_ = std::min(shipped, head);
  head_ = head;
  bytes_ = bytes;
  commits_.clear();
  if (bytes > 0) commits_.emplace_back(head, bytes);
}

void Backlog::NoteCommitted(std::uint64_t last_position, std::uint64_t bytes) {
  if (!enabled_) return;
  internal::MutexLock lk(mu_);
  head_ = last_position;
  if (quota_.max_bytes == 0) return;
  bytes_ = internal::SaturatingAdd(bytes_, bytes);
  commits_.emplace_back(last_position, bytes);
}

void Backlog::NoteShipped(std::string_view checkpoint, std::uint64_t position) {
  if (!enabled_ || checkpoint != quota_.checkpoint) return;
  {
    internal::MutexLock lk(mu_);
    shipped_position_ = std::max(shipped_position_, position);
    // A commit's bytes leave the backlog once all of it shipped.
    while (!commits_.empty() && commits_.front().first <= shipped_position_) {
      bytes_ -= std::min(bytes_, commits_.front().second);
      commits_.pop_front();
    }
  }
  cv_.notify_all();
}

Status Backlog::AwaitRoom(std::uint64_t events, std::uint64_t bytes) {
  if (!enabled_) return Status::Ok();
  internal::MutexLock lk(mu_);
  auto room = [&]() CAIRN_REQUIRES(mu_) {
    const std::uint64_t e = Events();
    if (e == 0) return true;
    // Saturating: a sum past 2^64 must read as "over", not wrap into room.
    if (quota_.max_events > 0 && internal::SaturatingAdd(e, events) > quota_.max_events)
      return false;
    if (quota_.max_bytes > 0 && internal::SaturatingAdd(bytes_, bytes) > quota_.max_bytes)
      return false;
    return true;
  };
  if (room()) return Status::Ok();
  if (quota_.policy == BacklogQuota::Policy::kBlock) {
    ++blocked_appends_;
    const bool woke = lk.WaitFor(cv_, quota_.block_timeout,
                                 [&]() CAIRN_REQUIRES(mu_) { return room() || closed_; });
    if (woke && !closed_) return Status::Ok();
  }
  ++rejected_appends_;
  return Status::ResourceExhausted(fmt::format(
      "backlog quota exceeded: {} events / {} bytes not yet past checkpoint '{}' (limits {} "
      "events, {} bytes){}; nothing was stored",
      Events(), bytes_, quota_.checkpoint, quota_.max_events, quota_.max_bytes,
      quota_.policy == BacklogQuota::Policy::kBlock
          ? fmt::format(" after waiting {} ms for the shipper", quota_.block_timeout.count())
          : std::string()));
}

BacklogStatus Backlog::Get() const {
  BacklogStatus b;
  b.max_events = quota_.max_events;
  b.max_bytes = quota_.max_bytes;
  if (!enabled_) return b;
  internal::MutexLock lk(mu_);
  b.events = Events();
  b.bytes = bytes_;
  b.blocked_appends = blocked_appends_;
  b.rejected_appends = rejected_appends_;
  return b;
}

void Backlog::Close() {
  {
    internal::MutexLock lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace cairn::store
