// Appends and reads back one event through an installed libcairn.
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
  return r->first_position == 1 ? 0 : 1;
}
