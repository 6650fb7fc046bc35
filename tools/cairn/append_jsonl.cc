// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// `cairn append --jsonl`: many events from stdin, in two passes over a spool file so that
// memory does not grow with the input (issue #25: 5 million lines held ~3 GB when the whole
// input was kept). Pass one parses every line, checks it against the store (a bad line stores
// nothing) and copies it to an unnamed temporary file; pass two reads the spool again and
// hands the store its chunks asynchronously, reporting their outcomes in input order.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "output.h"

namespace cairn::tool {
namespace {

// An event id seen in the input, for the check that no id is used twice with other content.
struct IdUse {
  EventId id;
  std::size_t content_hash = 0;
  std::size_t line = 0;
};

std::size_t ContentHash(const EventData& e) {
  std::size_t h = std::hash<std::string>()(e.payload);
  for (const std::string* part : {&e.type, &e.metadata, &e.content_type})
    h = h * 1099511628211ull ^ std::hash<std::string>()(*part);
  return h;
}

// The spool: a file in $TMPDIR (else /tmp), unlinked at once, so that the system removes it
// when it is closed, even after kill -9. (glibc's tmpfile() ignores TMPDIR.)
struct SpoolFile {
  std::FILE* f = nullptr;
  std::string dir;
  SpoolFile() {
    const char* tmpdir = std::getenv("TMPDIR");
    dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    std::string name = dir + "/cairn-append-XXXXXX";
    const int fd = mkstemp(name.data());
    if (fd < 0) return;
    (void)unlink(name.c_str());
    f = fdopen(fd, "w+");
    if (f == nullptr) close(fd);
  }
  ~SpoolFile() {
    if (f) std::fclose(f);
  }
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
};

// Reads the spool back as a stream (pass two).
class SpoolReader : public std::streambuf {
 public:
  explicit SpoolReader(std::FILE* f) : f_(f) {}

 protected:
  int_type underflow() override {
    const std::size_t n = std::fread(buffer_, 1, sizeof buffer_, f_);
    if (n == 0) return traits_type::eof();
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::FILE* f_;
  char buffer_[65536];
};

// A line holds one event as JSON: its payload escaped or in base64 and its metadata, so up to
// a few times the store's limits; longer is refused as it arrives, not after.
const std::size_t kMaxLine =
    4 * (StoreOptions{}.max_payload_bytes + StoreOptions{}.max_metadata_bytes) + 4096;

class JsonlImport {
 public:
  JsonlImport(const AppendArgs& args, const AppendTrace& trace, ExpectedVersion expected,
              Store& store)
      : args_(args), trace_(trace), expected_(expected), store_(store) {}

  // Pass one: every line parsed and checked, and copied to the spool.
  Status Check();
  // Pass two: the chunks to the store; the outcome printed as `format` says.
  int Append(Format format);

 private:
  // Reads the next chunk (consecutive lines of one stream, up to 1,000) from `lines`; false
  // at the end. `numbers` gets each event's input line.
  Result<bool> NextChunk(LineReader& lines, StreamAppend* chunk, std::vector<std::size_t>* numbers);
  Status CheckChunk(const StreamAppend& chunk, const std::vector<std::size_t>& numbers);
  Status CheckIdsAcrossInput();
  void Report(const StreamAppend& chunk, const AppendResult& r, Format format);
  void PrintSummary(Format format) const;
  // The exit code, after printing what went in (and the first failure).
  int Finish(Format format, const Status& failure);

  const AppendArgs& args_;
  const AppendTrace& trace_;  // for lines without their own traceparent
  const ExpectedVersion expected_;
  Store& store_;
  SpoolFile spool_;
  bool spooling_ = false;  // pass one: each line read is copied to the spool
  bool spool_failed_ = false;
  std::string carried_line_;  // read past the end of the last chunk
  std::size_t carried_number_ = 0;
  std::vector<IdUse> ids_;
  std::uint64_t total_events_ = 0, total_appends_ = 0;
  std::string first_stream_;
  bool one_stream_ = true;
  // What went in (pass two).
  std::uint64_t events_ = 0, appends_ = 0, deduplicated_ = 0;
  std::uint64_t first_ = UINT64_MAX, last_ = 0;
  // The distinct streams, by a 64-bit hash of their ids: 8 bytes each, not the ids (a
  // collision would undercount the summary by one; at a million streams, ~1 in 10^7).
  std::unordered_set<std::size_t> streams_;
  nlohmann::json each_json_ = nlohmann::json::array();  // --each --format json only
};

Result<bool> JsonlImport::NextChunk(LineReader& lines, StreamAppend* chunk,
                                    std::vector<std::size_t>* numbers) {
  chunk->events.clear();
  numbers->clear();
  std::string line;
  for (;;) {
    std::size_t line_no = 0;
    if (!carried_line_.empty()) {
      line = std::move(carried_line_);
      carried_line_.clear();
      line_no = carried_number_;
    } else {
      auto more = lines.Next(&line);
      if (!more.ok()) return Status::InvalidArgument("stdin " + more.status().message());
      if (!*more) return !chunk->events.empty();
      line_no = lines.line_number();
      // Every line, blank ones too, so that pass two counts the same line numbers.
      if (spooling_ && (std::fwrite(line.data(), 1, line.size(), spool_.f) != line.size() ||
                        std::fputc('\n', spool_.f) == EOF))
        spool_failed_ = true;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    }
    // Ordered: a "data" object is stored with its keys in the order given.
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    if (j.is_discarded())
      return Status::InvalidArgument(fmt::format("stdin line {}: not valid JSON", line_no));
    std::string stream = args_.stream;
    auto e = EventFromJson(j, &stream);
    if (!e.ok())
      return Status::InvalidArgument(
          fmt::format("stdin line {}: {}", line_no, e.status().message()));
    if (stream.empty())
      return Status::InvalidArgument(
          fmt::format("stdin line {}: no \"stream\" and no STREAM argument", line_no));
    if (!chunk->events.empty() && (stream != chunk->stream || chunk->events.size() >= 1000)) {
      carried_line_ = std::move(line);
      carried_number_ = line_no;
      return true;
    }
    if (e->traceparent.empty() && !trace_.traceparent.empty()) {
      e->traceparent = trace_.traceparent;
      e->tracestate = trace_.tracestate;
    }
    chunk->stream = std::move(stream);
    chunk->events.push_back(std::move(e).value());
    numbers->push_back(line_no);
  }
}

Status JsonlImport::CheckChunk(const StreamAppend& chunk, const std::vector<std::size_t>& numbers) {
  for (std::size_t i = 0; i < chunk.events.size(); ++i)
    if (const EventData& e = chunk.events[i]; e.id)
      ids_.push_back(IdUse{*e.id, ContentHash(e), numbers[i]});
  if (store_.CheckAppend(std::span<const StreamAppend>(&chunk, 1)).ok()) return Status::Ok();
  for (std::size_t i = 0; i < chunk.events.size(); ++i) {  // find the line: each event alone
    const StreamAppend one{chunk.stream, ExpectedVersion::Any(), {chunk.events[i]}};
    if (Status s = store_.CheckAppend(std::span<const StreamAppend>(&one, 1)); !s.ok())
      return Status(s.code(), fmt::format("stdin line {}: {}", numbers[i], s.message()));
  }
  return Status::Ok();
}

// An id used twice in the input with other content (told apart by a 64-bit hash of it; a
// collision is still caught by the store, which compares the content itself).
Status JsonlImport::CheckIdsAcrossInput() {
  std::stable_sort(ids_.begin(), ids_.end(),
                   [](const IdUse& a, const IdUse& b) { return a.id < b.id; });
  for (std::size_t i = 1; i < ids_.size(); ++i)
    if (ids_[i].id == ids_[i - 1].id && ids_[i].content_hash != ids_[i - 1].content_hash)
      return Status::AlreadyExists(fmt::format(
          "stdin line {}: event id {} is already used on line {} with different content",
          ids_[i].line, ids_[i].id.ToString(), ids_[i - 1].line));
  ids_.clear();
  ids_.shrink_to_fit();
  return Status::Ok();
}

Status JsonlImport::Check() {
  if (!args_.type.empty() || args_.data || !args_.id.empty())
    return Status::InvalidArgument("--jsonl takes events from stdin: drop --type, --data and --id");
  if (spool_.f == nullptr)
    return Status::IOError(fmt::format("cannot create a spool file for stdin in {}: {}", spool_.dir,
                                       std::strerror(errno)));
  LineReader lines(std::cin, kMaxLine);
  spooling_ = true;
  StreamAppend chunk;
  std::vector<std::size_t> numbers;
  for (;;) {
    auto more = NextChunk(lines, &chunk, &numbers);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (Status s = CheckChunk(chunk, numbers); !s.ok()) return s;
    if (total_appends_ == 0) first_stream_ = chunk.stream;
    one_stream_ = one_stream_ && chunk.stream == first_stream_;
    total_events_ += chunk.events.size();
    ++total_appends_;
  }
  spooling_ = false;
  if (spool_failed_ || std::fflush(spool_.f) != 0)
    return Status::IOError(fmt::format(
        "writing the spool file of stdin in {} failed: {} (it needs as much room as the input; "
        "set TMPDIR to a larger file system); nothing was stored",
        spool_.dir, std::strerror(errno)));
  if (total_appends_ == 0) return Status::InvalidArgument("stdin held no events");
  if (expected_.kind() != ExpectedVersion::Kind::kAny && !one_stream_)
    return Status::InvalidArgument(
        "--expected-version with --jsonl needs every line in one stream");
  return CheckIdsAcrossInput();
}

void JsonlImport::Report(const StreamAppend& chunk, const AppendResult& r, Format format) {
  events_ += chunk.events.size();
  ++appends_;
  streams_.insert(std::hash<std::string>()(chunk.stream));
  if (r.deduplicated) {
    ++deduplicated_;
  } else {
    first_ = std::min(first_, r.first_position);
    last_ = std::max(last_, r.last_position);
  }
  if (!args_.each) return;
  if (format == Format::kJson)
    each_json_.push_back(AppendResultJson(chunk, r));
  else
    PrintAppendResultLine(format, chunk, r);
}

void JsonlImport::PrintSummary(Format format) const {
  const std::uint64_t first = first_ == UINT64_MAX ? 0 : first_;
  if (format == Format::kText) {
    fmt::print("appended {} event{} in {} append{} to {} stream{}: positions {}..{}{}\n", events_,
               events_ == 1 ? "" : "s", appends_, appends_ == 1 ? "" : "s", streams_.size(),
               streams_.size() == 1 ? "" : "s", first, last_,
               deduplicated_ ? fmt::format(" ({} already stored: same ids, not appended again)",
                                           deduplicated_)
                             : "");
    return;
  }
  nlohmann::json j = {{"events", events_},          {"appends", appends_},
                      {"streams", streams_.size()}, {"first_position", first},
                      {"last_position", last_},     {"already_stored", deduplicated_}};
  std::cout << (format == Format::kJsonl ? DumpJson(j) : DumpJson(j, 2)) << "\n";
}

// One chunk handed to the store and not yet reported: its stream and size, then its outcome.
struct InFlightChunk {
  StreamAppend shape;  // the stream and the events' count only (payloads went to the store)
  std::size_t bytes = 0;
  std::optional<Result<AppendResult>> outcome;
};

// The most event bytes handed to the store and not yet completed. The store bounds its
// in-flight appends by count (max_async_appends, 65,536), and with 1,000-event chunks that is
// no bound at all: on a disk slower than the parse, the whole input could wait there.
constexpr std::size_t kMaxInFlightBytes = 16u << 20;

std::size_t ChunkBytes(const StreamAppend& chunk) {
  std::size_t bytes = 0;
  for (const EventData& e : chunk.events)
    bytes += e.payload.size() + e.metadata.size() + e.type.size() + e.content_type.size() + 64;
  return bytes;
}

int JsonlImport::Append(Format format) {
  std::rewind(spool_.f);
  SpoolReader spool(spool_.f);
  std::istream in(&spool);
  LineReader lines(in, kMaxLine);
  carried_line_.clear();
  Progress progress("append");
  std::mutex mu;
  std::condition_variable cv;
  std::deque<InFlightChunk> window;  // input order; references stay valid as it grows
  Status failure;
  std::uint64_t reported_events = 0;
  std::size_t in_flight_bytes = 0;
  // Reports the finished front of the window, in input order. Under mu.
  auto report_ready = [&] {
    while (!window.empty() && window.front().outcome) {
      InFlightChunk& c = window.front();
      if (c.outcome->ok())
        Report(c.shape, **c.outcome, format);
      else if (failure.ok())
        failure = c.outcome->status();
      reported_events += c.shape.events.size();
      window.pop_front();
    }
  };
  StreamAppend chunk;
  std::vector<std::size_t> numbers;
  for (bool first = true;; first = false) {
    auto more = NextChunk(lines, &chunk, &numbers);
    if (!more.ok() || !*more) break;  // pass one read the same bytes without error
    chunk.expected = first ? expected_ : ExpectedVersion::Any();
    InFlightChunk* slot;
    const std::size_t bytes = ChunkBytes(chunk);
    {
      std::unique_lock lk(mu);
      for (;;) {
        report_ready();
        if (in_flight_bytes < kMaxInFlightBytes || window.empty() || !failure.ok()) break;
        cv.wait_for(lk, std::chrono::milliseconds(100));
        progress.Update(reported_events, total_events_);
      }
      if (!failure.ok()) break;  // nothing after a failed chunk is tried
      window.push_back(
          {StreamAppend{chunk.stream, ExpectedVersion::Any(), {}}, bytes, std::nullopt});
      window.back().shape.events.resize(chunk.events.size());
      slot = &window.back();
      in_flight_bytes += bytes;
      progress.Update(reported_events, total_events_);
    }
    const Status s =
        store_.AppendMultiAsync({std::move(chunk)}, [&, slot](Result<std::vector<AppendResult>> r) {
          std::lock_guard lk(mu);
          slot->outcome =
              r.ok() ? Result<AppendResult>(r->front()) : Result<AppendResult>(r.status());
          in_flight_bytes -= slot->bytes;
          cv.notify_all();
        });
    if (!s.ok()) {
      std::lock_guard lk(mu);
      slot->outcome = Result<AppendResult>(s);
      in_flight_bytes -= slot->bytes;
    }
    chunk = StreamAppend{};
  }
  {
    std::unique_lock lk(mu);
    for (;;) {
      report_ready();
      if (window.empty()) break;
      cv.wait_for(lk, std::chrono::milliseconds(100));
      progress.Update(reported_events, total_events_);
    }
  }
  progress.Done();
  return Finish(format, failure);
}

int JsonlImport::Finish(Format format, const Status& failure) {
  if (!failure.ok()) {
    // Text says what went in; JSON output is all or nothing (jsonl lines already printed are
    // appends that went in).
    if (format == Format::kText && !args_.each && events_ > 0) PrintSummary(format);
    if (events_ > 0)
      std::fprintf(stderr, "cairn: %llu events were appended besides this error\n",
                   static_cast<unsigned long long>(events_));
    return Fail(failure);
  }
  if (!args_.each)
    PrintSummary(format);
  else if (format == Format::kJson)
    std::cout << DumpJson(each_json_, 2) << "\n";
  return kExitOk;
}

}  // namespace

int RunAppendJsonl(Store& store, const AppendArgs& args, const AppendTrace& trace,
                   const ExpectedVersion& expected, Format format) {
  JsonlImport import(args, trace, expected, store);
  if (Status s = import.Check(); !s.ok()) return Fail(s);
  return import.Append(format);
}

}  // namespace cairn::tool
