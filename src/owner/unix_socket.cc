// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The owner socket's file and peer checks (unix_socket.h).
#include "owner/unix_socket.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "owner/protocol.h"

namespace cairn::owner {
namespace {

// A sockaddr_un for the socket in `dir`. A path too long for sun_path (108 bytes) is reached
// through /proc/self/fd/<fd of dir>/owner.sock, which the kernel resolves like the real path;
// the directory descriptor stays open while the address is used.
class Address {
 public:
  explicit Address(const std::string& dir) {
    std::string path = SocketPath(dir);
    if (path.size() >= sizeof(addr_.sun_path)) {
      dir_fd_ = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      path = fmt::format("/proc/self/fd/{}/{}", dir_fd_, kSocketName);
    }
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, path.data(), path.size());
  }
  ~Address() {
    if (dir_fd_ >= 0) ::close(dir_fd_);
  }
  Address(const Address&) = delete;
  Address& operator=(const Address&) = delete;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&addr_); }
  socklen_t size() const { return sizeof(addr_); }

 private:
  sockaddr_un addr_{};
  int dir_fd_ = -1;
};

// rw for each class that may write `dir`; the owner always.
mode_t SocketMode(const std::string& dir) {
  struct stat st {};
  mode_t mode = S_IRUSR | S_IWUSR;
  if (::stat(dir.c_str(), &st) != 0) return mode;
  if (st.st_mode & S_IWGRP) mode |= S_IRGRP | S_IWGRP;
  if (st.st_mode & S_IWOTH) mode |= S_IROTH | S_IWOTH;
  return mode;
}

}  // namespace

std::string SocketPath(const std::string& dir) { return fmt::format("{}/{}", dir, kSocketName); }

Result<int> Connect(const std::string& dir) {
  const std::string path = SocketPath(dir);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return Status::NotFound(fmt::format("no owner socket at {}", path));
  if (!S_ISSOCK(st.st_mode))
    return Status::FailedPrecondition(fmt::format("{} is not a socket", path));
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(fmt::format("socket: {}", std::strerror(errno)));
  Address addr(dir);
  while (::connect(fd, addr.get(), addr.size()) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    if (err == ECONNREFUSED || err == ENOENT)
      return Status::Unavailable(fmt::format("nobody listens on {}", path));
    return Status::IOError(fmt::format("connecting to {}: {}", path, std::strerror(err)));
  }
  return fd;
}

Result<int> Listen(const std::string& dir) {
  const std::string path = SocketPath(dir);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IOError(fmt::format("socket: {}", std::strerror(errno)));
  Address addr(dir);
  if (::bind(fd, addr.get(), addr.size()) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(fmt::format("cannot listen on {}: {}", path, std::strerror(err)));
  }
  // Until the mode is set, the umask's mode applies; the directory's permissions guard the
  // path meanwhile (a connect needs search permission on it).
  if (::chmod(path.c_str(), SocketMode(dir)) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return Status::IOError(fmt::format("cannot listen on {}: {}", path, std::strerror(err)));
  }
  return fd;
}

std::int64_t PeerPid(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

std::int64_t LockHolderPid(const std::string& dir) {
  // Read from /proc/locks, never by opening the lock file: closing any descriptor of a file
  // drops every POSIX lock this process holds on it, so an F_GETLK probe would release the
  // lock of an owner in this very process.
  struct stat st {};
  if (::stat((dir + "/LOCK").c_str(), &st) != 0) return -1;
  std::FILE* f = std::fopen("/proc/locks", "re");
  if (f == nullptr) return -1;
  const std::string file_id =
      fmt::format("{:02x}:{:02x}:{}", major(st.st_dev), minor(st.st_dev), st.st_ino);
  std::int64_t holder = 0;
  char line[512];
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    // "1: POSIX  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; blocked waiters start with "->".
    char kind[16], mode[16], access[16], id[64];
    long long pid = 0;
    if (std::sscanf(line, "%*d: %15s %15s %15s %lld %63s", kind, mode, access, &pid, id) != 5)
      continue;
    if (std::strcmp(kind, "POSIX") == 0 && std::strcmp(access, "WRITE") == 0 && id == file_id) {
      holder = pid;
      break;
    }
  }
  std::fclose(f);
  return holder;
}

}  // namespace cairn::owner
