// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The owner protocol (docs/format.md, "The owner socket"): how a process that owns a store
// (StoreOptions::owner_socket) and a process that writes through it
// (StoreOptions::through_owner) talk over the Unix socket in the store directory. Owns the
// framing (a 4-byte big-endian length, then one CBOR map) and the conversion of the public
// types to and from those maps; bytes from the socket are never trusted: every decode checks
// types and bounds and answers kInvalidArgument naming what was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/event.h"
#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn::owner {

// Bumped when a message changes shape; the hello carries it and both sides refuse another.
// Version 2: events may carry traceparent and tracestate (an owner of version 1 would drop
// them, so it is refused rather than trusted).
inline constexpr std::uint32_t kProtocolVersion = 2;
// The socket's name inside the store directory.
inline constexpr std::string_view kSocketName = "owner.sock";
// No frame is larger: a bigger request is refused before it is sent (split the append).
inline constexpr std::size_t kMaxFrameBytes = std::size_t{256} << 20;

// One message: a CBOR map with an "op" (requests) or an "ok"/"status" (answers). The
// encoders and decoders below build and read them; Message hides the JSON library from the
// rest of the code.
class Message {
 public:
  Message();
  ~Message();
  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  std::string op() const;  // empty when the message has none

  // The frame body (CBOR) and back. Parse refuses anything that is not a CBOR map.
  std::vector<std::uint8_t> Serialize() const;
  static Result<Message> Parse(const std::uint8_t* data, std::size_t size);

  struct Body;
  Body& body() { return *body_; }
  const Body& body() const { return *body_; }

 private:
  std::unique_ptr<Body> body_;
};

// --- Requests (client side builds, owner side reads) -----------------------------------------
Message HelloRequest();
Message AppendRequest(std::span<const StreamAppend> appends);
Message SetStreamMetadataRequest(std::string_view stream, const StreamMetadata& metadata);
Message DeleteStreamRequest(std::string_view stream, ExpectedVersion expected);
Message RetentionRequest(const RetentionPolicy& policy);
Message SaveSnapshotRequest(const Snapshot& snapshot);
Message DeleteSnapshotsRequest(std::string_view stream);
Message CheckpointRequest(std::string_view op, std::string_view name, std::uint64_t position = 0,
                          bool sync = true);
Message PutDeadLettersRequest(std::span<const DeadLetter> records);
Message RemoveDeadLettersRequest(std::span<const std::uint64_t> positions);
Message BackupRequest(const std::string& dir, bool verify);

// What a request carries, read back (owner side). Each fails with kInvalidArgument naming the
// field that is missing or of the wrong type.
struct Hello {
  std::uint32_t version = 0;
};
Result<Hello> ReadHello(const Message& m);
Result<std::vector<StreamAppend>> ReadAppend(const Message& m);
struct StreamMetadataArgs {
  std::string stream;
  StreamMetadata metadata;
};
Result<StreamMetadataArgs> ReadSetStreamMetadata(const Message& m);
struct DeleteStreamArgs {
  std::string stream;
  ExpectedVersion expected;
};
Result<DeleteStreamArgs> ReadDeleteStream(const Message& m);
Result<RetentionPolicy> ReadRetention(const Message& m);
Result<Snapshot> ReadSaveSnapshot(const Message& m);
Result<std::string> ReadStreamName(const Message& m);
struct CheckpointArgs {
  std::string name;
  std::uint64_t position = 0;
  bool sync = true;
};
Result<CheckpointArgs> ReadCheckpoint(const Message& m);
Result<std::vector<DeadLetter>> ReadPutDeadLetters(const Message& m);
Result<std::vector<std::uint64_t>> ReadPositions(const Message& m);
struct BackupArgs {
  std::string dir;
  bool verify = true;
};
Result<BackupArgs> ReadBackup(const Message& m);

// --- Answers (owner side builds, client side reads) ------------------------------------------
Message ErrorAnswer(const Status& status);
Message OkAnswer();
Message HelloAnswer(std::string_view store_id, std::int64_t pid);
Message AppendAnswer(const std::vector<AppendResult>& results);
Message NumberAnswer(std::uint64_t value);
Message RetentionAnswer(const RetentionReport& report);
Message BackupAnswer(const BackupReport& report);

// The Status an answer carries (OK for "ok": true); kInvalidArgument for a malformed answer.
Status AnswerStatus(const Message& m);
struct HelloInfo {
  std::string store_id;
  std::int64_t pid = 0;
  std::uint32_t version = 0;
};
Result<HelloInfo> ReadHelloAnswer(const Message& m);
Result<std::vector<AppendResult>> ReadAppendAnswer(const Message& m);
Result<std::uint64_t> ReadNumberAnswer(const Message& m);
Result<RetentionReport> ReadRetentionAnswer(const Message& m);
Result<BackupReport> ReadBackupAnswer(const Message& m);

// --- Framing over a connected socket -----------------------------------------------------------
// Writes one frame, whole (EINTR and short writes handled; SIGPIPE never raised).
Status WriteFrame(int fd, const Message& m);
// Reads one frame. kNotFound at a clean end of the stream before a frame began (the peer
// closed); kIOError for a read error or a stream that ends inside a frame; kInvalidArgument
// for a length over kMaxFrameBytes or a body that does not parse. `timeout_ms` < 0 waits for
// ever for the frame to begin; once it began, the rest must arrive within `body_timeout_ms`.
Result<Message> ReadFrame(int fd, int timeout_ms, int body_timeout_ms);

}  // namespace cairn::owner
