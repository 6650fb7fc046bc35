// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The cairn command-line tool's entry point. Each subcommand registers itself from its own file
// (command.h); main builds the CLI11 app from them, applies the rules every command shares
// (global options, non-negative counts, exit code 2 on usage errors, a failed stdout), and
// dispatches to the chosen one.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cairn/version.h"
#include "command.h"
#include "commands.h"
#include "output.h"

namespace {

// Counts, positions and versions are unsigned: "-1" would wrap to 2^64-1 and read as "no
// limit", and so would 2^64 (CLI11 takes strtoull's saturated answer).
CLI::Validator CountInRange() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        const auto at = value.find_first_not_of(" \t");
        if (at != std::string::npos && value[at] == '-')
          return "'" + value + "' is negative; a count or position is 0 or more";
        errno = 0;
        (void)std::strtoull(value.c_str(), nullptr, 0);
        if (errno == ERANGE)
          return "'" + value + "' is out of range: the largest is " + std::to_string(UINT64_MAX);
        return {};
      },
      "", "non-negative");
}

// Seconds are doubles, and a range check lets "nan" through (every comparison with it is
// false): `tail --poll-interval nan` ran, and a NaN duration is undefined behaviour.
CLI::Validator FiniteNumber() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (std::isfinite(std::strtod(value.c_str(), nullptr))) return {};
        return "'" + value + "' is not a finite number";
      },
      "", "finite");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cairn::tool;
  CLI::App app{
      "cairn: an embeddable event store with a Kafka shipper.\n"
      "Audit, append to and read cairn stores. docs/cli.md is the manual."};
  app.set_version_flag("--version", std::string("cairn ") + CAIRN_VERSION_STRING);
  app.require_subcommand(1);
  app.fallthrough();  // global options (--log-level) may follow the subcommand too
  app.footer(
      "Exit codes: 0 ok, 1 error, 2 usage, 3 version conflict, 4 not found, "
      "5 corruption, 6 store locked, 7 Kafka differs (reconcile).");
  app.set_help_all_flag("--help-all", "Help for every command");
  CommonOptions common;
  app.add_option("--log-level", common.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();

  std::vector<std::unique_ptr<Command>> commands = MakeCommands();
  std::vector<std::pair<CLI::App*, Command*>> added;
  for (const auto& command : commands) added.emplace_back(command->Add(app), command.get());

  // Every option of every subcommand gets its type's rule (validators below).
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    for (CLI::Option* opt : sub->get_options()) {
      const std::string type = opt->get_type_name();
      if (type.starts_with("UINT")) opt->check(CountInRange());
      if (type.starts_with("FLOAT")) opt->check(FiniteNumber());
    }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cairn: %s\nRun with --help for usage.\n", e.what());
    return kExitUsage;
  }
  const auto Dispatch = [&]() -> int {
    for (const auto& [sub, command] : added)
      if (sub->parsed()) return command->Run(common);
    return kExitUsage;
  };
  // Output that could not be written (a full disk, a closed pipe's reader gone, /dev/full)
  // fails the command: a truncated listing must not look like a whole one.
  const auto finish = [](int code) {
    std::cout.flush();
    const bool failed = std::cout.fail() || std::fflush(stdout) != 0 || std::ferror(stdout);
    if (failed && code == kExitOk) {
      std::fprintf(stderr,
                   "cairn: writing to stdout failed (a full disk?): the output is incomplete\n");
      return kExitError;
    }
    return code;
  };
  return finish(Dispatch());
}
