// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The other side of the owner socket (StoreOptions::through_owner): a connection to the
// process that owns a store, checked to be that owner, that sends it writes and waits for
// their answers. Thread-safe: calls from several threads take turns on the one connection.
// Asynchronous appends are sent by a thread of the client's own, in submission order, and
// complete on it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cairn/status.h"
#include "cairn/store.h"
#include "owner/protocol.h"
#include "util/mutex.h"

namespace cairn::owner {

class Client {
 public:
  struct Options {
    std::size_t max_async_appends = 65536;  // StoreOptions::max_async_appends
    bool async_appends_block = true;        // StoreOptions::async_appends_block
    // Run after every write the owner carried out, before the caller hears of it (the
    // follower catches up to it so the caller reads what it wrote); given the last position
    // the write reached (0: not an append).
    std::function<void(std::uint64_t last_position)> after_write;
  };

  // Connects to the owner of store `dir`. kUnavailable when no owner listens there (no socket,
  // or a dead owner's); kFailedPrecondition when the listener is not the process holding the
  // store's lock (a foreign listener: nothing is sent to it) or speaks another protocol.
  static Result<std::unique_ptr<Client>> Connect(const std::string& dir, Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const HelloInfo& owner() const { return owner_; }

  Result<std::vector<AppendResult>> Append(std::span<const StreamAppend> appends);
  // Queued and sent in order by the client's thread; `done` runs there.
  Status AppendAsync(std::vector<StreamAppend> appends,
                     std::function<void(Result<std::vector<AppendResult>>)> done);
  bool OnAsyncThread() const;

  Status SetStreamMetadata(std::string_view stream, const StreamMetadata& metadata);
  Result<std::uint64_t> DeleteStream(std::string_view stream, ExpectedVersion expected);
  Result<RetentionReport> ApplyRetention(const RetentionPolicy& policy);
  Status SaveSnapshot(const Snapshot& snapshot);
  Status DeleteSnapshots(std::string_view stream);
  Status SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync);
  Status DeleteCheckpoint(std::string_view name);
  Status ClaimCheckpoint(std::string_view name);
  void ReleaseCheckpoint(std::string_view name);
  Status PutDeadLetters(std::span<const DeadLetter> records);
  Status RemoveDeadLetters(std::span<const std::uint64_t> positions);
  Result<BackupReport> Backup(const std::string& dir, bool verify);

  // Completes every queued asynchronous append (sent, or failed when the connection is
  // gone), then closes the connection. Later calls fail with kFailedPrecondition.
  void Close();

 private:
  struct Queued {
    std::vector<StreamAppend> appends;
    std::function<void(Result<std::vector<AppendResult>>)> done;
  };

  Client(int fd, std::string dir, HelloInfo owner, Options options);
  // Sends `request` and reads its answer; the status it carries when not OK.
  Result<Message> Call(const Message& request);
  // The batch's appends written back to back, then their answers read, in order.
  std::vector<Result<std::vector<AppendResult>>> AppendPipelined(const std::vector<Queued>& batch);
  // Marks the connection unusable because of `why`; the status later calls fail with.
  Status Broke(const Status& why) CAIRN_REQUIRES(call_mu_);
  Status Plain(const Message& request);
  void SendQueued();

  const std::string dir_;
  const HelloInfo owner_;
  const Options options_;
  internal::Mutex call_mu_;  // one request on the wire at a time
  int fd_ CAIRN_GUARDED_BY(call_mu_);
  Status broken_ CAIRN_GUARDED_BY(call_mu_);  // why the connection can no longer be used

  internal::Mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Queued> queue_ CAIRN_GUARDED_BY(queue_mu_);
  std::size_t in_flight_ CAIRN_GUARDED_BY(queue_mu_) = 0;
  bool closing_ CAIRN_GUARDED_BY(queue_mu_) = false;
  std::thread async_thread_;  // started by the first AppendAsync
};

}  // namespace cairn::owner
