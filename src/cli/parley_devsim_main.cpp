// parley-devsim: emulates the REST APIs of a Poly RealPresence DMA (and,
// with --rprm-listen, a RealPresence Resource Manager) with a seeded workload
// (docs/devsim.md). Thin main: parse, then RunDevsim.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "common/server_config.h"
#include "common/time_format.h"
#include "devsim/devsim.h"

int main(int argc, char** argv) {
  CLI::App app{"parley-devsim: Poly RealPresence DMA and RPRM REST emulator with a seeded, realistic workload"};
  std::string listen = "127.0.0.1:9443";
  std::string origin;
  int64_t calls = -1;
  std::string tls_dir, credentials_file, port_file, print_expected;
  std::string rprm_listen, rprm_port_file, rprm_credentials_file;
  std::vector<std::string> faults;
  int64_t fault_delay_ms = 3000;
  parley::devsim::DevsimOptions options;
  app.add_option("--listen", listen, "host:port to serve the emulated DMA on (HTTPS; port 0 picks a free one)")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "workload seed: the same seed gives the same calls")->capture_default_str();
  app.add_option("--history-days", options.history_days, "days of history before start (0-400)")
      ->capture_default_str();
  app.add_option("--calls", calls, "exact number of history calls (spread over --history-days)");
  app.add_flag("--live", options.live,
               "calls start and end in real time after start (active calls, conferences, usage)");
  app.add_option("--origin", origin,
                 "emulated start time, RFC 3339 (default: now); a fixed origin makes runs reproducible");
  app.add_option("--tls-dir", tls_dir, "directory for devsim.key/devsim.crt (made on first start)")->required();
  app.add_option("--credentials-file", credentials_file,
                 "file holding one line user:password, mode 0600 (default: user parley, "
                 "password from $PARLEY_DEVSIM_PASSWORD)");
  app.add_option("--port-file", port_file, "write the DMA listener's bound port here once listening");
  app.add_option("--print-expected", print_expected, "write NDJSON of every history call here before serving");
  app.add_option("--rprm-listen", rprm_listen,
                 "host:port to serve the emulated RPRM on (HTTPS, its own port; off unless given; port 0 picks one)");
  app.add_option("--rprm-port-file", rprm_port_file, "write the RPRM listener's bound port here once listening");
  app.add_option("--rprm-credentials-file", rprm_credentials_file,
                 "user:password file for the RPRM, mode 0600 (default: the DMA's credentials)");
  app.add_option("--fault", faults,
                 "standing fault KIND[/N]: 401, 429, 500, slow, malformed or repeat, on every N-th request "
                 "(default every request) to each API; repeatable");
  app.add_option("--fault-delay-ms", fault_delay_ms, "delay of the slow fault, ms (0-120000)")->capture_default_str();
  app.add_option("--retry-after", options.retry_after_s, "Retry-After seconds sent with the 429 fault")
      ->capture_default_str();
  app.add_flag("--prerender-history", options.prerender_history,
               "serialize the DMA's history call list once at start, before serving (benchmarks: ~1 KB a call)");
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
  if (!rprm_listen.empty()) {
    auto rprm = parley::ParseListen(rprm_listen, "--rprm-listen");
    if (!rprm.ok()) {
      std::fprintf(stderr, "parley-devsim: %s\n", rprm.error().detail.c_str());
      return 2;
    }
    options.rprm_listen_host = rprm->first;
    options.rprm_listen_port = rprm->second;
  }
  for (const std::string& spec : faults) {
    auto rule = parley::devsim::ParseFaultRule(spec);
    if (!rule.ok()) {
      std::fprintf(stderr, "parley-devsim: --fault: %s\n", rule.error().detail.c_str());
      return 2;
    }
    options.faults.push_back(*rule);
  }
  if (fault_delay_ms < 0 || fault_delay_ms > parley::devsim::kMaxFaultDelay.count()) {
    std::fprintf(stderr, "parley-devsim: --fault-delay-ms: must be between 0 and 120000\n");
    return 2;
  }
  options.fault_delay = std::chrono::milliseconds(fault_delay_ms);
  options.rprm_port_file = rprm_port_file;
  options.rprm_credentials_file = rprm_credentials_file;
  options.tls_dir = tls_dir;
  options.credentials_file = credentials_file;
  options.port_file = port_file;
  options.print_expected = print_expected;
  return parley::devsim::RunDevsim(options);
}
