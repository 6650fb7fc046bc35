// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Topic routing and the routes file's parser (routing.h).
#include "ship/routing.h"

#include <algorithm>

#include <fmt/format.h>

namespace cairn::ship {

Status ValidateTopicName(std::string_view topic) {
  if (topic.empty()) return Status::InvalidArgument("topic name is empty");
  if (topic.size() > 249)
    return Status::InvalidArgument(
        fmt::format("topic name is {} characters; Kafka allows 249", topic.size()));
  if (topic == "." || topic == "..")
    return Status::InvalidArgument(fmt::format("topic name '{}' is not allowed", topic));
  for (char c : topic) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok)
      return Status::InvalidArgument(fmt::format(
          "topic name '{}' has '{}'; Kafka allows only letters, digits, '.', '_' and '-'", topic,
          c));
  }
  return Status::Ok();
}

Router::Router(std::vector<RouteRule> rules, std::string default_topic)
    : rules_(std::move(rules)), default_topic_(std::move(default_topic)) {}

const std::string& Router::TopicFor(std::string_view stream, std::string_view type) const {
  for (const RouteRule& r : rules_) {
    if (r.match == RouteRule::Match::kCategory ? cairn::StreamCategory(stream) == r.pattern
                                               : type.starts_with(r.pattern))
      return r.topic;
  }
  return default_topic_;
}

std::vector<std::string> Router::Topics() const {
  std::vector<std::string> topics;
  for (const RouteRule& r : rules_)
    if (std::find(topics.begin(), topics.end(), r.topic) == topics.end()) topics.push_back(r.topic);
  if (std::find(topics.begin(), topics.end(), default_topic_) == topics.end())
    topics.push_back(default_topic_);
  return topics;
}

Result<std::vector<RouteRule>> ParseRoutes(std::string_view text, std::string* default_topic) {
  std::vector<RouteRule> rules;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string_view> words;
    for (std::size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      std::size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      if (j > i) words.push_back(line.substr(i, j - i));
      i = j;
    }
    if (words.empty()) continue;
    auto error = [&](std::string_view why) {
      return Status::InvalidArgument(fmt::format("routes line {}: {}", line_no, why));
    };
    if (words[0] == "default") {
      if (words.size() != 2) return error("expected 'default TOPIC'");
      if (Status s = ship::ValidateTopicName(words[1]); !s.ok()) return error(s.message());
      if (default_topic) *default_topic = std::string(words[1]);
      continue;
    }
    RouteRule rule;
    if (words[0] == "category")
      rule.match = RouteRule::Match::kCategory;
    else if (words[0] == "type-prefix")
      rule.match = RouteRule::Match::kTypePrefix;
    else
      return error(fmt::format("unknown rule '{}'; expected 'category', 'type-prefix' or 'default'",
                               words[0]));
    if (words.size() != 3) return error(fmt::format("expected '{} PATTERN TOPIC'", words[0]));
    if (Status s = ship::ValidateTopicName(words[2]); !s.ok()) return error(s.message());
    rule.pattern = std::string(words[1]);
    rule.topic = std::string(words[2]);
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace cairn::ship
