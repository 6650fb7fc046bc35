// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Judging a store's directory before RocksDB opens it, and the creation lock
// (store_directory.h).
#include "store/store_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

namespace cairn::store {
namespace {

namespace fs = std::filesystem;

// RocksDB's own files: a directory holding them but no CURRENT is a damaged database, not a
// foreign directory.
bool LooksLikeRocksFile(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.starts_with("MANIFEST-") || name == "IDENTITY" || name.starts_with("OPTIONS-") ||
         p.extension() == ".sst" || p.extension() == ".log";
}

// Permission problems named as such (RocksDB would call them a missing database or a held
// lock). Writers need to create files in the directory; readers need to list and read it.
Status CheckAccess(const std::string& path, bool writer) {
  const int mode = writer ? (R_OK | W_OK | X_OK) : (R_OK | X_OK);
  if (::access(path.c_str(), mode) != 0) {
    if (errno == EACCES)
      return Status::IOError(fmt::format("permission denied: cannot {} store directory {}",
                                         writer ? "write to" : "read", path));
    // RocksDB would fail on its LOCK file, which reads like another writer holding it.
    if (errno == EROFS)
      return Status::IOError(fmt::format(
          "store directory {} is on a read-only file system: a writer cannot open it (readers "
          "can: cairn's audit commands, StoreOptions::read_only)",
          path));
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().filename() == "LOCK") continue;
    if (::access(entry.path().c_str(), R_OK) != 0 && errno == EACCES)
      return Status::IOError(
          fmt::format("permission denied: cannot read {}", entry.path().string()));
  }
  return Status::Ok();
}

// An existing directory without CURRENT: damage when RocksDB files are there (and no
// creation was under way), else an interrupted creation, an empty directory or a foreign one.
Status CheckDirectoryWithoutDatabase(const std::string& path, const StoreOptions& options,
                                     bool interrupted) {
  std::error_code ec;
  // A creation that began since the caller looked is no damage and no foreign directory
  // (readers racing a creator found it: kCreatingDir appeared between the looks). So what
  // is found is judged only if neither kCreatingDir nor a finished store's CURRENT is there
  // after it was found.
  auto creation_began = [&] {
    return fs::exists(fs::path(path) / kCreatingDir, ec) || HasDatabase(path);
  };
  if (!interrupted) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (LooksLikeRocksFile(entry.path()) && !creation_began())
        return Status::Corruption(fmt::format(
            "store {} is damaged: its CURRENT file is missing, though RocksDB files such as {} "
            "are there; restore the store from a backup (docs/guarantees.md)",
            path, entry.path().filename().string()));
    }
  }
  // A directory without CURRENT that holds kCreatingDir is a creation a crash interrupted (or
  // one under way): the writer that will create the store — it holds the creation lock, so
  // no creator is at work — starts it over. Any other opener leaves it alone.
  if (interrupted && options.create_if_missing && !options.read_only) {
    for (const auto& entry : fs::directory_iterator(path, ec)) fs::remove_all(entry.path(), ec);
  }
  if (!interrupted && !fs::is_empty(path, ec) && !creation_began())
    return Status::FailedPrecondition(fmt::format(
        "{} is not a cairn store: the directory is not empty and holds no database", path));
  return Status::Ok();
}

}  // namespace

Result<StoreDirectory> PrepareStoreDirectory(const std::string& path, const StoreOptions& options) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (ec == std::errc::permission_denied)
    return Status::IOError(fmt::format(
        "permission denied: cannot reach store directory {} (a directory on its path is not "
        "searchable by this user)",
        path));
  if (exists && !fs::is_directory(path, ec))
    return Status::FailedPrecondition(fmt::format("{} is not a directory", path));
  if (exists) {
    if (Status s = CheckAccess(path, !options.read_only); !s.ok()) return s;
  }
  StoreDirectory dir{false, path};
  if (exists && fs::exists(fs::path(path) / "CURRENT", ec)) return dir;
  const bool interrupted = exists && fs::exists(fs::path(path) / kCreatingDir, ec);
  // A creator may have published its store (CURRENT in place, kCreatingDir gone) between the
  // two looks: without a third, the finished store would read as a foreign directory.
  if (exists && !interrupted && HasDatabase(path)) return dir;
  if (exists) {
    if (Status s = CheckDirectoryWithoutDatabase(path, options, interrupted); !s.ok()) return s;
  }
  if (!options.create_if_missing || options.read_only) {
    if (!interrupted) return Status::NotFound(fmt::format("no cairn store at {}", path));
    if (CreationUnderWay(path))
      return Status::NotFound(
          fmt::format("no cairn store at {} yet: another process is creating it", path));
    return Status::NotFound(fmt::format(
        "no cairn store at {}: its creation was interrupted (opening it for writing creates "
        "it again)",
        path));
  }
  // A new store is built in a subdirectory and its files moved up once its metadata is on
  // disk, RocksDB's CURRENT last: a crash while creating leaves either no database or a
  // whole store — never a RocksDB database without cairn's metadata, which would be refused
  // as foreign forever (found by the crash loop, killing a writer during its first open).
  // The subdirectory keeps it on the store's file system (the store may be a mount point).
  dir.fresh = true;
  dir.db_path = (fs::path(path) / kCreatingDir).string();
  fs::remove_all(dir.db_path, ec);  // what an interrupted creation left
  fs::create_directories(dir.db_path, ec);
  if (ec)
    return Status::IOError(
        fmt::format("cannot create store directory {}: {}", dir.db_path, ec.message()));
  return dir;
}

Result<CreationLock> CreationLock::Take(const std::string& path) {
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    return Status::FailedPrecondition(fmt::format("{} is not a directory", path));
  fs::create_directories(path, ec);
  if (ec && !fs::is_directory(path))
    return Status::IOError(fmt::format("cannot create store directory {}: {}", path, ec.message()));
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Status::IOError(
        fmt::format("cannot open store directory {}: {}", path, std::strerror(errno)));
  int r;
  do {
    r = ::flock(fd, LOCK_EX);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(
        fmt::format("cannot lock store directory {} to create it: {}", path, std::strerror(err)));
  }
  return CreationLock(fd);
}

CreationLock::~CreationLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

bool CreationUnderWay(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  // A shared lock conflicts only with the creator's exclusive one, so probing readers never
  // hold each other up; a creator arriving meanwhile waits the instant this takes.
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

bool HasDatabase(const std::string& path) {
  std::error_code ec;
  return fs::exists(fs::path(path) / "CURRENT", ec);
}

Status CheckManifest(const std::string& path) {
  std::ifstream current(fs::path(path) / "CURRENT");
  std::string manifest;
  std::getline(current, manifest);
  std::error_code ec;
  const fs::path mpath = fs::path(path) / manifest;
  if (!manifest.empty() && fs::exists(mpath, ec) && fs::file_size(mpath, ec) > 0)
    return Status::Ok();
  return Status::Corruption(
      fmt::format("store {} is damaged: its MANIFEST {} is {}; restore the store from a backup "
                  "(docs/guarantees.md)",
                  path, manifest.empty() ? "(named in CURRENT)" : mpath.string(),
                  manifest.empty()        ? "not named in CURRENT"
                  : fs::exists(mpath, ec) ? "empty"
                                          : "missing"));
}

void SyncDirectory(const std::string& dir) {
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

namespace {

Status SyncFile(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    return Status::IOError(fmt::format("syncing {}: {}", file.string(), std::strerror(err)));
  }
  ::close(fd);
  return Status::Ok();
}

}  // namespace

Status CopyStoreFiles(const std::string& from, const std::string& to) {
  std::error_code ec;
  if (fs::exists(to, ec))
    return Status::InvalidArgument(fmt::format("{} already exists: nothing is copied over it", to));
  fs::create_directories(to, ec);
  if (ec) return Status::IOError(fmt::format("cannot create {}: {}", to, ec.message()));
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    // The lock and an owner's socket (src/owner/) belong to the process, not the data.
    if (entry.path().filename() == "LOCK" || entry.is_socket(ec)) continue;
    const fs::path target = fs::path(to) / entry.path().filename();
    fs::copy(entry.path(), target, fs::copy_options::recursive | fs::copy_options::copy_symlinks,
             ec);
    if (ec)
      return Status::IOError(
          fmt::format("copying {} to {}: {}", entry.path().string(), to, ec.message()));
    if (entry.is_regular_file(ec))
      if (Status s = SyncFile(target); !s.ok()) return s;
  }
  if (ec) return Status::IOError(fmt::format("listing {}: {}", from, ec.message()));
  SyncDirectory(to);
  return Status::Ok();
}

}  // namespace cairn::store
