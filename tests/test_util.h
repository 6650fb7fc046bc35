// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
#pragma once

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "cairn/cairn.h"

namespace cairn::testing {

// A fresh directory under the system temp dir, removed with everything in it at scope end.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("cairn-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path() const { return path_.string(); }
  // A path inside the directory that does not exist yet.
  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

MATCHER(IsOk, "is OK") {
  if (arg.ok()) return true;
  *result_listener << "status is " << arg.status().ToString();
  return false;
}

MATCHER_P(StatusIs, code, "has status code " + std::string(StatusCodeName(code))) {
  if (arg.status().code() == code) return true;
  *result_listener << "status is " << arg.status().ToString();
  return false;
}

// Lets the matchers take a bare Status too.
struct StatusHolder {
  Status s;
  bool ok() const { return s.ok(); }
  Status status() const { return s; }
};
inline StatusHolder S(Status s) { return StatusHolder{std::move(s)}; }

inline EventData Event(std::string type, std::string payload = "{}") {
  EventData e;
  e.type = std::move(type);
  e.payload = std::move(payload);
  return e;
}

inline StoreOptions QuietOptions() {
  StoreOptions o;
  o.log_level = LogLevel::kError;
  return o;
}

inline std::unique_ptr<Store> OpenOrDie(const std::string& path, StoreOptions o = QuietOptions()) {
  auto store = Store::Open(path, o);
  if (!store.ok()) {
    ADD_FAILURE() << "open " << path << ": " << store.status().ToString();
    return nullptr;
  }
  return std::move(store).value();
}

// All events of a reader, copied.
inline std::vector<OwnedEvent> Drain(EventReader reader) {
  std::vector<OwnedEvent> out;
  for (; reader.Valid(); reader.Next()) out.push_back(OwnedEvent::From(reader.event()));
  EXPECT_TRUE(reader.status().ok()) << reader.status().ToString();
  return out;
}

// The files of `dir` whose names end in `ext` (".log", ".sst"), sorted.
inline std::vector<std::filesystem::path> FilesEndingIn(const std::string& dir,
                                                        const std::string& ext) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ext) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Every way cairn opens a store, for "every command refuses it".
inline std::vector<StoreOptions> EveryOpenMode() {
  StoreOptions writer = QuietOptions();
  writer.create_if_missing = false;
  StoreOptions reader = writer;
  reader.read_only = true;
  StoreOptions follower = reader;
  follower.follow_writer = true;
  return {writer, reader, follower};
}

// Opens the raw RocksDB database of a closed store, runs `fn(db, families)` (the column
// families by name), and closes it again.
template <typename Fn>
void WithRawDb(const std::string& path, Fn fn) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::Options(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, cfs, &handles, &db).ok());
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name;
  for (std::size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  fn(db, by_name);
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

}  // namespace cairn::testing
