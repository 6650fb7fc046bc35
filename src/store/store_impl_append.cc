// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The front of the append path: refuses appends to a read-only store, validates them against
// the store's limits (ids, types, sizes, duplicate streams and ids within one append), waits
// for room under the backlog quota, then hands them to the sequencer (sequencer.h), which
// alone decides and writes. CheckAppend is the same validation as a dry run, with no queue.
// Touches no database state of its own.
#include <chrono>
#include <functional>
#include <unordered_set>

#include <fmt/format.h>

#include "store/sequencer.h"
#include "store/store_impl.h"

namespace cairn {

Status Store::Impl::Validate(const std::vector<store::AppendView>& views) const {
  if (views.empty()) return Status::InvalidArgument("append has no streams");
  std::size_t total = 0;
  std::unordered_set<std::string_view> streams;
  std::unordered_set<EventId, store::EventIdHash> ids;
  for (const auto& v : views) {
    if (Status s = store::CheckName("stream id", v.stream, options_.max_stream_id_bytes); !s.ok())
      return s;
    if (!streams.insert(v.stream).second)
      return Status::InvalidArgument(
          fmt::format("stream '{}' appears more than once in one append", v.stream));
    if (v.events.empty())
      return Status::InvalidArgument(fmt::format("append to stream '{}' has no events", v.stream));
    total += v.events.size();
    if (total > options_.max_events_per_append)
      return Status::InvalidArgument(
          fmt::format("append has more than {} events (StoreOptions::max_events_per_append)",
                      options_.max_events_per_append));
    for (std::size_t i = 0; i < v.events.size(); ++i) {
      const EventData& e = v.events[i];
      auto where = [&] { return fmt::format("event {} for stream '{}'", i, v.stream); };
      if (Status s = store::CheckName("event type", e.type, options_.max_type_bytes); !s.ok())
        return Status::InvalidArgument(fmt::format("{}: {}", where(), s.message()));
      if (e.content_type.size() > options_.max_content_type_bytes)
        return Status::InvalidArgument(
            fmt::format("{}: content type is {} bytes, over the limit of {}", where(),
                        e.content_type.size(), options_.max_content_type_bytes));
      if (store::FindControlByte(e.content_type) != std::string_view::npos)
        return Status::InvalidArgument(
            fmt::format("{}: content type has a control character", where()));
      if (e.payload.size() > options_.max_payload_bytes)
        return Status::InvalidArgument(fmt::format(
            "{}: payload is {} bytes, over the limit of {} (StoreOptions::max_payload_bytes)",
            where(), e.payload.size(), options_.max_payload_bytes));
      if (e.metadata.size() > options_.max_metadata_bytes)
        return Status::InvalidArgument(fmt::format(
            "{}: metadata is {} bytes, over the limit of {} (StoreOptions::max_metadata_bytes)",
            where(), e.metadata.size(), options_.max_metadata_bytes));
      if (e.schema_version == 0)
        return Status::InvalidArgument(
            fmt::format("{}: schema version 0 (schema versions start at 1)", where()));
      if (!e.traceparent.empty() || !e.tracestate.empty())
        if (Status s = ValidateTraceContext(e.traceparent, e.tracestate); !s.ok())
          return Status::InvalidArgument(fmt::format("{}: {}", where(), s.message()));
      if (e.id) {
        if (e.id->is_nil())
          return Status::InvalidArgument(
              fmt::format("{}: the nil UUID is not an event id", where()));
        if (!ids.insert(*e.id).second)
          return Status::InvalidArgument(fmt::format(
              "{}: event id {} appears more than once in one append", where(), e.id->ToString()));
      }
    }
  }
  return Status::Ok();
}

Result<AppendResult> Store::Impl::AppendOne(std::string_view stream, ExpectedVersion expected,
                                            std::span<const EventData> events) {
  std::vector<store::AppendView> views;
  views.push_back(store::AppendView{stream, expected, events});
  auto r = Submit(std::move(views));
  if (!r.ok()) return r.status();
  return r.value().front();
}

Result<std::vector<AppendResult>> Store::Impl::Append(std::span<const StreamAppend> appends) {
  std::vector<store::AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(store::AppendView{a.stream, a.expected, a.events});
  return Submit(std::move(views));
}

Result<std::vector<AppendResult>> Store::Impl::Submit(std::vector<store::AppendView> views) {
  const auto began = std::chrono::steady_clock::now();
  auto r = SubmitUnmeasured(std::move(views));
  RecordAppend(r, std::chrono::steady_clock::now() - began);
  return r;
}

void Store::Impl::RecordAppend(const Result<std::vector<AppendResult>>& r,
                               std::chrono::duration<double> took) {
  store::WriteMetrics& m = write_metrics_;
  if (!r.ok()) {
    m.append_failures.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  m.appends.fetch_add(1, std::memory_order_relaxed);
  m.append_seconds.Observe(took.count());
  std::uint64_t events = 0;
  bool deduplicated = true;
  for (const AppendResult& a : *r) {
    deduplicated = deduplicated && a.deduplicated;
    if (!a.deduplicated) events += a.last_position - a.first_position + 1;
  }
  m.events.fetch_add(events, std::memory_order_relaxed);
  if (deduplicated) m.deduplicated.fetch_add(1, std::memory_order_relaxed);
}

Status Store::Impl::Admit(const std::vector<store::AppendView>& views) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = Validate(views); !s.ok()) return s;
  if (backlog_.enabled()) {
    std::uint64_t events = 0, bytes = 0;
    for (const store::AppendView& v : views) {
      events += v.events.size();
      for (const EventData& e : v.events) bytes += store::EstimatedLogRecordBytes(v.stream, e);
    }
    if (Status s = backlog_.AwaitRoom(events, bytes); !s.ok()) return s;
  }
  return Status::Ok();
}

Result<std::vector<AppendResult>> Store::Impl::SubmitUnmeasured(
    std::vector<store::AppendView> views) {
  // The thread that writes asynchronous appends cannot also wait behind them.
  if (sequencer_ && sequencer_->OnDriverThread())
    return Status::FailedPrecondition(
        "a synchronous append from an append's completion callback would wait for the thread "
        "running that callback: use AppendAsync there");
  if (Status s = Admit(views); !s.ok()) return s;
  return sequencer_->Submit(std::move(views));
}

Status Store::Impl::AppendAsync(std::vector<StreamAppend> appends,
                                std::function<void(Result<std::vector<AppendResult>>)> done) {
  if (!done) return Status::InvalidArgument("an asynchronous append needs a completion callback");
  std::vector<store::AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(store::AppendView{a.stream, a.expected, a.events});
  if (Status s = Admit(views); !s.ok()) {
    write_metrics_.append_failures.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  const auto began = std::chrono::steady_clock::now();
  return sequencer_->SubmitAsync(
      std::move(appends),
      [this, began, done = std::move(done)](Status status, std::vector<AppendResult> results) {
        Result<std::vector<AppendResult>> r =
            status.ok() ? Result<std::vector<AppendResult>>(std::move(results))
                        : Result<std::vector<AppendResult>>(std::move(status));
        RecordAppend(r, std::chrono::steady_clock::now() - began);
        done(std::move(r));
      },
      options_.async_appends_block);
}

Status Store::Impl::CheckAppend(std::span<const StreamAppend> appends) {
  std::vector<store::AppendView> views;
  views.reserve(appends.size());
  for (const auto& a : appends) views.push_back(store::AppendView{a.stream, a.expected, a.events});
  if (Status s = Validate(views); !s.ok()) return s;
  for (const store::AppendView& v : views) {
    for (const EventData& e : v.events) {
      if (!e.id) continue;
      // The committed id index only: the group being formed belongs to the sequencer's leader.
      auto loc = sequencer_->StoredPositionOf(*e.id);
      if (!loc.ok()) return loc.status();
      if (*loc == 0) continue;
      const std::uint64_t position = *loc;
      auto stored = ReadEvent(position, /*upcast=*/false);
      if (!stored.ok()) return stored.status();
      if (!store::SameEvent(*stored, v.stream, e))
        return Status::AlreadyExists(fmt::format(
            "event id {} is already stored at position {} in stream '{}' with different content",
            e.id->ToString(), position, stored->stream));
    }
  }
  return Status::Ok();
}

}  // namespace cairn
