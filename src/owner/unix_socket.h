// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The owner socket's place and its peer (docs/guarantees.md, "Writing beside the owner"): the
// socket file in the store directory, reached by a path short enough for sockaddr_un however
// long the store's path is, and who is on the other end of a connection.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/status.h"

namespace cairn::owner {

// "<dir>/owner.sock".
std::string SocketPath(const std::string& dir);

// Connects to the owner socket of store `dir`. kNotFound when there is no socket file,
// kUnavailable when nobody listens on it (a dead owner's leftover), kFailedPrecondition when
// the path is not a socket, kIOError otherwise. The descriptor is close-on-exec.
Result<int> Connect(const std::string& dir);

// Binds and listens on the owner socket of store `dir`, which must not exist. The socket
// file's mode follows the directory's: the classes (user, group, other) that may write the
// directory may read and write the socket, no one else.
Result<int> Listen(const std::string& dir);

// The process on the other end of a connected Unix socket; 0 when the kernel does not say.
std::int64_t PeerPid(int fd);

// The process holding store `dir`'s writer lock (RocksDB's fcntl lock on <dir>/LOCK), this one
// included: its pid, 0 when nobody holds it, -1 when it cannot be told.
std::int64_t LockHolderPid(const std::string& dir);

}  // namespace cairn::owner
