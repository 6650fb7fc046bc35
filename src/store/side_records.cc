// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Side records (side_records.h): checkpoints and dead letters, and the dead letters' JSON
// record format (docs/format.md, "Side records").
#include "store/side_records.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/keys.h"
#include "store/rocks_status.h"

namespace cairn::store {
namespace {

constexpr std::size_t kMaxCheckpointNameBytes = 200;

Status ValidateCheckpointName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("checkpoint name is empty");
  if (name.size() > kMaxCheckpointNameBytes)
    return Status::InvalidArgument(fmt::format("checkpoint name is {} bytes; the limit is {}",
                                               name.size(), kMaxCheckpointNameBytes));
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return Status::InvalidArgument("checkpoint name contains a control character");
  return Status::Ok();
}

std::string DeadLetterKey(std::uint64_t position) {
  std::string key = kMetaDeadLetterPrefix;
  key += PositionKey(position);
  return key;
}

std::string EncodeDeadLetter(const DeadLetter& d) {
  nlohmann::json j = {{"v", 1},
                      {"stream", d.stream},
                      {"version", d.version},
                      {"destination", d.destination},
                      {"error", d.error},
                      {"time_us", d.time_us},
                      {"held_behind", d.held_behind}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<DeadLetter> DecodeDeadLetter(std::uint64_t position, std::string_view value) {
  auto bad = [&](std::string_view why) {
    return Status::Corruption(
        fmt::format("dead-letter record for position {} is malformed: {}", position, why));
  };
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return bad("not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_unsigned() || v->get<std::uint64_t>() != 1)
    return bad("unknown record version");
  DeadLetter d;
  d.position = position;
  auto str = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  auto u64 = [&](const char* key, std::uint64_t* out) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) return false;
    *out = it->get<std::uint64_t>();
    return true;
  };
  std::uint64_t time_us = 0;
  if (!str("stream", &d.stream) || !u64("version", &d.version) ||
      !str("destination", &d.destination) || !str("error", &d.error) || !u64("time_us", &time_us) ||
      !u64("held_behind", &d.held_behind))
    return bad("a field is missing or has the wrong type");
  d.time_us = static_cast<std::int64_t>(time_us);
  return d;
}

}  // namespace

Status SideRecords::SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync) {
  if (s_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", s_.path));
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  std::string value;
  PutLittleEndian(position, 8, &value);
  rocksdb::WriteOptions wo;
  wo.sync = sync && s_.sync;
  Status s = FromRocks(
      s_.db->Put(wo, s_.meta, std::string(kMetaCheckpointPrefix) + std::string(name), value),
      fmt::format("saving checkpoint '{}'", name));
  if (s.ok()) s_.backlog->NoteShipped(name, position);
  return s;
}

Result<std::uint64_t> SideRecords::LoadCheckpoint(std::string_view name) {
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  std::string value;
  rocksdb::Status s = s_.db->Get(rocksdb::ReadOptions(), s_.meta,
                                 std::string(kMetaCheckpointPrefix) + std::string(name), &value);
  if (s.IsNotFound()) return std::uint64_t{0};
  if (!s.ok()) return FromRocks(s, fmt::format("loading checkpoint '{}'", name));
  if (value.size() != 8)
    return Status::Corruption(
        fmt::format("checkpoint '{}' is {} bytes, not 8", name, value.size()));
  return GetLittleEndian(value);
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> SideRecords::ListCheckpoints() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(rocksdb::ReadOptions(), s_.meta));
  const std::string_view prefix = kMetaCheckpointPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view name = it->key().ToStringView().substr(prefix.size());
    if (it->value().size() != 8)
      return Status::Corruption(
          fmt::format("checkpoint '{}' is {} bytes, not 8", name, it->value().size()));
    out.emplace_back(std::string(name), GetLittleEndian(it->value().ToStringView()));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing checkpoints");
  return out;
}

Status SideRecords::DeleteCheckpoint(std::string_view name) {
  if (s_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", s_.path));
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  {
    internal::MutexLock lk(claims_mu_);
    if (claimed_.contains(name))
      return Status::Busy(fmt::format(
          "checkpoint '{}' is in use by a running shipper or subscription of this store", name));
  }
  const std::string key = std::string(kMetaCheckpointPrefix) + std::string(name);
  std::string value;
  rocksdb::Status got = s_.db->Get(rocksdb::ReadOptions(), s_.meta, key, &value);
  if (got.IsNotFound())
    return Status::NotFound(fmt::format("no checkpoint named '{}' in store {}", name, s_.path));
  if (!got.ok()) return FromRocks(got, fmt::format("loading checkpoint '{}'", name));
  rocksdb::WriteOptions wo;
  wo.sync = s_.sync;
  return FromRocks(s_.db->Delete(wo, s_.meta, key), fmt::format("deleting checkpoint '{}'", name));
}

Status SideRecords::ClaimCheckpoint(std::string_view name) {
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  internal::MutexLock lk(claims_mu_);
  if (!claimed_.emplace(name).second)
    return Status::Busy(fmt::format(
        "checkpoint '{}' already has a consumer in this process (a shipper or subscription "
        "of the same checkpoint): two would each deliver every event",
        name));
  return Status::Ok();
}

void SideRecords::ReleaseCheckpoint(std::string_view name) {
  internal::MutexLock lk(claims_mu_);
  if (auto it = claimed_.find(name); it != claimed_.end()) claimed_.erase(it);
}

Status SideRecords::PutDeadLetters(std::span<const DeadLetter> records) {
  if (s_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", s_.path));
  rocksdb::WriteBatch batch;
  for (const DeadLetter& d : records) {
    if (d.position == 0) return Status::InvalidArgument("dead letter without a position");
    batch.Put(s_.meta, DeadLetterKey(d.position), EncodeDeadLetter(d));
  }
  rocksdb::WriteOptions wo;
  wo.sync = s_.sync;
  return FromRocks(s_.db->Write(wo, &batch), "recording dead letters");
}

Result<std::vector<DeadLetter>> SideRecords::ListDeadLetters(std::uint64_t after,
                                                             std::size_t limit) {
  std::vector<DeadLetter> out;
  std::unique_ptr<rocksdb::Iterator> it(s_.db->NewIterator(rocksdb::ReadOptions(), s_.meta));
  const std::string_view prefix = kMetaDeadLetterPrefix;
  for (it->Seek(DeadLetterKey(after + 1));
       it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    std::uint64_t position = 0;
    if (!DecodePositionKey(it->key().ToStringView().substr(prefix.size()), &position))
      return Status::Corruption("dead-letter key is malformed");
    auto d = DecodeDeadLetter(position, it->value().ToStringView());
    if (!d.ok()) return d.status();
    out.push_back(std::move(d).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing dead letters");
  return out;
}

Status SideRecords::RemoveDeadLetters(std::span<const std::uint64_t> positions) {
  if (s_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", s_.path));
  rocksdb::WriteBatch batch;
  for (std::uint64_t p : positions) batch.Delete(s_.meta, DeadLetterKey(p));
  rocksdb::WriteOptions wo;
  wo.sync = s_.sync;
  return FromRocks(s_.db->Write(wo, &batch), "removing dead letters");
}

}  // namespace cairn::store
