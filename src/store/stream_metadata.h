// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Stream metadata records in the meta family (docs/format.md): written by
// Store::SetStreamMetadata (store_impl_lifecycle.cc), read by it and by retention
// (store_impl_retention.cc).
#pragma once

#include <string>
#include <string_view>

#include "cairn/store.h"

namespace cairn::store {

// The meta-family key of `stream`'s metadata record.
std::string StreamMetaKey(std::string_view stream);
// A version-1 JSON record.
std::string EncodeStreamMetadata(const StreamMetadata& m);
// kCorruption naming the stream for a record that is not a version-1 object of counts.
Result<StreamMetadata> DecodeStreamMetadata(std::string_view stream, std::string_view value);

}  // namespace cairn::store
