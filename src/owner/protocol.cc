// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The owner protocol's messages and framing (protocol.h). Every string travels as a CBOR byte
// string, so event bytes that are not UTF-8 pass through unchanged; every number is unsigned
// unless it is a time. nlohmann's exceptions stay inside this file: a malformed message
// becomes a kInvalidArgument naming the field.
#include "owner/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace cairn::owner {

using json = nlohmann::json;

struct Message::Body {
  json j = json::object();
};

Message::Message() : body_(std::make_unique<Body>()) {}
Message::~Message() = default;
Message::Message(Message&&) noexcept = default;
Message& Message::operator=(Message&&) noexcept = default;

namespace {

// A field that is missing or of the wrong type: thrown by the readers below and turned into
// a Status by Decode().
struct Malformed {
  std::string what;
};

json Bytes(std::string_view s) {
  return json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
}

const json& Field(const json& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end()) throw Malformed{fmt::format("field '{}' is missing", key)};
  return *it;
}

std::string Str(const json& m, const char* key) {
  const json& v = Field(m, key);
  if (v.is_binary()) return {v.get_binary().begin(), v.get_binary().end()};
  if (v.is_string()) return v.get<std::string>();
  throw Malformed{fmt::format("field '{}' is not a string", key)};
}

std::uint64_t U64(const json& m, const char* key) {
  const json& v = Field(m, key);
  if (!v.is_number_unsigned())
    throw Malformed{fmt::format("field '{}' is not an unsigned number", key)};
  return v.get<std::uint64_t>();
}

std::int64_t I64(const json& m, const char* key) {
  const json& v = Field(m, key);
  if (!v.is_number_integer()) throw Malformed{fmt::format("field '{}' is not an integer", key)};
  return v.get<std::int64_t>();
}

bool Bool(const json& m, const char* key) {
  const json& v = Field(m, key);
  if (!v.is_boolean()) throw Malformed{fmt::format("field '{}' is not a boolean", key)};
  return v.get<bool>();
}

const json& Array(const json& m, const char* key) {
  const json& v = Field(m, key);
  if (!v.is_array()) throw Malformed{fmt::format("field '{}' is not an array", key)};
  return v;
}

const json& Map(const json& v, const char* what) {
  if (!v.is_object()) throw Malformed{fmt::format("{} is not a map", what)};
  return v;
}

std::optional<std::uint64_t> OptionalU64(const json& m, const char* key) {
  if (!m.contains(key)) return std::nullopt;
  return U64(m, key);
}

template <typename T, typename F>
Result<T> Decode(const Message& m, F read) {
  try {
    return read(m.body().j);
  } catch (const Malformed& e) {
    return Status::InvalidArgument(fmt::format("owner protocol: '{}' message: {}", m.op(), e.what));
  } catch (const json::exception& e) {
    return Status::InvalidArgument(
        fmt::format("owner protocol: '{}' message: {}", m.op(), e.what()));
  }
}

Message Request(std::string_view op) {
  Message m;
  m.body().j["op"] = std::string(op);
  return m;
}

json ExpectedJson(ExpectedVersion e) {
  return json{{"kind", static_cast<std::uint64_t>(e.kind())}, {"version", e.version()}};
}

ExpectedVersion ExpectedFrom(const json& v) {
  Map(v, "'expected'");
  switch (U64(v, "kind")) {
    case static_cast<std::uint64_t>(ExpectedVersion::Kind::kAny):
      return ExpectedVersion::Any();
    case static_cast<std::uint64_t>(ExpectedVersion::Kind::kNoStream):
      return ExpectedVersion::NoStream();
    case static_cast<std::uint64_t>(ExpectedVersion::Kind::kStreamExists):
      return ExpectedVersion::StreamExists();
    case static_cast<std::uint64_t>(ExpectedVersion::Kind::kExact):
      return ExpectedVersion::Exact(U64(v, "version"));
    default:
      throw Malformed{"'expected' has an unknown kind"};
  }
}

json EventJson(const EventData& e) {
  json j{{"type", Bytes(e.type)},
         {"payload", Bytes(e.payload)},
         {"content_type", Bytes(e.content_type)},
         {"metadata", Bytes(e.metadata)},
         {"schema_version", e.schema_version}};
  if (e.id)
    j["id"] = json::binary(std::vector<std::uint8_t>(e.id->bytes().begin(), e.id->bytes().end()));
  if (!e.traceparent.empty()) j["traceparent"] = Bytes(e.traceparent);
  if (!e.tracestate.empty()) j["tracestate"] = Bytes(e.tracestate);
  return j;
}

EventData EventFrom(const json& v) {
  Map(v, "an event");
  EventData e;
  e.type = Str(v, "type");
  e.payload = Str(v, "payload");
  e.content_type = Str(v, "content_type");
  e.metadata = Str(v, "metadata");
  const std::uint64_t schema = U64(v, "schema_version");
  if (schema > UINT32_MAX) throw Malformed{"'schema_version' is out of range"};
  e.schema_version = static_cast<std::uint32_t>(schema);
  if (v.contains("id")) {
    const std::string id = Str(v, "id");
    if (id.size() != 16) throw Malformed{"an event id is not 16 bytes"};
    std::array<std::uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), id.data(), 16);
    e.id = EventId(bytes);
  }
  if (v.contains("traceparent")) e.traceparent = Str(v, "traceparent");
  if (v.contains("tracestate")) e.tracestate = Str(v, "tracestate");
  return e;
}

json DeadLetterJson(const DeadLetter& d) {
  return json{{"position", d.position},      {"stream", Bytes(d.stream)},
              {"version", d.version},        {"destination", Bytes(d.destination)},
              {"error", Bytes(d.error)},     {"time_us", d.time_us},
              {"held_behind", d.held_behind}};
}

DeadLetter DeadLetterFrom(const json& v) {
  Map(v, "a dead letter");
  DeadLetter d;
  d.position = U64(v, "position");
  d.stream = Str(v, "stream");
  d.version = U64(v, "version");
  d.destination = Str(v, "destination");
  d.error = Str(v, "error");
  d.time_us = I64(v, "time_us");
  d.held_behind = U64(v, "held_behind");
  return d;
}

std::chrono::seconds Seconds(std::uint64_t n) {
  if (n > static_cast<std::uint64_t>(INT64_MAX)) throw Malformed{"a duration is out of range"};
  return std::chrono::seconds(static_cast<std::int64_t>(n));
}

Message Answer() {
  Message m;
  m.body().j["ok"] = true;
  return m;
}

}  // namespace

std::string Message::op() const {
  auto it = body_->j.find("op");
  return it != body_->j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::uint8_t> Message::Serialize() const { return json::to_cbor(body_->j); }

Result<Message> Message::Parse(const std::uint8_t* data, std::size_t size) {
  Message m;
  try {
    m.body().j = json::from_cbor(data, data + size);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(
        fmt::format("owner protocol: a frame is not CBOR: {}", e.what()));
  }
  if (!m.body().j.is_object())
    return Status::InvalidArgument("owner protocol: a frame is not a CBOR map");
  return m;
}

// --- Requests -----------------------------------------------------------------------------------

Message HelloRequest() {
  Message m = Request("hello");
  m.body().j["protocol"] = kProtocolVersion;
  m.body().j["magic"] = "cairn-owner";
  return m;
}

Message AppendRequest(std::span<const StreamAppend> appends) {
  Message m = Request("append");
  json list = json::array();
  for (const StreamAppend& a : appends) {
    json events = json::array();
    for (const EventData& e : a.events) events.push_back(EventJson(e));
    list.push_back(json{{"stream", Bytes(a.stream)},
                        {"expected", ExpectedJson(a.expected)},
                        {"events", std::move(events)}});
  }
  m.body().j["appends"] = std::move(list);
  return m;
}

Message SetStreamMetadataRequest(std::string_view stream, const StreamMetadata& metadata) {
  Message m = Request("set_stream_metadata");
  json& j = m.body().j;
  j["stream"] = Bytes(stream);
  if (metadata.max_age) j["max_age_s"] = static_cast<std::uint64_t>(metadata.max_age->count());
  if (metadata.max_count) j["max_count"] = *metadata.max_count;
  j["truncate_before"] = metadata.truncate_before;
  return m;
}

Message DeleteStreamRequest(std::string_view stream, ExpectedVersion expected) {
  Message m = Request("delete_stream");
  m.body().j["stream"] = Bytes(stream);
  m.body().j["expected"] = ExpectedJson(expected);
  return m;
}

Message RetentionRequest(const RetentionPolicy& policy) {
  Message m = Request("apply_retention");
  json& j = m.body().j;
  if (policy.max_age) j["max_age_s"] = static_cast<std::uint64_t>(policy.max_age->count());
  if (policy.max_events) j["max_events"] = *policy.max_events;
  j["min_audit_age_s"] = static_cast<std::uint64_t>(policy.min_audit_age.count());
  json names = json::array();
  for (const std::string& n : policy.shipped_checkpoints) names.push_back(Bytes(n));
  j["checkpoints"] = std::move(names);
  j["dry_run"] = policy.dry_run;
  return m;
}

Message SaveSnapshotRequest(const Snapshot& s) {
  Message m = Request("save_snapshot");
  json& j = m.body().j;
  j["stream"] = Bytes(s.stream);
  j["version"] = s.version;
  j["type"] = Bytes(s.type);
  j["schema_version"] = s.schema_version;
  j["payload"] = Bytes(s.payload);
  return m;
}

Message DeleteSnapshotsRequest(std::string_view stream) {
  Message m = Request("delete_snapshots");
  m.body().j["stream"] = Bytes(stream);
  return m;
}

Message CheckpointRequest(std::string_view op, std::string_view name, std::uint64_t position,
                          bool sync) {
  Message m = Request(op);
  m.body().j["name"] = Bytes(name);
  m.body().j["position"] = position;
  m.body().j["sync"] = sync;
  return m;
}

Message PutDeadLettersRequest(std::span<const DeadLetter> records) {
  Message m = Request("put_dead_letters");
  json list = json::array();
  for (const DeadLetter& d : records) list.push_back(DeadLetterJson(d));
  m.body().j["records"] = std::move(list);
  return m;
}

Message RemoveDeadLettersRequest(std::span<const std::uint64_t> positions) {
  Message m = Request("remove_dead_letters");
  m.body().j["positions"] = json(std::vector<std::uint64_t>(positions.begin(), positions.end()));
  return m;
}

Message BackupRequest(const std::string& dir, bool verify) {
  Message m = Request("backup");
  m.body().j["dir"] = Bytes(dir);
  m.body().j["verify"] = verify;
  return m;
}

Result<Hello> ReadHello(const Message& m) {
  return Decode<Hello>(m, [](const json& j) {
    if (Str(j, "magic") != "cairn-owner") throw Malformed{"not a cairn owner-protocol client"};
    const std::uint64_t v = U64(j, "protocol");
    return Hello{static_cast<std::uint32_t>(std::min<std::uint64_t>(v, UINT32_MAX))};
  });
}

Result<std::vector<StreamAppend>> ReadAppend(const Message& m) {
  return Decode<std::vector<StreamAppend>>(m, [](const json& j) {
    std::vector<StreamAppend> appends;
    for (const json& a : Array(j, "appends")) {
      Map(a, "an append");
      StreamAppend sa;
      sa.stream = Str(a, "stream");
      sa.expected = ExpectedFrom(Field(a, "expected"));
      for (const json& e : Array(a, "events")) sa.events.push_back(EventFrom(e));
      appends.push_back(std::move(sa));
    }
    return appends;
  });
}

Result<StreamMetadataArgs> ReadSetStreamMetadata(const Message& m) {
  return Decode<StreamMetadataArgs>(m, [](const json& j) {
    StreamMetadataArgs a;
    a.stream = Str(j, "stream");
    if (auto age = OptionalU64(j, "max_age_s")) a.metadata.max_age = Seconds(*age);
    a.metadata.max_count = OptionalU64(j, "max_count");
    a.metadata.truncate_before = U64(j, "truncate_before");
    return a;
  });
}

Result<DeleteStreamArgs> ReadDeleteStream(const Message& m) {
  return Decode<DeleteStreamArgs>(m, [](const json& j) {
    return DeleteStreamArgs{Str(j, "stream"), ExpectedFrom(Field(j, "expected"))};
  });
}

Result<RetentionPolicy> ReadRetention(const Message& m) {
  return Decode<RetentionPolicy>(m, [](const json& j) {
    RetentionPolicy p;
    if (auto age = OptionalU64(j, "max_age_s")) p.max_age = Seconds(*age);
    p.max_events = OptionalU64(j, "max_events");
    p.min_audit_age = Seconds(U64(j, "min_audit_age_s"));
    p.shipped_checkpoints.clear();
    for (const json& n : Array(j, "checkpoints")) {
      if (!n.is_binary()) throw Malformed{"a checkpoint name is not a byte string"};
      p.shipped_checkpoints.emplace_back(n.get_binary().begin(), n.get_binary().end());
    }
    p.dry_run = Bool(j, "dry_run");
    return p;
  });
}

Result<Snapshot> ReadSaveSnapshot(const Message& m) {
  return Decode<Snapshot>(m, [](const json& j) {
    Snapshot s;
    s.stream = Str(j, "stream");
    s.version = U64(j, "version");
    s.type = Str(j, "type");
    const std::uint64_t schema = U64(j, "schema_version");
    if (schema > UINT32_MAX) throw Malformed{"'schema_version' is out of range"};
    s.schema_version = static_cast<std::uint32_t>(schema);
    s.payload = Str(j, "payload");
    return s;
  });
}

Result<std::string> ReadStreamName(const Message& m) {
  return Decode<std::string>(m, [](const json& j) { return Str(j, "stream"); });
}

Result<CheckpointArgs> ReadCheckpoint(const Message& m) {
  return Decode<CheckpointArgs>(m, [](const json& j) {
    return CheckpointArgs{Str(j, "name"), U64(j, "position"), Bool(j, "sync")};
  });
}

Result<std::vector<DeadLetter>> ReadPutDeadLetters(const Message& m) {
  return Decode<std::vector<DeadLetter>>(m, [](const json& j) {
    std::vector<DeadLetter> records;
    for (const json& d : Array(j, "records")) records.push_back(DeadLetterFrom(d));
    return records;
  });
}

Result<std::vector<std::uint64_t>> ReadPositions(const Message& m) {
  return Decode<std::vector<std::uint64_t>>(m, [](const json& j) {
    std::vector<std::uint64_t> positions;
    for (const json& p : Array(j, "positions")) {
      if (!p.is_number_unsigned()) throw Malformed{"a position is not an unsigned number"};
      positions.push_back(p.get<std::uint64_t>());
    }
    return positions;
  });
}

Result<BackupArgs> ReadBackup(const Message& m) {
  return Decode<BackupArgs>(m, [](const json& j) {
    return BackupArgs{Str(j, "dir"), Bool(j, "verify")};
  });
}

// --- Answers ------------------------------------------------------------------------------------

Message ErrorAnswer(const Status& status) {
  Message m;
  json s{{"code", static_cast<std::uint64_t>(status.code())},
         {"message", Bytes(status.message())},
         {"retryable", status.IsRetryable()}};
  if (const auto& c = status.version_conflict())
    s["conflict"] =
        json{{"stream", Bytes(c->stream)}, {"expected", Bytes(c->expected)}, {"actual", c->actual}};
  m.body().j["ok"] = false;
  m.body().j["status"] = std::move(s);
  return m;
}

Message OkAnswer() { return Answer(); }

Message HelloAnswer(std::string_view store_id, std::int64_t pid) {
  Message m = Answer();
  m.body().j["store_id"] = Bytes(store_id);
  m.body().j["pid"] = pid;
  m.body().j["protocol"] = kProtocolVersion;
  return m;
}

Message AppendAnswer(const std::vector<AppendResult>& results) {
  Message m = Answer();
  json list = json::array();
  for (const AppendResult& r : results)
    list.push_back(json{{"first_position", r.first_position},
                        {"last_position", r.last_position},
                        {"first_version", r.first_version},
                        {"last_version", r.last_version},
                        {"deduplicated", r.deduplicated}});
  m.body().j["results"] = std::move(list);
  return m;
}

Message NumberAnswer(std::uint64_t value) {
  Message m = Answer();
  m.body().j["value"] = value;
  return m;
}

Message RetentionAnswer(const RetentionReport& r) {
  Message m = Answer();
  json& j = m.body().j;
  j["examined"] = r.examined;
  j["removed_events"] = r.removed_events;
  j["removed_bytes"] = r.removed_bytes;
  j["log_start_before"] = r.log_start_before;
  j["log_start_after"] = r.log_start_after;
  j["kept_unshipped"] = r.kept_unshipped;
  j["kept_too_young"] = r.kept_too_young;
  j["kept_dead_letter"] = r.kept_dead_letter;
  j["kept_stream_order"] = r.kept_stream_order;
  json streams = json::array();
  for (const auto& s : r.streams)
    streams.push_back(json{{"stream", Bytes(s.stream)},
                           {"events", s.events},
                           {"first_kept_version", s.first_kept_version}});
  j["streams"] = std::move(streams);
  j["dry_run"] = r.dry_run;
  return m;
}

Message BackupAnswer(const BackupReport& r) {
  Message m = Answer();
  json& j = m.body().j;
  j["dir"] = Bytes(r.dir);
  j["acknowledged_position"] = r.acknowledged_position;
  j["last_position"] = r.last_position;
  j["chain_head"] = Bytes(r.chain_head);
  j["store_id"] = Bytes(r.store_id);
  j["files"] = r.files;
  j["bytes"] = r.bytes;
  j["linked_files"] = r.linked_files;
  j["verified"] = r.verified;
  return m;
}

Status AnswerStatus(const Message& m) {
  try {
    const json& j = m.body().j;
    if (Bool(j, "ok")) return Status::Ok();
    const json& st = Map(Field(j, "status"), "'status'");
    const std::uint64_t code = U64(st, "code");
    std::string message = Str(st, "message");
    if (code == 0 || code > static_cast<std::uint64_t>(StatusCode::kTimedOut))
      throw Malformed{"'status' has an unknown code"};
    if (st.contains("conflict")) {
      const json& c = Map(Field(st, "conflict"), "'conflict'");
      return Status::WrongExpectedVersion(Str(c, "stream"), Str(c, "expected"), U64(c, "actual"));
    }
    const auto status_code = static_cast<StatusCode>(code);
    if (status_code == StatusCode::kIOError && Bool(st, "retryable"))
      return Status::TransientIOError(std::move(message));
    return Status(status_code, std::move(message));
  } catch (const Malformed& e) {
    return Status::InvalidArgument(fmt::format("owner protocol: an answer: {}", e.what));
  } catch (const json::exception& e) {
    return Status::InvalidArgument(fmt::format("owner protocol: an answer: {}", e.what()));
  }
}

Result<HelloInfo> ReadHelloAnswer(const Message& m) {
  return Decode<HelloInfo>(m, [](const json& j) {
    const std::uint64_t v = U64(j, "protocol");
    return HelloInfo{Str(j, "store_id"), I64(j, "pid"),
                     static_cast<std::uint32_t>(std::min<std::uint64_t>(v, UINT32_MAX))};
  });
}

Result<std::vector<AppendResult>> ReadAppendAnswer(const Message& m) {
  return Decode<std::vector<AppendResult>>(m, [](const json& j) {
    std::vector<AppendResult> results;
    for (const json& r : Array(j, "results")) {
      Map(r, "an append result");
      results.push_back(AppendResult{U64(r, "first_position"), U64(r, "last_position"),
                                     U64(r, "first_version"), U64(r, "last_version"),
                                     Bool(r, "deduplicated")});
    }
    return results;
  });
}

Result<std::uint64_t> ReadNumberAnswer(const Message& m) {
  return Decode<std::uint64_t>(m, [](const json& j) { return U64(j, "value"); });
}

Result<RetentionReport> ReadRetentionAnswer(const Message& m) {
  return Decode<RetentionReport>(m, [](const json& j) {
    RetentionReport r;
    r.examined = U64(j, "examined");
    r.removed_events = U64(j, "removed_events");
    r.removed_bytes = U64(j, "removed_bytes");
    r.log_start_before = U64(j, "log_start_before");
    r.log_start_after = U64(j, "log_start_after");
    r.kept_unshipped = U64(j, "kept_unshipped");
    r.kept_too_young = U64(j, "kept_too_young");
    r.kept_dead_letter = U64(j, "kept_dead_letter");
    r.kept_stream_order = U64(j, "kept_stream_order");
    for (const json& s : Array(j, "streams")) {
      Map(s, "a stream removal");
      r.streams.push_back({Str(s, "stream"), U64(s, "events"), U64(s, "first_kept_version")});
    }
    r.dry_run = Bool(j, "dry_run");
    return r;
  });
}

Result<BackupReport> ReadBackupAnswer(const Message& m) {
  return Decode<BackupReport>(m, [](const json& j) {
    BackupReport r;
    r.dir = Str(j, "dir");
    r.acknowledged_position = U64(j, "acknowledged_position");
    r.last_position = U64(j, "last_position");
    r.chain_head = Str(j, "chain_head");
    r.store_id = Str(j, "store_id");
    r.files = U64(j, "files");
    r.bytes = U64(j, "bytes");
    r.linked_files = U64(j, "linked_files");
    r.verified = Bool(j, "verified");
    return r;
  });
}

// --- Framing ------------------------------------------------------------------------------------

namespace {

// Waits until `fd` is readable; false when `timeout_ms` (>= 0) passed first.
bool WaitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // the read that follows reports the error
  }
}

// Reads exactly `size` bytes. kNotFound when the stream ends before the first byte and
// `at_frame_start`; kIOError otherwise.
Status ReadExactly(int fd, std::uint8_t* out, std::size_t size, int timeout_ms,
                   bool at_frame_start) {
  std::size_t done = 0;
  while (done < size) {
    if (!WaitReadable(fd, timeout_ms))
      return Status::IOError(
          fmt::format("owner socket: no data for {} ms in the middle of a message", timeout_ms));
    const ssize_t n = ::read(fd, out + done, size - done);
    if (n == 0) {
      if (done == 0 && at_frame_start) return Status::NotFound("owner socket: closed by the peer");
      return Status::IOError("owner socket: the peer closed the connection inside a message");
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(fmt::format("owner socket: read: {}", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
    at_frame_start = false;
  }
  return Status::Ok();
}

}  // namespace

Status WriteFrame(int fd, const Message& m) {
  const std::vector<std::uint8_t> body = m.Serialize();
  if (body.size() > kMaxFrameBytes)
    return Status::InvalidArgument(fmt::format(
        "a request of {} bytes is larger than the {} MiB a message to the store's owner may "
        "carry; split it",
        body.size(), kMaxFrameBytes >> 20));
  const auto n = static_cast<std::uint32_t>(body.size());
  const std::uint8_t head[4] = {static_cast<std::uint8_t>(n >> 24),
                                static_cast<std::uint8_t>(n >> 16),
                                static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  std::vector<std::uint8_t> frame;
  frame.reserve(4 + body.size());
  frame.insert(frame.end(), head, head + 4);
  frame.insert(frame.end(), body.begin(), body.end());
  std::size_t done = 0;
  while (done < frame.size()) {
    const ssize_t w = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(fmt::format("owner socket: write: {}", std::strerror(errno)));
    }
    done += static_cast<std::size_t>(w);
  }
  return Status::Ok();
}

Result<Message> ReadFrame(int fd, int timeout_ms, int body_timeout_ms) {
  std::uint8_t head[4];
  if (!WaitReadable(fd, timeout_ms))
    return Status::TimedOut(fmt::format("owner socket: no message within {} ms", timeout_ms));
  if (Status s = ReadExactly(fd, head, 4, body_timeout_ms, /*at_frame_start=*/true); !s.ok())
    return s;
  const std::uint32_t n = (std::uint32_t{head[0]} << 24) | (std::uint32_t{head[1]} << 16) |
                          (std::uint32_t{head[2]} << 8) | std::uint32_t{head[3]};
  if (n > kMaxFrameBytes)
    return Status::InvalidArgument(
        fmt::format("owner socket: a message claims {} bytes, more than the {} MiB allowed", n,
                    kMaxFrameBytes >> 20));
  // Grown as the bytes arrive, so a length that is a lie costs no memory.
  std::vector<std::uint8_t> body;
  while (body.size() < n) {
    const std::size_t done = body.size();
    body.resize(done + std::min<std::size_t>(n - done, std::size_t{1} << 20));
    if (Status s = ReadExactly(fd, body.data() + done, body.size() - done, body_timeout_ms, false);
        !s.ok())
      return s;
  }
  return Message::Parse(body.data(), body.size());
}

}  // namespace cairn::owner
