// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The tamper-evident hash chain (docs/format.md, "Chain hash"):
//   genesis  = SHA-256("cairn.genesis.v1" || store id bytes)
//   hash(e)  = SHA-256(hash(previous event) || canonical bytes of e)
#pragma once

#include <array>
#include <cstdint>

#include "cairn/event.h"

struct evp_md_ctx_st;
struct evp_md_st;

namespace cairn::codec {

using Hash = std::array<std::uint8_t, 32>;

// Computes chain hashes. Not thread-safe: it reuses one digest context; give each thread its
// own ChainHasher.
class ChainHasher {
 public:
  ChainHasher();
  ~ChainHasher();
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;

  Hash Genesis(const EventId& store_id);
  // The hash of `fields` chained onto `previous`; fields.chain_hash is ignored.
  Hash Next(const Hash& previous, const RecordedEvent& fields);

 private:
  evp_md_ctx_st* ctx_;
  evp_md_st* md_;
};

}  // namespace cairn::codec
