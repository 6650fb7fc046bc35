// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// How a subcommand joins the tool: a Command subclass in the subcommand's own file adds itself
// and its options to the CLI11 app and runs when chosen; CAIRN_TOOL_COMMAND registers it.
// main.cc knows no subcommand by name: it builds the app from the registry, parses, and
// dispatches to the one that was chosen.
#pragma once

#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"

namespace cairn::tool {

class Command {
 public:
  virtual ~Command() = default;
  // Adds the subcommand to `app`, its options bound to this object's members; returns it.
  virtual CLI::App* Add(CLI::App& app) = 0;
  // After a successful parse, when this subcommand was chosen: the exit code.
  virtual int Run(const CommonOptions& common) = 0;
};

// The usual shape: the options fill an Args struct, and Run passes it to RunX(common, args).
template <typename Args, int (*RunWith)(const CommonOptions&, const Args&)>
class CommandWith : public Command {
 public:
  int Run(const CommonOptions& common) override { return RunWith(common, args_); }

 protected:
  Args args_;
  CLI::App* cmd_ = nullptr;
};

using CommandFactory = std::unique_ptr<Command> (*)();

// The --help paragraph of every command that writes: how it works beside a running owner.
inline constexpr const char* kBesideOwnerHelp =
    "Beside a process that owns the store (cairn serve, cairn ship, a service opened with\n"
    "StoreOptions::owner_socket) the write goes to that process over STORE/owner.sock, with the\n"
    "same output and exit codes; it is refused (exit 6) when the owner has no socket.\n";

// Called by CAIRN_TOOL_COMMAND during static initialization. `order` is the command's place
// in --help (the registry sorts by it, so link order does not matter).
bool RegisterCommand(int order, CommandFactory factory);
// One instance of every registered command, in `order`.
std::vector<std::unique_ptr<Command>> MakeCommands();

// Options shared by several commands.
// The event filter of query, export and tail.
void AddFilterOptions(CLI::App* cmd, EventFilterArgs& filter);
// Kafka client options, the way the Kafka tools and kcat spell them (ship, reconcile,
// dead-letters retry, demo).
void AddKafkaOptions(CLI::App* cmd, KafkaArgs& kafka);
// The shipper's options (Kafka client, mode, routes, value, dead letters, drain, embedded
// Kafka), shared by ship and serve (ship.cc).
void AddShipperOptions(CLI::App* cmd, ShipArgs& args);

}  // namespace cairn::tool

#define CAIRN_TOOL_COMMAND(order, Type)                                                       \
  [[maybe_unused]] static const bool cairn_tool_registered_##Type =                           \
      ::cairn::tool::RegisterCommand(order, []() -> std::unique_ptr<::cairn::tool::Command> { \
        return std::make_unique<Type>();                                                      \
      })
