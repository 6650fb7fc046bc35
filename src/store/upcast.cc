// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Upcaster chains: payloads of older schema versions brought to the current one on read
// (upcast.h).
#include "store/upcast.h"

#include <exception>

#include <fmt/format.h>

namespace cairn::store {

Status UpcasterSet::Build(const std::vector<Upcaster>& upcasters) {
  owned_ = upcasters;
  by_type_.clear();
  for (const Upcaster& u : owned_) {
    if (u.type.empty()) return Status::InvalidArgument("an upcaster has no event type");
    if (!u.upcast)
      return Status::InvalidArgument(
          fmt::format("the upcaster for '{}' schema version {} has no function", u.type,
                      u.from_schema_version));
    if (u.from_schema_version == 0 || u.from_schema_version == UINT32_MAX)
      return Status::InvalidArgument(fmt::format(
          "the upcaster for '{}' starts at schema version {}; schema versions run from 1", u.type,
          u.from_schema_version));
    auto& steps = by_type_[u.type];
    for (const Upcaster* other : steps)
      if (other->from_schema_version == u.from_schema_version)
        return Status::InvalidArgument(
            fmt::format("two upcasters for '{}' schema version {}", u.type, u.from_schema_version));
    steps.push_back(&u);
  }
  return Status::Ok();
}

Status UpcasterSet::Apply(RecordedEvent* event, std::string* buffer) const {
  auto it = by_type_.find(event->type);
  if (it == by_type_.end()) return Status::Ok();
  // Each step raises the version by one, so this ends after at most steps.size() rounds.
  for (std::size_t round = 0; round <= it->second.size(); ++round) {
    const Upcaster* step = nullptr;
    for (const Upcaster* u : it->second)
      if (u->from_schema_version == event->schema_version) step = u;
    if (step == nullptr) return Status::Ok();
    auto where = [&] {
      return fmt::format("upcasting '{}' from schema version {} at position {}", event->type,
                         event->schema_version, event->position);
    };
    Result<std::string> next = Status::Internal("upcaster did not run");
    try {
      next = step->upcast(*event);
    } catch (const std::exception& e) {
      return Status::Internal(fmt::format("{}: the upcaster threw: {}", where(), e.what()));
    } catch (...) {
      return Status::Internal(fmt::format("{}: the upcaster threw", where()));
    }
    if (!next.ok())
      return Status(next.status().code(), fmt::format("{}: {}", where(), next.status().message()));
    *buffer = std::move(next).value();
    event->payload = *buffer;
    ++event->schema_version;
  }
  return Status::Ok();
}

}  // namespace cairn::store
