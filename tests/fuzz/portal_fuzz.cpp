// Fuzzes the portal's request handling end to end (without sockets): the
// request target (Boost.URL), the Cookie header, the login JSON and the calls
// API's cursor and limit, against a real SQLite store with one tenant.
// Input layout: method byte, then target, cookie and body separated by '\n'.
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "crypto/crypto.h"
#include "http/http.h"
#include "portal/accounts.h"
#include "portal/portal.h"
#include "support/fake_clock.h"

namespace {

struct World {
  World() {
    parley::crypto::UseMinimalPasswordHashCostForTests();
    char tmpl[] = "/tmp/parley-portal-fuzz-XXXXXX";
    dir = mkdtemp(tmpl);
    store = std::move(parley::store::OpenStore("sqlite:" + (dir / "f.db").string())).value();
    master.emplace(parley::crypto::MasterKey::FromBytesForTest(parley::crypto::RandomKey()));
    keys = std::make_unique<parley::privacy::KeyRing>(*store, *master);
    auto tenant = parley::portal::CreateTenant(*store, *keys, "Fuzz", {"fuzz.example"}, 0);
    (void)parley::portal::CreateUser(*store, *keys, tenant->id, "a@fuzz.example", "quantum pebble harbour 1",
                                     parley::store::Role::kTenantAdmin, 0);
    parley::portal::PortalOptions options;
    options.public_url = "https://fuzz.example";
    portal = std::make_unique<parley::portal::Portal>(*store, *keys, clock, options);
  }
  ~World() { std::filesystem::remove_all(dir); }
  std::filesystem::path dir;
  parley::testing::FakeClock clock{1'800'000'000};
  std::unique_ptr<parley::store::Store> store;
  std::optional<parley::crypto::MasterKey> master;
  std::unique_ptr<parley::privacy::KeyRing> keys;
  std::unique_ptr<parley::portal::Portal> portal;
};

std::string_view NextLine(std::string_view& rest) {
  auto nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size < 1) return 0;
  static const char* kMethods[] = {"GET", "POST", "HEAD", "PUT"};
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  parley::http::Request r;
  r.method = kMethods[data[0] % 4];
  r.target = std::string(NextLine(rest));
  if (r.target.empty() || r.target[0] != '/') r.target = "/api/v1/calls?cursor=" + r.target;
  r.headers["cookie"] = std::string(NextLine(rest));
  r.headers["content-type"] = "application/json";
  r.headers["x-csrf-token"] = "x";
  r.body = std::string(rest);
  r.remote_address = "192.0.2.9";
  if (!parley::http::ParseTarget(r.target, r.path, r.query).ok()) return 0;
  (void)r.Cookie(parley::portal::kSessionCookie);
  (void)world.portal->Handle(r);
  return 0;
}
