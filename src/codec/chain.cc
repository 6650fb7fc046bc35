// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The chain hash's computation over OpenSSL's SHA-256 (chain.h).
#include "codec/chain.h"

#include <cstdlib>
#include <string_view>

#include <openssl/evp.h>

namespace cairn::codec {
namespace {

constexpr std::string_view kGenesisTag = "cairn.genesis.v1";
constexpr std::string_view kEventTag = "cairn.event.v1";

void Fixed64(std::uint64_t v, std::uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void Check(int ok) {
  // OpenSSL only fails here on allocation failure or a broken provider; there is no sane
  // way to continue hashing, and a wrong hash would be worse than stopping.
  if (ok != 1) std::abort();
}

}  // namespace

ChainHasher::ChainHasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  if (ctx_ == nullptr || md_ == nullptr) std::abort();
}

ChainHasher::~ChainHasher() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md_);
}

Hash ChainHasher::Genesis(const EventId& store_id) {
  Hash out{};
  Check(EVP_DigestInit_ex(ctx_, md_, nullptr));
  Check(EVP_DigestUpdate(ctx_, kGenesisTag.data(), kGenesisTag.size()));
  Check(EVP_DigestUpdate(ctx_, store_id.bytes().data(), 16));
  Check(EVP_DigestFinal_ex(ctx_, out.data(), nullptr));
  return out;
}

Hash ChainHasher::Next(const Hash& previous, const RecordedEvent& f) {
  // Canonical bytes: a fixed-layout, little-endian, length-prefixed encoding that does not
  // depend on how FlatBuffers happened to lay the envelope out.
  std::uint8_t fixed[8 * 3 + 16 + 1];
  Fixed64(f.position, fixed);
  Fixed64(f.version, fixed + 8);
  Fixed64(static_cast<std::uint64_t>(f.timestamp_us), fixed + 16);
  std::copy(f.id.bytes().begin(), f.id.bytes().end(), fixed + 24);
  fixed[40] = f.id_from_caller ? 1 : 0;

  Hash out{};
  Check(EVP_DigestInit_ex(ctx_, md_, nullptr));
  Check(EVP_DigestUpdate(ctx_, previous.data(), previous.size()));
  Check(EVP_DigestUpdate(ctx_, kEventTag.data(), kEventTag.size()));
  Check(EVP_DigestUpdate(ctx_, fixed, sizeof(fixed)));
  for (std::string_view part : {f.stream, f.type, f.content_type, f.metadata, f.payload}) {
    std::uint8_t len[8];
    Fixed64(part.size(), len);
    Check(EVP_DigestUpdate(ctx_, len, 4));
    Check(EVP_DigestUpdate(ctx_, part.data(), part.size()));
  }
  // Format version 2: a schema version other than 1 follows the payload. Events at schema
  // version 1 hash exactly as in version 1, so stores written before keep their chain.
  // Format version 4: an event with trace context always has the schema version, then the
  // length-prefixed traceparent and tracestate. What follows the payload is then 0 bytes (no
  // trace context, schema version 1), 4 (no trace context) or at least 12 (trace context),
  // so no two events' canonical bytes can be read two ways.
  const bool traced = !f.traceparent.empty() || !f.tracestate.empty();
  if (f.schema_version != 1 || traced) {
    std::uint8_t sv[8];
    Fixed64(f.schema_version, sv);
    Check(EVP_DigestUpdate(ctx_, sv, 4));
  }
  if (traced) {
    for (std::string_view part : {f.traceparent, f.tracestate}) {
      std::uint8_t len[8];
      Fixed64(part.size(), len);
      Check(EVP_DigestUpdate(ctx_, len, 4));
      Check(EVP_DigestUpdate(ctx_, part.data(), part.size()));
    }
  }
  Check(EVP_DigestFinal_ex(ctx_, out.data(), nullptr));
  return out;
}

}  // namespace cairn::codec
