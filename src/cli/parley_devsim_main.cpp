// parley-devsim: emulates a Poly RealPresence DMA's REST call history with a
// seeded workload (docs/devsim.md). Thin main: parse, then RunDevsim.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "common/server_config.h"
#include "common/time_format.h"
#include "devsim/devsim.h"

int main(int argc, char** argv) {
  CLI::App app{"parley-devsim: Poly RealPresence DMA REST emulator with a seeded, realistic call workload"};
  std::string listen = "127.0.0.1:9443";
  std::string origin;
  int64_t calls = -1;
  std::string tls_dir, credentials_file, port_file, print_expected;
  parley::devsim::DevsimOptions options;
  app.add_option("--listen", listen, "host:port to serve HTTPS on (port 0 picks a free one)")->capture_default_str();
  app.add_option("--seed", options.seed, "workload seed: the same seed gives the same calls")->capture_default_str();
  app.add_option("--history-days", options.history_days, "days of call history before start (0-400)")
      ->capture_default_str();
  app.add_option("--calls", calls, "exact number of history calls (spread over --history-days)");
  app.add_flag("--live", options.live, "keep generating calls as real time passes");
  app.add_option("--origin", origin,
                 "emulated start time, RFC 3339 (default: now); a fixed origin makes runs reproducible");
  app.add_option("--tls-dir", tls_dir, "directory for devsim.key/devsim.crt (made on first start)")->required();
  app.add_option("--credentials-file", credentials_file,
                 "file holding one line user:password, mode 0600 (default: user parley, "
                 "password from $PARLEY_DEVSIM_PASSWORD)");
  app.add_option("--port-file", port_file, "write the bound port here once listening");
  app.add_option("--print-expected", print_expected, "write NDJSON of every history call here before serving");
  app.add_option("--log-level", options.log_level, "trace, debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);

  auto listen_parsed = parley::ParseListen(listen, "--listen");
  if (!listen_parsed.ok()) {
    std::fprintf(stderr, "parley-devsim: %s\n", listen_parsed.error().detail.c_str());
    return 2;
  }
  options.listen_host = listen_parsed->first;
  options.listen_port = listen_parsed->second;
  if (calls >= 0) options.calls = calls;
  if (!origin.empty()) {
    auto t = parley::ParseRfc3339(origin);
    if (!t) {
      std::fprintf(stderr, "parley-devsim: --origin: expected an RFC 3339 time such as 2026-12-04T16:00:00Z\n");
      return 2;
    }
    options.origin_unix = *t;
  }
  options.tls_dir = tls_dir;
  options.credentials_file = credentials_file;
  options.port_file = port_file;
  options.print_expected = print_expected;
  return parley::devsim::RunDevsim(options);
}
