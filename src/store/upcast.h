// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The upcasters a store applies on read (StoreOptions::upcasters), indexed by event type.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "cairn/options.h"
#include "util/string_hash.h"

namespace cairn::store {

// Immutable once built; thread-safe to apply from any number of readers.
class UpcasterSet {
 public:
  // kInvalidArgument naming the duplicate or empty entry.
  Status Build(const std::vector<Upcaster>& upcasters);
  bool empty() const { return by_type_.empty(); }
  // Upcasts `event` in place while a step matches its type and schema version. The new
  // payload lives in `*buffer`, which must outlive the event's use.
  Status Apply(RecordedEvent* event, std::string* buffer) const;

 private:
  // Per type, the step for each schema version (few per type: a vector scan beats a map).
  std::unordered_map<std::string, std::vector<const Upcaster*>, internal::StringHash,
                     std::equal_to<>>
      by_type_;
  std::vector<Upcaster> owned_;
};

}  // namespace cairn::store
