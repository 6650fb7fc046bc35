// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The gateway's event routes: append, the REST Proxy v2 produce, stream and log reads, and the
// live feed. Each validates the whole request before it touches the store, so a refused
// request stores nothing; an accepted one is one atomic append.
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "gateway/gateway_impl.h"
#include "textio/event_json.h"

namespace cairn::gateway {

using textio::Base64Decode;
using textio::DumpJson;
using textio::EventFromJson;
using textio::EventToJson;
using textio::ParseWholeNumber;
namespace {

using Json = nlohmann::ordered_json;

// Deeper nesting than this is refused: serializing a payload recurses once per level, and a
// worker thread's stack is finite.
constexpr int kMaxJsonDepth = 64;
constexpr std::uint64_t kDefaultReadLimit = 100;
constexpr std::uint64_t kMaxReadLimit = 10000;
constexpr auto kFeedKeepAlive = std::chrono::seconds(15);
constexpr std::uint64_t kFeedBatch = 256;

struct TooDeep {};

// An event's fields in a request. Anything else is refused, so that a misspelt "dat" is a 400
// naming it rather than an event stored without its payload.
const std::set<std::string, std::less<>> kEventFields = {
    "type", "data",           "data_base64", "content_type", "metadata", "metadata_base64",
    "id",   "schema_version", "traceparent", "tracestate",   "stream"};

// The body as JSON, or a message naming where it is not JSON (nlohmann's own error names the
// byte; it also refuses strings that are not UTF-8).
Result<Json> ParseJson(const std::string& body) {
  try {
    return Json::parse(body, [](int depth, Json::parse_event_t, Json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    });
  } catch (const Json::parse_error& e) {
    return Status::InvalidArgument(fmt::format("the body is not JSON: {}", e.what()));
  } catch (const Json::exception& e) {
    // out_of_range 406: a number past a double's range (1e400). The client's mistake.
    return Status::InvalidArgument(fmt::format("the body's JSON cannot be taken: {}", e.what()));
  } catch (const TooDeep&) {
    return Status::InvalidArgument(
        fmt::format("the body nests JSON deeper than {} levels", kMaxJsonDepth));
  }
}

// "application/json" or "application/json; charset=utf-8", any case.
bool MediaTypeIs(const httplib::Request& req, std::string_view want) {
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  std::transform(type.begin(), type.end(), type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return type == want;
}

// A query parameter as a decimal number in [min, max]; `fallback` when absent.
Result<std::uint64_t> NumberParam(const httplib::Request& req, const char* name,
                                  std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  const std::optional<std::uint64_t> v = ParseWholeNumber(text);
  if (!v || *v < min || *v > max)
    return Status::InvalidArgument(fmt::format(
        "query parameter '{}={}': expected a number from {} to {}", name, text, min, max));
  return *v;
}

Result<Direction> DirectionParam(const httplib::Request& req) {
  if (!req.has_param("direction")) return Direction::kForward;
  const std::string d = req.get_param_value("direction");
  if (d == "forward") return Direction::kForward;
  if (d == "backward") return Direction::kBackward;
  return Status::InvalidArgument(
      fmt::format("query parameter 'direction={}': expected forward or backward", d));
}

// A read's paging parameters: limit (1..10,000, default 100), direction, from (a version or a
// position, >= 1; absent: the first or, backward, the last).
struct PageParams {
  std::uint64_t limit = kDefaultReadLimit;
  Direction direction = Direction::kForward;
  std::optional<std::uint64_t> from;
};

Result<PageParams> PageParamsOf(const httplib::Request& req) {
  PageParams p;
  auto limit = NumberParam(req, "limit", kDefaultReadLimit, 1, kMaxReadLimit);
  if (!limit.ok()) return limit.status();
  p.limit = *limit;
  auto direction = DirectionParam(req);
  if (!direction.ok()) return direction.status();
  p.direction = *direction;
  if (req.has_param("from")) {
    auto from = NumberParam(req, "from", 1, 1, UINT64_MAX);
    if (!from.ok()) return from.status();
    p.from = *from;
  }
  return p;
}

// The W3C trace context of a request (its traceparent and tracestate headers), checked; empty
// when it has none. An empty header counts as absent; several tracestate headers are one list
// (RFC 9110 field lines), several traceparent headers are refused (W3C Trace Context).
struct RequestTrace {
  std::string traceparent;
  std::string tracestate;
};
Result<RequestTrace> RequestTraceOf(const httplib::Request& req) {
  RequestTrace t;
  if (req.get_header_value_count("traceparent") > 1)
    return Status::InvalidArgument(
        "the request has more than one traceparent header (W3C Trace Context allows one)");
  t.traceparent = req.get_header_value("traceparent");
  for (std::size_t i = 0; i < req.get_header_value_count("tracestate"); ++i) {
    const std::string part = req.get_header_value("tracestate", i);
    if (part.empty()) continue;
    if (!t.tracestate.empty()) t.tracestate += ',';
    t.tracestate += part;
  }
  if (Status s = ValidateTraceContext(t.traceparent, t.tracestate); !s.ok())
    return Status::InvalidArgument("header " + s.message());
  return t;
}

// Gives `e` the request's trace context unless the event carries its own traceparent.
void InheritTrace(const RequestTrace& trace, EventData* e) {
  if (!e->traceparent.empty() || trace.traceparent.empty()) return;
  e->traceparent = trace.traceparent;
  e->tracestate = trace.tracestate;
}

// Events of an append request: one object or a non-empty array of them, each given the
// request's trace context unless it has its own.
Result<std::vector<EventData>> EventsFromBody(const Json& body, const std::string& stream,
                                              const RequestTrace& trace, std::size_t max_payload,
                                              int* too_large) {
  const bool many = body.is_array();
  if (!many && !body.is_object())
    return Status::InvalidArgument("the body must be an event object or an array of them");
  if (many && body.empty()) return Status::InvalidArgument("the array of events is empty");
  std::vector<EventData> events;
  const std::size_t n = many ? body.size() : 1;
  events.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Json& j = many ? body[i] : body;
    const std::string where = many ? fmt::format("events[{}]: ", i) : std::string();
    if (j.is_object())
      for (const auto& [key, value] : j.items())
        if (!kEventFields.contains(key))
          return Status::InvalidArgument(fmt::format(
              "{}unknown field '{}' (an event has type, data or data_base64, content_type, "
              "metadata or metadata_base64, id, schema_version, traceparent, tracestate, "
              "stream)",
              where, key));
    std::string named_stream = stream;
    auto e = EventFromJson(j, &named_stream);
    if (!e.ok()) return Status::InvalidArgument(where + e.status().message());
    if (named_stream != stream)
      return Status::InvalidArgument(
          fmt::format("{}'stream' is '{}' but the path names '{}'", where, named_stream, stream));
    if (e->payload.size() > max_payload) {
      *too_large = 413;
      return Status::InvalidArgument(
          fmt::format("{}the payload is {} bytes, over the store's "
                      "limit of {}",
                      where, e->payload.size(), max_payload));
    }
    InheritTrace(trace, &*e);
    events.push_back(std::move(e).value());
  }
  return events;
}

std::vector<std::optional<EventId>> IdsOf(const std::vector<EventData>& events) {
  std::vector<std::optional<EventId>> ids;
  ids.reserve(events.size());
  for (const EventData& e : events) ids.push_back(e.id);
  return ids;
}

// The answer to an append: where each event went (and its id, when the caller gave one).
Json AppendJson(std::string_view stream, const AppendResult& r,
                const std::vector<std::optional<EventId>>& ids) {
  Json list = Json::array();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Json e = {{"version", r.first_version + i}, {"position", r.first_position + i}};
    if (ids[i]) e["id"] = ids[i]->ToString();
    list.push_back(std::move(e));
  }
  return {{"stream", stream},
          {"first_version", r.first_version},
          {"last_version", r.last_version},
          {"first_position", r.first_position},
          {"last_position", r.last_position},
          {"deduplicated", r.deduplicated},
          {"events", std::move(list)}};
}

// Reads up to `limit` events and, when there are more, where the next page starts.
template <typename NextKey>
Json Page(EventReader& reader, std::uint64_t limit, NextKey next_key, Status* status) {
  Json events = Json::array();
  Json next = nullptr;
  for (; reader.Valid(); reader.Next()) {
    if (events.size() == limit) {
      next = next_key(reader.event());
      break;
    }
    events.push_back(EventToJson(reader.event()));
  }
  *status = reader.status();
  return Json{{"events", std::move(events)}, {"next", std::move(next)}};
}

// The live feed's filter: ?stream=, ?category=, ?type= (repeated or comma-separated).
EventSelector FeedFilterOf(const httplib::Request& req) {
  EventSelector f;
  f.stream = req.get_param_value("stream");
  f.category = req.get_param_value("category");
  for (std::size_t i = 0; i < req.get_param_value_count("type"); ++i) {
    const std::string list = req.get_param_value("type", i);
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t comma = std::min(list.find(',', start), list.size());
      if (comma > start) f.types.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
  }
  return f;
}

}  // namespace

void Gateway::Impl::Append(const httplib::Request& req, httplib::Response& res) {
  // The event loop runs this request twice: the first run hands the append over and returns;
  // the store's completion posts how to answer, and the second run (resuming) writes it.
  RequestContinuation* continuation = RequestContinuation::Current();
  if (continuation != nullptr && continuation->resuming()) return continuation->WriteAnswer(res);
  const std::string stream = req.matches[1];
  if (!MediaTypeIs(req, "application/json"))
    return ReplyError(res, 415, "unsupported_media_type",
                      fmt::format("Content-Type '{}': expected application/json",
                                  req.get_header_value("Content-Type")),
                      options_.retry_after);
  auto expected = ExpectedVersion::Any();
  if (req.has_header("Cairn-Expected-Version")) {
    auto e = ExpectedVersion::Parse(req.get_header_value("Cairn-Expected-Version"));
    if (!e.ok())
      return ReplyError(res, 400, "invalid_argument",
                        "Cairn-Expected-Version: " + e.status().message(), options_.retry_after);
    expected = *e;
  }
  auto trace = RequestTraceOf(req);
  if (!trace.ok()) return ReplyStatus(res, trace.status(), options_.retry_after);
  auto body = ParseJson(req.body);
  if (!body.ok()) return ReplyStatus(res, body.status(), options_.retry_after);
  int too_large = 0;
  auto events = EventsFromBody(*body, stream, *trace, options_.max_payload_bytes, &too_large);
  if (!events.ok())
    return too_large ? ReplyError(res, too_large, "payload_too_large", events.status().message(),
                                  options_.retry_after)
                     : ReplyStatus(res, events.status(), options_.retry_after);
  if (continuation == nullptr) {  // a worker thread: wait for the append
    auto r = store_.Append(stream, expected, *events);
    if (!r.ok()) return ReplyStatus(res, r.status(), options_.retry_after);
    return ReplyJson(res, 201, AppendJson(stream, *r, IdsOf(*events)));
  }
  std::vector<std::optional<EventId>> ids = IdsOf(*events);
  auto resume = continuation->Defer();
  const std::chrono::seconds retry_after = options_.retry_after;
  Status submitted =
      store_.AppendAsync(stream, expected, std::move(*events),
                         [resume, stream = std::string(stream), ids = std::move(ids),
                          retry_after](Result<AppendResult> r) mutable {
                           resume([r = std::move(r), stream = std::move(stream),
                                   ids = std::move(ids), retry_after](httplib::Response& answer) {
                             if (!r.ok()) return ReplyStatus(answer, r.status(), retry_after);
                             ReplyJson(answer, 201, AppendJson(stream, *r, ids));
                           });
                         });
  if (!submitted.ok()) {
    // Refused before it was taken (the quota, a closed store): answered at once instead.
    resume([submitted, retry_after](httplib::Response& answer) {
      ReplyStatus(answer, submitted, retry_after);
    });
  }
}

// Confluent REST Proxy v2: {"records":[{"key":K,"value":V}, ...]}. The key becomes the
// stream, the topic the event type; all records go into one atomic multi-stream append.
void Gateway::Impl::Produce(const httplib::Request& req, httplib::Response& res) {
  const std::string topic = req.matches[1];
  const bool binary = MediaTypeIs(req, "application/vnd.kafka.binary.v2+json");
  if (!binary && !MediaTypeIs(req, "application/vnd.kafka.json.v2+json"))
    return ReplyError(res, 415, "unsupported_media_type",
                      fmt::format("Content-Type '{}': expected application/vnd.kafka.json.v2+json "
                                  "or application/vnd.kafka.binary.v2+json",
                                  req.get_header_value("Content-Type")),
                      options_.retry_after);
  auto trace = RequestTraceOf(req);
  if (!trace.ok()) return ReplyStatus(res, trace.status(), options_.retry_after);
  auto body = ParseJson(req.body);
  if (!body.ok()) return ReplyStatus(res, body.status(), options_.retry_after);
  const auto records = body->find("records");
  if (!body->is_object() || records == body->end() || !records->is_array() || records->empty())
    return ReplyError(res, 422, "invalid_argument",
                      "the body must be {\"records\": [{\"key\": ..., \"value\": ...}, ...]}",
                      options_.retry_after, {{"error_code", 42201}});
  std::vector<StreamAppend> appends;
  std::map<std::string, std::size_t, std::less<>> by_stream;
  std::vector<std::pair<std::size_t, std::size_t>> slot;  // record -> (append, index)
  for (std::size_t i = 0; i < records->size(); ++i) {
    const Json& rec = (*records)[i];
    auto fail = [&](std::string_view what) {
      ReplyError(res, 422, "invalid_argument", fmt::format("records[{}]: {}", i, what),
                 options_.retry_after, {{"error_code", 42201}});
    };
    if (!rec.is_object()) return fail("expected an object with key and value");
    if (rec.contains("partition"))
      return fail("'partition' cannot be chosen: cairn's shipper picks it from the key");
    const auto key = rec.find("key");
    if (key == rec.end() || key->is_null())
      return fail("'key' is missing: it names the cairn stream, which orders the events");
    std::string stream = key->is_string() ? key->get<std::string>() : DumpJson(*key);
    EventData e;
    e.type = topic;
    const auto value = rec.find("value");
    if (binary) {
      if (!key->is_string()) return fail("'key' must be a base64 string");
      auto k = Base64Decode(stream);
      if (!k.ok()) return fail("'key' is not base64: " + k.status().message());
      stream = std::move(k).value();
      if (value == rec.end() || !value->is_string()) return fail("'value' must be a base64 string");
      auto v = Base64Decode(value->get<std::string>());
      if (!v.ok()) return fail("'value' is not base64: " + v.status().message());
      e.payload = std::move(v).value();
      e.content_type = "application/octet-stream";
    } else {
      e.payload = value == rec.end() ? "null" : DumpJson(*value);
    }
    if (e.payload.size() > options_.max_payload_bytes)
      return ReplyError(res, 413, "payload_too_large",
                        fmt::format("records[{}]: the value is {} bytes, over the store's limit "
                                    "of {}",
                                    i, e.payload.size(), options_.max_payload_bytes),
                        options_.retry_after);
    InheritTrace(*trace, &e);
    auto [it, fresh] = by_stream.try_emplace(stream, appends.size());
    if (fresh) appends.push_back(StreamAppend{stream, ExpectedVersion::Any(), {}});
    slot.emplace_back(it->second, appends[it->second].events.size());
    appends[it->second].events.push_back(std::move(e));
  }
  auto r = store_.AppendMulti(appends);
  if (!r.ok()) return ReplyStatus(res, r.status(), options_.retry_after);
  Json offsets = Json::array();
  for (const auto& [a, idx] : slot)
    offsets.push_back({{"partition", nullptr},
                       {"offset", (*r)[a].first_position + idx},
                       {"error_code", nullptr},
                       {"error", nullptr}});
  ReplyJson(res, 200,
            {{"key_schema_id", nullptr}, {"value_schema_id", nullptr}, {"offsets", offsets}});
}

void Gateway::Impl::ReadStream(const httplib::Request& req, httplib::Response& res) {
  const std::string stream = req.matches[1];
  auto params = PageParamsOf(req);
  if (!params.ok()) return ReplyStatus(res, params.status(), options_.retry_after);
  StreamReadOptions o;
  o.direction = params->direction;
  o.from_version = params->from;
  auto info = store_.GetStreamInfo(stream);
  if (!info.ok() && info.status().code() == StatusCode::kNotFound && stream.ends_with("/events")) {
    res.set_header("Allow", "POST");
    return ReplyError(res, 405, "method_not_allowed",
                      "GET reads a stream at /v1/streams/{stream}; POST appends to .../events",
                      options_.retry_after);
  }
  if (!info.ok()) return ReplyStatus(res, info.status(), options_.retry_after);
  auto reader = store_.ReadStream(stream, o);
  if (!reader.ok()) return ReplyStatus(res, reader.status(), options_.retry_after);
  Status read;
  Json page = Page(
      *reader, params->limit, [](const RecordedEvent& e) { return e.version; }, &read);
  if (!read.ok()) return ReplyStatus(res, read, options_.retry_after);
  ReplyJson(res, 200,
            {{"stream", stream},
             {"last_version", info->last_version},
             {"deleted", info->deleted},
             {"events", std::move(page["events"])},
             {"next", std::move(page["next"])}});
}

void Gateway::Impl::ReadLog(const httplib::Request& req, httplib::Response& res) {
  auto params = PageParamsOf(req);
  if (!params.ok()) return ReplyStatus(res, params.status(), options_.retry_after);
  LogReadOptions o;
  o.direction = params->direction;
  o.from_position = params->from;
  const std::uint64_t head = store_.last_position();
  auto reader = store_.ReadLog(o);
  if (!reader.ok()) return ReplyStatus(res, reader.status(), options_.retry_after);
  Status read;
  Json page = Page(
      *reader, params->limit, [](const RecordedEvent& e) { return e.position; }, &read);
  if (!read.ok()) return ReplyStatus(res, read, options_.retry_after);
  ReplyJson(
      res, 200,
      {{"head", head}, {"events", std::move(page["events"])}, {"next", std::move(page["next"])}});
}

// Server-sent events from a position (or after Last-Event-ID, which a reconnecting
// EventSource sends), catch-up first, then live as appends commit; a comment every 15 s keeps
// proxies from closing an idle feed. Each event's id is its position.
void Gateway::Impl::Feed(const httplib::Request& req, httplib::Response& res) {
  std::uint64_t next = 1;
  if (req.has_header("Last-Event-ID")) {
    const std::string last = req.get_header_value("Last-Event-ID");
    const std::optional<std::uint64_t> v = ParseWholeNumber(last);
    if (!v || *v == UINT64_MAX)
      return ReplyError(res, 400, "invalid_argument",
                        fmt::format("Last-Event-ID '{}': expected a position", last),
                        options_.retry_after);
    next = *v + 1;
  } else if (req.get_param_value("from") == "end") {
    next = store_.last_position() + 1;
  } else {
    auto from = NumberParam(req, "from", 1, 1, UINT64_MAX);
    if (!from.ok()) return ReplyStatus(res, from.status(), options_.retry_after);
    next = *from;
  }
  if (feeds_.fetch_add(1) >= options_.max_feeds) {
    feeds_.fetch_sub(1);
    return ReplyError(
        res, 503, "unavailable",
        fmt::format("{} live feeds are open already (--max-feeds)", options_.max_feeds),
        options_.retry_after);
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto filter = std::make_shared<EventSelector>(FeedFilterOf(req));
  auto last_write =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  auto position = std::make_shared<std::uint64_t>(next);
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, filter, position, last_write](std::size_t offset, httplib::DataSink& sink) {
        if (offset == 0 && !sink.write("retry: 2000\n\n", 13)) return false;
        while (!stopping_) {
          LogReadOptions o;
          o.from_position = *position;
          o.limit = kFeedBatch;
          auto reader = store_.ReadLog(o);
          if (!reader.ok()) return false;
          std::string out;
          for (; reader->Valid(); reader->Next()) {
            const RecordedEvent& e = reader->event();
            *position = e.position + 1;
            if (filter->Matches(e))
              out += fmt::format("id: {}\ndata: {}\n\n", e.position, DumpJson(EventToJson(e)));
          }
          if (!reader->status().ok()) return false;
          const auto now = std::chrono::steady_clock::now();
          if (out.empty() && now - *last_write >= kFeedKeepAlive) out = ": keep-alive\n\n";
          if (!out.empty()) {
            *last_write = now;
            return sink.write(out.data(), out.size());
          }
          store_.WaitForPosition(*position - 1, std::chrono::milliseconds(500));
        }
        sink.done();
        return true;
      },
      [this](bool) { feeds_.fetch_sub(1); });
}

}  // namespace cairn::gateway
