// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store, the public face: every method enters through a CallGuard and forwards to
// Store::Impl, whose work lives in rooms of its own — store_impl_open.cc (opening),
// store_impl_append.cc and the store::Sequencer (sequencer.h: the write path), store_impl_read.cc
// (reads), store::SideRecords (side_records.h: checkpoints, dead letters), store_impl_lifecycle.cc
// (metadata, snapshots, the backlog quota's start), store_impl_retention.cc, store_impl_close.cc,
// audit/verify.cc. Also here: the head as the sequencer publishes it (Info, WaitForPosition,
// Refresh) and the shared names and status rules of the store.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "codec/envelope.h"
#include "store/keys.h"
#include "store/storage_env.h"
#include "store/store_impl.h"
#include "store/wal_scan.h"
#include "util/clock.h"
#include "util/logging.h"

namespace cairn {

StoreInfo Store::Impl::GetInfo() const {
  StoreInfo info;
  info.path = path_;
  info.store_id = store_id_.ToString();
  info.format_version = format_version_;
  info.read_only = options_.read_only && !owner_client_;
  info.through_owner = owner_client_ != nullptr;
  info.owner_pid = owner_client_ ? owner_client_->owner().pid : 0;
  info.durability = options_.durability;
  store::PublishedHead::Snapshot head = head_.Get();
  info.last_position = head.position;
  info.first_position = head_.log_start();
  info.write_error = std::move(head.write_error);
  info.last_timestamp_us = head.timestamp_us;
  info.last_chain_hash = head.chain_hash;
  info.repairs = repairs_;
  info.last_repair = last_repair_;
  return info;
}

std::uint64_t Store::Impl::WaitForPosition(std::uint64_t after, std::chrono::milliseconds timeout) {
  if (!owner_client_) return head_.WaitPast(after, timeout);
  // Through an owner the head moves only when this follower catches up: look every 10 ms.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto head = Refresh();
    if (!head.ok() || *head > after) return head_.position();
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return head_.position();
    head_.WaitPast(after,
                   std::min<std::chrono::milliseconds>(
                       std::chrono::milliseconds(10),
                       std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                           std::chrono::milliseconds(1)));
  }
}

Result<std::uint64_t> Store::Impl::Refresh() {
  if (database_ && database_->following()) {
    internal::MutexLock lk(refresh_mu_);  // one catch-up at a time
    if (Status s =
            FromRocks(database_->db()->TryCatchUpWithPrimary(), "catching up with the writer");
        !s.ok())
      return s;
    if (Status s = LoadTail(); !s.ok()) return s;  // publishes the new head, waking waiters
  }
  return head_.position();
}

// --- Store: the public face ------------------------------------------------------------------

// A refused call is never counted: Close() waits for the calls in progress to reach zero,
// and threads that keep calling a closing store would otherwise keep the count above zero
// for ever (16 threads in a loop did). Only a call that was already past the first check
// when closing began is counted, briefly, then refused; its next call is not counted at all.
Store::Impl::CallGuard::CallGuard(Impl* impl) : impl_(impl) {
  if (!impl_->closing_.load()) {
    impl_->calls_in_progress_.fetch_add(1);
    if (!impl_->closing_.load()) return;
    impl_->calls_in_progress_.fetch_sub(1);
  }
  impl_ = nullptr;
  status_ = Status::FailedPrecondition(fmt::format("store {} is closed", impl->path_));
}

Store::Impl::CallGuard::~CallGuard() {
  if (impl_ != nullptr) impl_->calls_in_progress_.fetch_sub(1);
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Impl::OpenStore(const std::string& path,
                                                      const StoreOptions& options,
                                                      const std::shared_ptr<StorageEnv>& storage) {
  auto impl = Open(path, options, /*repairing=*/false, storage);
  if (!impl.ok()) {
    if (impl.status().code() == StatusCode::kBusy && options.through_owner && !options.read_only)
      return OpenThroughOwner(path, options, impl.status());
    return impl.status();
  }
  auto store = std::unique_ptr<Store>(new Store(std::move(impl).value()));
  if (options.owner_socket && !options.read_only) {
    Impl& i = *store->impl_;
    auto listener = owner::Listener::Start(*store, i.path_, i.logger_);
    if (!listener.ok()) {
      (void)store->Close();
      return listener.status();
    }
    i.owner_listener_ = std::move(listener).value();
  }
  return store;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const StoreOptions& options) {
  return Impl::OpenStore(path, options, nullptr);
}

Result<std::unique_ptr<Store>> OpenStoreOnStorage(const std::string& path,
                                                  const StoreOptions& options,
                                                  const std::shared_ptr<StorageEnv>& env) {
  return Store::Impl::OpenStore(path, options, env);
}

Result<AppendResult> Store::Append(std::string_view stream, ExpectedVersion expected,
                                   std::span<const EventData> events) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) {
    const StreamAppend one{std::string(stream), expected, {events.begin(), events.end()}};
    auto r = owner->Append(std::span<const StreamAppend>(&one, 1));
    if (!r.ok()) return r.status();
    return r->front();
  }
  return impl_->AppendOne(stream, expected, events);
}

Result<AppendResult> Store::Append(std::string_view stream, ExpectedVersion expected,
                                   const EventData& event) {
  return Append(stream, expected, std::span<const EventData>(&event, 1));
}

Status Store::AppendAsync(std::string stream, ExpectedVersion expected,
                          std::vector<EventData> events, AppendCallback done) {
  if (!done) return Status::InvalidArgument("an asynchronous append needs a completion callback");
  std::vector<StreamAppend> one;
  one.push_back(StreamAppend{std::move(stream), expected, std::move(events)});
  return AppendMultiAsync(std::move(one),
                          [done = std::move(done)](Result<std::vector<AppendResult>> r) {
                            if (!r.ok())
                              done(r.status());
                            else
                              done(std::move(r).value().front());
                          });
}

Status Store::AppendMultiAsync(std::vector<StreamAppend> appends, AppendMultiCallback done) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client())
    return owner->AppendAsync(std::move(appends), std::move(done));
  return impl_->AppendAsync(std::move(appends), std::move(done));
}

Result<std::vector<AppendResult>> Store::AppendMulti(std::span<const StreamAppend> appends) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->Append(appends);
  return impl_->Append(appends);
}

Status Store::CheckAppend(std::span<const StreamAppend> appends) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->CheckAppend(appends);
}

Result<EventReader> Store::ReadStream(std::string_view stream, const StreamReadOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadStream(stream, options);
}

Result<EventReader> Store::ReadLog(const LogReadOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadLog(options);
}

Result<EventReader> Store::ReadByTypes(std::span<const std::string> types,
                                       const LogReadOptions& options) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ReadByTypes(types, options);
}

Status Store::SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client())
    return owner->SetStreamMetadata(stream, metadata);
  return impl_->SetStreamMetadata(stream, metadata);
}
Result<StreamMetadata> Store::GetStreamMetadata(std::string_view stream) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->GetStreamMetadata(stream);
}
Result<std::uint64_t> Store::DeleteStream(std::string_view stream, ExpectedVersion expected) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->DeleteStream(stream, expected);
  return impl_->DeleteStream(stream, expected);
}
Result<RetentionReport> Store::ApplyRetention(const RetentionPolicy& policy) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  // A dry run only reads: the follower answers it.
  if (owner::Client* owner = impl_->owner_client(); owner && !policy.dry_run)
    return owner->ApplyRetention(policy);
  return impl_->ApplyRetention(policy);
}
Status Store::SaveSnapshot(const Snapshot& snapshot) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->SaveSnapshot(snapshot);
  return impl_->SaveSnapshot(snapshot);
}
Result<Snapshot> Store::LoadSnapshot(std::string_view stream, std::uint64_t at_most_version) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->LoadSnapshot(stream, at_most_version);
}
Status Store::DeleteSnapshots(std::string_view stream) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->DeleteSnapshots(stream);
  return impl_->DeleteSnapshots(stream);
}
Result<AggregateLoad> Store::LoadAggregate(std::string_view stream,
                                           const std::function<Status(const Snapshot&)>& restore,
                                           const std::function<Status(const RecordedEvent&)>& apply,
                                           std::uint64_t up_to_version) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->LoadAggregate(stream, restore, apply, up_to_version);
}
BacklogStatus Store::GetBacklog() const { return impl_->GetBacklog(); }

std::string Store::PrometheusMetrics() const { return impl_->PrometheusMetrics(); }

Result<OwnedEvent> Store::ReadEvent(std::uint64_t position, bool upcast) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  // Past the published head: a group still syncing (kSync), not visible yet.
  if (position > impl_->last_position())
    return Status::NotFound(fmt::format("no event at position {}", position));
  return impl_->ReadEvent(position, upcast);
}

Result<StreamInfo> Store::GetStreamInfo(std::string_view stream) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->GetStreamInfo(stream);
}

Result<std::vector<StreamInfo>> Store::ListStreams(std::string_view prefix, std::size_t limit,
                                                   std::string_view start_after) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->ListStreams(prefix, limit, start_after);
}

StoreInfo Store::GetInfo() const { return impl_->GetInfo(); }

std::uint64_t Store::last_position() const { return impl_->last_position(); }

// Store::Verify is defined in src/audit/verify.cc, beside the audit it runs.

store::StoreView Store::Impl::View() {
  store::StoreView v;
  v.db = database_->db();
  v.log = database_->log();
  v.streams = database_->streams();
  v.ids = database_->ids();
  v.types = database_->types();
  v.side_records = side_records_.get();
  v.store_id = store_id_;
  v.type_index_from = type_index_from_;
  v.log_start = head_.log_start();
  v.writer = !options_.read_only;
  v.committed_position = [this] { return CommittedPosition(); };
  v.chain_hash_at = [this](std::uint64_t position) { return ChainHashAt(position); };
  v.read_stored_event = [this](std::uint64_t position) { return ReadEvent(position, false); };
  return v;
}

Result<std::uint64_t> Store::Refresh() {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->Refresh();
}

std::uint64_t Store::WaitForPosition(std::uint64_t after_position,
                                     std::chrono::milliseconds timeout) const {
  return impl_->WaitForPosition(after_position, timeout);
}

Status Store::SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  // The owner checks the position against its own head, which this follower may trail.
  if (owner::Client* owner = impl_->owner_client())
    return owner->SaveCheckpoint(name, position, sync);
  if (const std::uint64_t head = impl_->last_position(); position > head)
    return Status::InvalidArgument(fmt::format(
        "checkpoint '{}': position {} is past the store's last position {}", name, position, head));
  return impl_->side_records().SaveCheckpoint(name, position, sync);
}

Status Store::DeleteCheckpoint(std::string_view name) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->DeleteCheckpoint(name);
  return impl_->side_records().DeleteCheckpoint(name);
}

Status Store::ClaimCheckpoint(std::string_view name) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  // Through an owner the claim is the owner's, held while this handle's connection lives.
  if (owner::Client* owner = impl_->owner_client()) return owner->ClaimCheckpoint(name);
  return impl_->side_records().ClaimCheckpoint(name);
}

void Store::ReleaseCheckpoint(std::string_view name) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return;
  if (owner::Client* owner = impl_->owner_client())
    owner->ReleaseCheckpoint(name);
  else
    impl_->side_records().ReleaseCheckpoint(name);
}

Result<std::uint64_t> Store::LoadCheckpoint(std::string_view name) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->side_records().LoadCheckpoint(name);
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> Store::ListCheckpoints() {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->side_records().ListCheckpoints();
}

Status Store::PutDeadLetters(std::span<const DeadLetter> records) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->PutDeadLetters(records);
  return impl_->side_records().PutDeadLetters(records);
}

Result<std::vector<DeadLetter>> Store::ListDeadLetters(std::uint64_t after_position,
                                                       std::size_t limit) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  return impl_->side_records().ListDeadLetters(after_position, limit);
}

Status Store::RemoveDeadLetters(std::span<const std::uint64_t> positions) {
  Impl::CallGuard guard(impl_.get());
  if (!guard.status().ok()) return guard.status();
  if (owner::Client* owner = impl_->owner_client()) return owner->RemoveDeadLetters(positions);
  return impl_->side_records().RemoveDeadLetters(positions);
}

Status Store::Close() { return impl_->Close(); }

}  // namespace cairn
