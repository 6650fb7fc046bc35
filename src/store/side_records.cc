// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Side records kept beside the log in the meta column family: named checkpoints and dead
// letters (docs/format.md, "Side records"). They are not events: they are not in the chain,
// never shipped, and may be rewritten.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "store/keys.h"
#include "store/store_impl.h"

namespace cairn {
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
  std::string key = store::kMetaDeadLetterPrefix;
  key += store::PositionKey(position);
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

Status Store::Impl::SaveCheckpoint(std::string_view name, std::uint64_t position, bool sync) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  std::string value;
  store::PutLittleEndian(position, 8, &value);
  rocksdb::WriteOptions wo;
  wo.sync = sync && options_.durability == Durability::kSync;
  Status s = FromRocks(
      db_->Put(wo, meta_, std::string(store::kMetaCheckpointPrefix) + std::string(name), value),
      fmt::format("saving checkpoint '{}'", name));
  if (s.ok()) backlog_.NoteShipped(name, position);
  return s;
}

Result<std::uint64_t> Store::Impl::LoadCheckpoint(std::string_view name) {
  if (Status s = ValidateCheckpointName(name); !s.ok()) return s;
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), meta_,
               std::string(store::kMetaCheckpointPrefix) + std::string(name), &value);
  if (s.IsNotFound()) return std::uint64_t{0};
  if (!s.ok()) return FromRocks(s, fmt::format("loading checkpoint '{}'", name));
  if (value.size() != 8)
    return Status::Corruption(
        fmt::format("checkpoint '{}' is {} bytes, not 8", name, value.size()));
  return store::GetLittleEndian(value);
}

Result<std::vector<std::pair<std::string, std::uint64_t>>> Store::Impl::ListCheckpoints() {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  const std::string_view prefix = store::kMetaCheckpointPrefix;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view name = it->key().ToStringView().substr(prefix.size());
    if (it->value().size() != 8)
      return Status::Corruption(
          fmt::format("checkpoint '{}' is {} bytes, not 8", name, it->value().size()));
    out.emplace_back(std::string(name), store::GetLittleEndian(it->value().ToStringView()));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing checkpoints");
  return out;
}

Status Store::Impl::PutDeadLetters(std::span<const DeadLetter> records) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  rocksdb::WriteBatch batch;
  for (const DeadLetter& d : records) {
    if (d.position == 0) return Status::InvalidArgument("dead letter without a position");
    batch.Put(meta_, DeadLetterKey(d.position), EncodeDeadLetter(d));
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.durability == Durability::kSync;
  return FromRocks(db_->Write(wo, &batch), "recording dead letters");
}

Result<std::vector<DeadLetter>> Store::Impl::ListDeadLetters(std::uint64_t after,
                                                             std::size_t limit) {
  std::vector<DeadLetter> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
  const std::string_view prefix = store::kMetaDeadLetterPrefix;
  for (it->Seek(DeadLetterKey(after + 1));
       it->Valid() && it->key().starts_with(prefix) && out.size() < limit; it->Next()) {
    std::uint64_t position = 0;
    if (!store::DecodePositionKey(it->key().ToStringView().substr(prefix.size()), &position))
      return Status::Corruption("dead-letter key is malformed");
    auto d = DecodeDeadLetter(position, it->value().ToStringView());
    if (!d.ok()) return d.status();
    out.push_back(std::move(d).value());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "listing dead letters");
  return out;
}

Status Store::Impl::RemoveDeadLetters(std::span<const std::uint64_t> positions) {
  if (options_.read_only)
    return Status::FailedPrecondition(fmt::format("store {} is open read-only", path_));
  rocksdb::WriteBatch batch;
  for (std::uint64_t p : positions) batch.Delete(meta_, DeadLetterKey(p));
  rocksdb::WriteOptions wo;
  wo.sync = options_.durability == Durability::kSync;
  return FromRocks(db_->Write(wo, &batch), "removing dead letters");
}

}  // namespace cairn
