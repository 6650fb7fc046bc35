// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// The one wall clock of the library: microseconds since the Unix epoch. A store reads it
// through StoreOptions::clock_us when one is given (Store::Impl::NowUs); everything else —
// the shipper's lag and checkpoint records, dead-letter times, repair records — reads this.
#pragma once

#include <chrono>
#include <cstdint>

namespace cairn::internal {

inline std::int64_t WallClockMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace cairn::internal
