// Appends one event and ships it to an embedded Kafka through an installed libcairn.
#include <cstdio>
#include <filesystem>

#include <cairn/cairn.h>

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
  auto kafka = cairn::EmbeddedKafka::Start();
  if (!kafka.ok()) return std::puts(kafka.status().ToString().c_str()), 1;
  cairn::ShipperOptions options;
  options.bootstrap_servers = (*kafka)->bootstrap_servers();
  auto shipper = cairn::Shipper::Start(**store, options);
  if (!shipper.ok()) return std::puts(shipper.status().ToString().c_str()), 1;
  cairn::Status s = (*shipper)->WaitUntilShipped(1, std::chrono::seconds(30));
  if (!s.ok()) return std::puts(s.ToString().c_str()), 1;
  std::puts("shipped to Kafka");
  return 0;
}
