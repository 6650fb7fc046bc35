// Appends one event and ships it through an installed libcairn: to the cluster in
// KAFKA_BOOTSTRAP_SERVERS when set, else to an embedded Kafka.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <cairn/cairn.h>
#include <cairn/embedded_kafka.h>  // not in the umbrella header: test and demo tooling

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto store = cairn::Store::Open(argv[1]);
  if (!store.ok()) return std::puts(store.status().ToString().c_str()), 1;
  cairn::EventData e;
  e.type = "Installed";
  e.payload = "{}";
  auto r = (*store)->Append("install-1", cairn::ExpectedVersion::NoStream(), e);
  if (!r.ok()) return std::puts(r.status().ToString().c_str()), 1;
  std::printf("cairn %s: appended at position %llu\n", CAIRN_VERSION_STRING,
              static_cast<unsigned long long>(r->first_position));
  if (r->first_position != 1) return 1;
  cairn::ShipperOptions options;
  std::unique_ptr<cairn::EmbeddedKafka> embedded;
  if (const char* real = std::getenv("KAFKA_BOOTSTRAP_SERVERS"); real && *real) {
    options.bootstrap_servers = real;
    options.default_topic = "cairn-install-check";
  } else {
    auto kafka = cairn::EmbeddedKafka::Start();
    if (!kafka.ok()) return std::puts(kafka.status().ToString().c_str()), 1;
    embedded = std::move(kafka).value();
    options.bootstrap_servers = embedded->bootstrap_servers();
  }
  auto shipper = cairn::Shipper::Start(**store, options);
  if (!shipper.ok()) return std::puts(shipper.status().ToString().c_str()), 1;
  cairn::Status s = (*shipper)->WaitUntilShipped(1, std::chrono::seconds(30));
  if (!s.ok()) return std::puts(s.ToString().c_str()), 1;
  std::puts("shipped to Kafka");
  return 0;
}
