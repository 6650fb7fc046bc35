// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Key layouts of the column families (keys.h, docs/format.md "Keys").
#include "store/keys.h"

namespace cairn::store {

void PutBigEndian64(std::uint64_t v, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (56 - 8 * i));
}

std::uint64_t GetBigEndian64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<std::uint8_t>(p[i]);
  return v;
}

void PutLittleEndian(std::uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

std::uint64_t GetLittleEndian(std::string_view in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < in.size() && i < 8; ++i)
    v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[i])) << (8 * i);
  return v;
}

std::string PositionKey(std::uint64_t position) {
  std::string key(8, '\0');
  PutBigEndian64(position, key.data());
  return key;
}

bool DecodePositionKey(std::string_view key, std::uint64_t* position) {
  if (key.size() != 8) return false;
  *position = GetBigEndian64(key.data());
  return true;
}

void AppendStreamKey(std::string_view stream, std::uint64_t version, std::string* out) {
  out->append(stream);
  out->push_back('\0');
  const std::size_t at = out->size();
  out->resize(at + 8);
  PutBigEndian64(version, out->data() + at);
}

std::string StreamKey(std::string_view stream, std::uint64_t version) {
  std::string key;
  key.reserve(stream.size() + 9);
  AppendStreamKey(stream, version, &key);
  return key;
}

bool DecodeStreamKey(std::string_view key, std::string_view* stream, std::uint64_t* version) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;
  *stream = key.substr(0, key.size() - 9);
  *version = GetBigEndian64(key.data() + key.size() - 8);
  return true;
}

std::string StreamKeyLimit(std::string_view stream) {
  std::string key(stream);
  key.push_back('\x01');
  return key;
}

void AppendTypeKey(std::string_view type, std::uint64_t position, std::string* out) {
  out->append(type);
  out->push_back('\0');
  char be[8];
  PutBigEndian64(position, be);
  out->append(be, 8);
}

bool DecodeTypeKey(std::string_view key, std::string_view* type, std::uint64_t* position) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;
  *type = key.substr(0, key.size() - 9);
  *position = GetBigEndian64(key.data() + key.size() - 8);
  return true;
}

void AppendStreamRunValue(std::uint64_t first_position, std::uint64_t count, std::string* out) {
  char be[8];
  PutBigEndian64(first_position, be);
  out->append(be, 8);
  if (count > 1) PutLittleEndian(count, 4, out);
}

bool DecodeStreamRunValue(std::string_view value, std::uint64_t* first_position,
                          std::uint64_t* count) {
  if (value.size() != 8 && value.size() != 12) return false;
  *first_position = GetBigEndian64(value.data());
  *count = value.size() == 8 ? 1 : GetLittleEndian(value.substr(8));
  return (value.size() == 8 || *count >= 2) && *first_position <= UINT64_MAX - *count;
}

void AppendTypeRunValue(std::uint64_t count, std::string* out) {
  if (count > 1) PutLittleEndian(count, 4, out);
}

bool DecodeTypeRunValue(std::string_view value, std::uint64_t* count) {
  if (value.empty()) {
    *count = 1;
    return true;
  }
  if (value.size() != 4) return false;
  *count = GetLittleEndian(value);
  return *count >= 2;
}

}  // namespace cairn::store
