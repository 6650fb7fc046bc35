// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The wire format of shipped events, version 1 (docs/shipping.md): the message headers and
// the value of an event, built here and only here — by the shipper and by dead-letter retry.
#pragma once

#include <string>
#include <string_view>

#include <flatbuffers/flatbuffers.h>
#include <librdkafka/rdkafka.h>

#include "cairn/shipper.h"

namespace cairn::ship {

// The message headers of an event (docs/shipping.md, "wire format v1").
rd_kafka_headers_t* EventHeaders(const RecordedEvent& e, const std::string& type_header,
                                 const std::string& store_id, std::string_view txn_tag);

// The message value of `e`: the payload as appended (ValueFormat::kPayload) or the stored
// envelope (kEnvelope), encoded into `*scratch` with `fbb`. The view is valid until the next
// use of `*scratch`.
std::string_view EventValue(const RecordedEvent& e, ValueFormat format,
                            flatbuffers::FlatBufferBuilder* fbb, std::string* scratch);

}  // namespace cairn::ship
