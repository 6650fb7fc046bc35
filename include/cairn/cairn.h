// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
// Everything a service needs to embed cairn.
#pragma once

#include "cairn/embedded_kafka.h"
#include "cairn/event.h"
#include "cairn/options.h"
#include "cairn/shipper.h"
#include "cairn/status.h"
#include "cairn/store.h"
#include "cairn/subscription.h"
#include "cairn/version.h"
