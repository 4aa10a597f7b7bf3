// The ingest service: the server side of wire protocol v1 (docs/formats/wire-v1.md)
// served on the mutual-TLS listener.
//
//   POST /ingest/v1/enroll     one-time token + CSR -> client certificate (no client cert yet)
//   GET  /ingest/v1/cursors    the calling agent's per-source high-water marks
//   POST /ingest/v1/batches    NDJSON batch: digest, schema, seal personal data, commit atomically
//   POST /ingest/v1/heartbeat  agent version, uptime, per-source health
//
// Every route but enroll identifies the agent by its verified client
// certificate (SHA-256 fingerprint -> agents row -> tenant). Thread-safe; the
// store, key ring, CA and clock outlive the service.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <span>
#include <string>

#include "common/clock.h"
#include "crypto/pki.h"
#include "http/http.h"
#include "ingest/in_flight_batches.h"
#include "privacy/pii.h"
#include "store/store.h"
#include "wire/wire.h"

namespace parley::ingest {

struct IngestLimits {
  int64_t max_records_per_batch = 20000;
  // Records with times before 2000-01-01 or later than now + this are
  // refused on their own and counted in the tenant's quarantine.
  int64_t future_tolerance_seconds = 86400;
  // Per-agent token bucket for batches: the average rate and the burst.
  int64_t agent_batches_per_second = 20;
  int64_t agent_burst_batches = 60;
  int64_t max_decompressed_bytes = 64 << 20;  // zstd bodies may not expand past this
  int client_cert_days = 825;
};

// The earliest record time ingest accepts: 2000-01-01T00:00:00Z. Call
// records of video systems start long after; an earlier time is a device
// clock that was never set.
inline constexpr int64_t kEarliestRecordTime = 946684800;

class IngestService {
 public:
  IngestService(store::Store& store, privacy::KeyRing& keys, crypto::KeyAndCert agent_ca, Clock& clock,
                IngestLimits limits);

  http::Response Handle(const http::Request& request);

  // Refuse new batches from now on (503 + Retry-After); used while draining.
  void StopAccepting() { accepting_ = false; }

  // Route table, for the OpenAPI document.
  struct RouteInfo {
    const char* method;
    const char* path;
    const char* summary;
    bool needs_client_cert;
  };
  static std::span<const RouteInfo> Routes();

 private:
  http::Response Enroll(const http::Request& request);
  http::Response Cursors(const store::Agent& agent);
  http::Response Batches(const http::Request& request, const store::Agent& agent);
  http::Response Heartbeat(const http::Request& request, const store::Agent& agent);
  Result<store::Agent> AuthenticateAgent(const http::Request& request);
  // 0 if the agent may send a batch now, else the seconds to wait.
  int64_t TakeBatchToken(const std::string& agent_id);

  store::Store& store_;
  privacy::KeyRing& keys_;
  crypto::KeyAndCert agent_ca_;
  Clock& clock_;
  IngestLimits limits_;
  std::atomic<bool> accepting_{true};
  // Per-agent token buckets (this server instance's share of the agent's
  // traffic; with several instances behind a balancer each enforces its own).
  struct Bucket {
    double tokens = 0;
    double updated_at = 0;  // seconds, monotonic
  };
  std::mutex buckets_mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;  // GUARDED_BY(buckets_mu_)
  InFlightBatches in_flight_;
};

// Creates a one-time enrollment token for `tenant_id`, valid `valid_seconds`;
// returns the token (only its hash is stored).
Result<std::string> CreateEnrollToken(store::Store& store, const std::string& tenant_id, int64_t now,
                                      int64_t valid_seconds);

}  // namespace parley::ingest
