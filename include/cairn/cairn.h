// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
// Everything a service needs to embed cairn. (The in-process mock Kafka of tests and demos,
// cairn::EmbeddedKafka, is not part of it or of libcairn: include "cairn/embedded_kafka.h" and
// link cairn::embedded_kafka, or pkg-config's cairn-embedded-kafka, for that.)
#pragma once

#include "cairn/event.h"
#include "cairn/options.h"
#include "cairn/shipper.h"
#include "cairn/status.h"
#include "cairn/store.h"
#include "cairn/subscription.h"
#include "cairn/version.h"
