// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Bytes read from disk: the event envelope and the removed-event marker decoders must reject
// anything malformed with kCorruption and never crash or read out of bounds. A value that
// decodes must re-encode to a value that decodes to the same fields.
#include <cstdint>
#include <cstdlib>
#include <string>

#include <flatbuffers/flatbuffers.h>

#include "codec/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);
  std::string scratch;
  cairn::RecordedEvent e;
  if (cairn::codec::DecodeEvent(value, &scratch, &e).ok()) {
    flatbuffers::FlatBufferBuilder fbb;
    std::string again;
    cairn::codec::EncodeEvent(e, &fbb, &again);
    cairn::RecordedEvent f;
    std::string scratch2;
    if (!cairn::codec::DecodeEvent(again, &scratch2, &f).ok()) std::abort();
    if (f.stream != e.stream || f.type != e.type || f.payload != e.payload ||
        f.metadata != e.metadata || f.version != e.version || f.position != e.position ||
        f.chain_hash != e.chain_hash || f.schema_version != e.schema_version ||
        f.traceparent != e.traceparent || f.tracestate != e.tracestate)
      std::abort();
  }
  cairn::codec::RemovedEvent r;
  if (cairn::codec::DecodeRemoved(value, &r).ok()) {
    std::string again;
    cairn::codec::EncodeRemoved(r, &again);
    if (again != value) std::abort();  // the marker encoding is canonical
  }
  return 0;
}
