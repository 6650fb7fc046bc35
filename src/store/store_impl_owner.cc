// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// A store handle that writes through another process (StoreOptions::through_owner): the
// open as a follower of the owner, the check that the owner's socket answers for this very
// store, and the catch-up after each write so the caller reads what it wrote. The protocol
// and both ends of the socket are in src/owner/.
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "store/store_impl.h"

namespace cairn {

Result<std::unique_ptr<Store>> Store::Impl::OpenThroughOwner(const std::string& path,
                                                             const StoreOptions& options,
                                                             const Status& busy) {
  StoreOptions follower = options;
  follower.read_only = true;
  follower.follow_writer = true;
  follower.create_if_missing = false;
  follower.owner_socket = false;
  follower.through_owner = false;
  // The owner's socket first, the follower only once there is an owner to write through.
  // Opened first, the follower raced a writer still recovering its log — another `cairn
  // append` creating the same store — and read the store as "not a cairn store" (found by the
  // CLI fuzz's three creators). An owner with a socket has finished opening.
  auto follower_of_client = std::make_shared<std::atomic<Impl*>>(nullptr);
  owner::Client::Options co;
  co.max_async_appends = options.max_async_appends;
  co.async_appends_block = options.async_appends_block;
  co.after_write = [follower_of_client](std::uint64_t position) {
    if (Impl* follower_impl = follower_of_client->load()) follower_impl->CatchUpWithOwner(position);
  };
  auto client = owner::Client::Connect(path, std::move(co));
  if (!client.ok()) {
    if (client.status().code() == StatusCode::kUnavailable)
      return Status::Busy(fmt::format(
          "{}; that process takes no writes from others ({}: it did not open the store with "
          "an owner socket, StoreOptions::owner_socket; `cairn serve` and `cairn ship` do)",
          busy.message(), client.status().message()));
    return client.status();
  }
  auto impl = Open(path, follower, /*repairing=*/false, nullptr);
  if (!impl.ok()) return impl.status();
  follower_of_client->store(impl->get());
  if (const std::string id = (*impl)->store_id_.ToString(); (*client)->owner().store_id != id) {
    follower_of_client->store(nullptr);
    (void)(*impl)->Close();
    return Status::FailedPrecondition(fmt::format(
        "the owner socket of {} answers for store {}, but the directory holds store {}: "
        "nothing was sent to it",
        path, (*client)->owner().store_id, id));
  }
  (*impl)->owner_client_ = std::move(client).value();
  (*impl)->logger_->debug("store {}: writing through its owner, pid {}", path,
                          (*impl)->owner_client_->owner().pid);
  return std::unique_ptr<Store>(new Store(std::move(impl).value()));
}

void Store::Impl::CatchUpWithOwner(std::uint64_t position) {
  // The owner answered after its write was in its write-ahead log, which a catch-up reads;
  // the retries cover a log file the owner switched to meanwhile.
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto head = Refresh();
    if (!head.ok()) {
      logger_->warn("store {}: catching up with the owner after a write: {}", path_,
                    head.status().ToString());
      return;
    }
    if (position == 0 || *head >= position) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  logger_->warn("store {}: the owner stored position {}, but this handle reads only up to {}",
                path_, position, head_.position());
}

}  // namespace cairn
