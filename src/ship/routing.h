// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Which Kafka topic an event goes to (ShipperOptions::routes, docs/shipping.md "Routes"),
// Kafka's topic-name rule, and the parser of the tool's routes file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/shipper.h"

namespace cairn::ship {

// Kafka's rule: 1 to 249 characters of [a-zA-Z0-9._-], not "." or "..".
Status ValidateTopicName(std::string_view topic);

// Picks the topic of an event from ordered rules (docs/shipping.md, "Routes").
// Thread-compatible: immutable after construction.
class Router {
 public:
  Router(std::vector<RouteRule> rules, std::string default_topic);
  const std::string& TopicFor(std::string_view stream, std::string_view type) const;
  // Every topic the rules can name, the default included, without repeats.
  std::vector<std::string> Topics() const;

 private:
  std::vector<RouteRule> rules_;
  std::string default_topic_;
};

// Parses a routes file (docs/shipping.md, "Routes"):
//   # comment
//   category order         order-events
//   type-prefix Payment    payment-events
//   default                domain-events
// Returns the rules and sets `*default_topic` when a `default` line is present.
Result<std::vector<RouteRule>> ParseRoutes(std::string_view text, std::string* default_topic);

}  // namespace cairn::ship
