// The agent's entry points: Enroll (one-time identity set-up) and Run (the
// collection loop). docs/agent.md describes both for operators.
//
// Run's shape: threads share a BatchQueue (uploader.h) and a per-source
// state table (agent_loop.h has the loop with its parts injected).
//   collecting threads, one per source (a source that fails, throws or hangs
//     holds up no other): takes a queue slot, fetches one page after the
//     source's in-memory cursor, builds the batch, queues it and advances the
//     cursor; a caught-up or failed source rests poll_interval.
//   uploading thread: uploads batches in order with the same Idempotency-Key
//     on every retry; 429/503 honour Retry-After; network errors and 5xx back
//     off (full jitter, capped) and, once the server answers again, re-read
//     the cursors: the server's cursor is the truth. A batch the server
//     refuses (4xx) marks the source failing and resets it to the server's
//     cursor after a poll interval (no tight resend loop).
//   heartbeat thread: at start, then every heartbeat_interval.
// Nothing collected is ever written to disk.
//
// StopSignal is thread-safe; Run returns after Request() once the threads
// have finished their current step (an HTTP transfer in progress is aborted;
// a source stuck in a system call for more than 10 s is left behind).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "agent/config.h"
#include "common/result.h"

namespace parley::agent {

class StopSignal {
 public:
  void Request();
  bool requested() const { return flag_.load(); }
  // Sleeps up to `d`; returns true if stop was requested (early or not).
  bool WaitFor(std::chrono::duration<double> d);
  // Blocks until Request().
  void Wait();
  // For HttpClient's abort hook; lives as long as the StopSignal.
  const std::atomic<bool>& flag() const { return flag_; }

 private:
  std::atomic<bool> flag_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

// Blocks SIGINT and SIGTERM in the calling thread (and the threads it starts
// afterwards) and starts a thread that turns them into stop.Request().
// Call from main() before Run. `stop` must live until the process exits.
void StopOnSignals(StopSignal& stop);

struct EnrollOptions {
  std::string server_url;        // https://host:port
  std::filesystem::path ca_file; // CA that verifies the server; copied to DIR/server-ca.crt
  std::filesystem::path dir;     // created if missing
  std::string name;              // defaults to the host name
  std::string token;             // one-time token (secret; never from argv)
};

struct EnrollResult {
  std::string agent_id;
  std::filesystem::path config_file;
  bool config_written = false;   // false if DIR/agent.toml already existed
};

// Generates an EC P-256 key (DIR/agent.key, mode 0600) and a CSR, enrolls,
// writes DIR/agent.crt and DIR/server-ca.crt, and DIR/agent.toml if missing.
// Refuses to overwrite an existing DIR/agent.crt.
Result<EnrollResult> Enroll(const EnrollOptions& options);

// `parley-agent check`: one row for the server (files, TLS, client
// certificate: GET cursors) and one per source (built from the config, then
// Collector::Probe after the server's cursor); uploads nothing, moves no
// cursor. target is a host[:port] or a directory, never credentials; detail
// says what was found or what to fix ("401 Unauthorized: check
// username/password_file", "TLS: certificate not trusted (pin mismatch)").
struct CheckRow {
  std::string name;    // "server" or the source's name
  std::string type;    // "server" or the collector type
  std::string target;
  std::string result;  // "OK" or "FAIL"
  std::string detail;
};
std::vector<CheckRow> Check(const AgentConfig& config);
bool AllChecksOk(const std::vector<CheckRow>& rows);
// Aligned columns NAME TYPE TARGET RESULT DETAIL, one line per row.
std::string FormatCheckTable(const std::vector<CheckRow>& rows);

// Runs the collection loop until stop is requested. Returns Ok on a clean
// stop, kConfig when a file named by the config is missing or not private.
Status Run(const AgentConfig& config, StopSignal& stop);

}  // namespace parley::agent
