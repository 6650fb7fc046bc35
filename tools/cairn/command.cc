// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The subcommand registry and the options every command shares (command.h).
#include "command.h"

#include <algorithm>
#include <utility>

namespace cairn::tool {
namespace {

std::vector<std::pair<int, CommandFactory>>& Registry() {
  static std::vector<std::pair<int, CommandFactory>> registry;  // built before main()
  return registry;
}

}  // namespace

bool RegisterCommand(int order, CommandFactory factory) {
  Registry().emplace_back(order, factory);
  return true;
}

std::vector<std::unique_ptr<Command>> MakeCommands() {
  auto entries = Registry();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::unique_ptr<Command>> commands;
  for (const auto& [order, factory] : entries) commands.push_back(factory());
  return commands;
}

void AddFilterOptions(CLI::App* cmd, EventFilterArgs& f) {
  cmd->add_option("--type", f.types, "Event type (repeatable: any of them)");
  cmd->add_option("--stream", f.stream, "One stream");
  cmd->add_option("--category", f.category, "Stream category (the id before its first '-')");
  cmd->add_option("--since", f.since, "From this time: RFC 3339 or a duration ago (2h, 30m, 7d)");
  cmd->add_option("--until", f.until, "Up to this time (same forms)");
  cmd->add_option("--from-position", f.from_position, "First position");
  cmd->add_option("--to-position", f.to_position, "Last position");
  cmd->add_option("--where", f.where,
                  "JSON payload field equals a value: path.to.field=value (repeatable: all)");
  cmd->add_option("--limit,-n", f.limit, "Most events to print");
}

void AddKafkaOptions(CLI::App* cmd, KafkaArgs& k) {
  cmd->add_option("--bootstrap-servers,--bootstrap-server,-b", k.bootstrap_servers,
                  "Kafka brokers host:port,...; else bootstrap.servers in --kafka-config, "
                  "else KAFKA_BOOTSTRAP_SERVERS");
  cmd->add_option("-X", k.settings,
                  "librdkafka setting key=value, passed through (repeatable), e.g. "
                  "-X security.protocol=SASL_SSL");
  cmd->add_option("--kafka-config,--command-config,--producer.config", k.config_file,
                  "Kafka client properties file, as the Kafka tools read it (Java-only keys "
                  "are translated or skipped with a warning)");
}

}  // namespace cairn::tool
