// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// A client.properties written for Kafka's Java clients, translated for librdkafka: the `cairn`
// tool's -F/--command-config. Internal: a library user hands ShipperOptions::kafka_config
// librdkafka's settings (cairn::ParseClientProperties reads them from a file's text).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn::ship {

// A client.properties written for Kafka's Java clients, made fit for librdkafka: settings
// `librdkafka_knows` are kept as they are; `sasl.jaas.config` with a PLAIN or SCRAM login
// becomes sasl.username and sasl.password; every other Java-only key (key.serializer,
// ssl.truststore.location, ...) is dropped with one line in `warnings` each, so a file that
// works for Kafka's own tools never fails here.
std::vector<std::pair<std::string, std::string>> TranslateJavaClientProperties(
    const std::vector<std::pair<std::string, std::string>>& properties,
    const std::function<bool(const std::string& key)>& librdkafka_knows,
    std::vector<std::string>* warnings);

}  // namespace cairn::ship
