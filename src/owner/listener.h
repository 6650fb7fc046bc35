// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The owner's side of the owner socket (StoreOptions::owner_socket): a listener in the store
// directory that carries out, on the open store, the writes other processes send
// (protocol.h). One thread accepts; each connection has a thread of its own and its requests
// are answered in order: appends that arrive together are submitted together
// (AppendMultiAsync: one group, one sync), anything else runs alone. Claims a connection takes on
// checkpoints are released when it closes, so a client killed -9 never leaves a checkpoint claimed.
#pragma once

#include <memory>
#include <string>

#include <spdlog/fwd.h>

#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn::owner {

class Listener {
 public:
  // Listens on <dir>/owner.sock for `store` (which must outlive the listener). A socket file
  // left there by a dead owner is replaced; a live listener there, or a file that is not a
  // socket, is left alone and refused with an error naming it.
  static Result<std::unique_ptr<Listener>> Start(Store& store, const std::string& dir,
                                                 std::shared_ptr<spdlog::logger> logger);
  // Stops accepting, ends every connection (a request in progress finishes first), removes
  // the socket file.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  class Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::owner
