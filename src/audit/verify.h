// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// Store::Verify's audit (docs/guarantees.md, "Verification"): the log's envelopes and hash
// chain, the indexes against the log, the side records, over a read-only view of the store.
#pragma once

#include "cairn/store.h"
#include "store/store_view.h"

namespace cairn::audit {

// One full or partial audit of the store behind `store`. Problems found are in the report;
// an error is returned only when the audit itself could not run.
Result<VerifyReport> Verify(const store::StoreView& store, const VerifyOptions& options);

}  // namespace cairn::audit
