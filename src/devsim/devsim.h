// parley-devsim: the device emulator process. RunDevsim builds the workload,
// serves the emulated DMA REST API (and, with an RPRM listen address, the
// emulated RPRM on a port of its own) over HTTPS until SIGTERM/SIGINT, then
// drains. The CLI (src/cli/parley_devsim_main.cpp) only parses arguments.
//
// Files it owns: `tls_dir`/devsim.key (0600) and devsim.crt, a self-signed
// P-256 certificate for localhost/127.0.0.1 made on first start and reused
// afterwards (both listeners use it); `port_file` and `rprm_port_file` (the
// bound ports, written atomically once listening); `print_expected` (NDJSON
// of the history, written before serving). Logs carry counts and ports,
// never the emulated personal data.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "devsim/dma_api.h"
#include "devsim/rprm_api.h"

namespace parley::devsim {

struct DevsimOptions {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 9443;                 // 0: pick a free port (see port_file)
  uint64_t seed = 42;
  int history_days = 2;
  std::optional<int64_t> calls;                // exact history size
  bool live = false;
  std::optional<int64_t> origin_unix;          // default: the current time
  std::filesystem::path tls_dir;               // required
  std::filesystem::path credentials_file;      // "user:password"; empty: parley + $PARLEY_DEVSIM_PASSWORD
  std::filesystem::path port_file;             // optional
  std::filesystem::path print_expected;        // optional
  std::string log_level = "info";
  // RPRM: served only when rprm_listen_host is set.
  std::string rprm_listen_host;                // "" = no RPRM listener
  uint16_t rprm_listen_port = 0;
  std::filesystem::path rprm_port_file;        // optional
  std::filesystem::path rprm_credentials_file; // empty: the DMA's credentials
  // Fault rules for both APIs (each counts its own requests).
  std::vector<FaultRule> faults;
  std::chrono::milliseconds fault_delay{3000};
  int retry_after_s = 5;
  // Serialize the DMA's history call list entries at start, before serving
  // (MakeDmaHandler): benchmarks.
  bool prerender_history = false;
};

// Exit codes: 0 clean stop, 1 runtime failure, 2 bad options or files.
int RunDevsim(const DevsimOptions& options);

// Reads one "user:password" line from a file only its owner can read, or,
// with an empty path, user "parley" and $PARLEY_DEVSIM_PASSWORD.
Result<Credentials> LoadCredentials(const std::filesystem::path& file);

struct TlsFiles {
  std::filesystem::path key_file;
  std::filesystem::path cert_file;
};
// Creates tls_dir (0700) and the key/cert pair if absent; reuses them if both
// exist; refuses a half-present pair or a key others can read.
Result<TlsFiles> EnsureTlsFiles(const std::filesystem::path& tls_dir);

// The NDJSON --print-expected writes: one ExpectedLine per history call.
std::string RenderExpected(const Workload& workload);

}  // namespace parley::devsim
