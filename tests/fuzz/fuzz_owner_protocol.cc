// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Frames on the owner socket come from other processes (src/owner/protocol.h): whatever the
// bytes, each reader answers a value or an error with a message, never a crash; a request
// that reads back is encoded again and reads back the same.
#include <cstdint>
#include <cstdlib>

#include "owner/protocol.h"

namespace {

template <typename R>
void Check(const R& r) {
  if (!r.ok() && r.status().message().empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cairn::owner;
  auto m = Message::Parse(data, size);
  Check(m);
  if (!m.ok()) return 0;
  (void)m->op();
  Check(ReadHello(*m));
  auto appends = ReadAppend(*m);
  Check(appends);
  if (appends.ok()) {
    // What was read encodes to a request that reads back the same.
    Message again = AppendRequest(*appends);
    auto bytes = again.Serialize();
    auto parsed = Message::Parse(bytes.data(), bytes.size());
    if (!parsed.ok()) std::abort();
    auto back = ReadAppend(*parsed);
    if (!back.ok() || back->size() != appends->size()) std::abort();
    for (std::size_t i = 0; i < back->size(); ++i)
      if ((*back)[i].stream != (*appends)[i].stream ||
          (*back)[i].events.size() != (*appends)[i].events.size())
        std::abort();
  }
  Check(ReadSetStreamMetadata(*m));
  Check(ReadDeleteStream(*m));
  Check(ReadRetention(*m));
  Check(ReadSaveSnapshot(*m));
  Check(ReadStreamName(*m));
  Check(ReadCheckpoint(*m));
  Check(ReadPutDeadLetters(*m));
  Check(ReadPositions(*m));
  Check(ReadBackup(*m));
  cairn::Status s = AnswerStatus(*m);
  if (!s.ok() && s.message().empty() && !s.version_conflict()) std::abort();
  Check(ReadHelloAnswer(*m));
  Check(ReadAppendAnswer(*m));
  Check(ReadNumberAnswer(*m));
  Check(ReadRetentionAnswer(*m));
  Check(ReadBackupAnswer(*m));
  return 0;
}
