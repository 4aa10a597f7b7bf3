// ServerClient: the agent's side of the ingest API (/ingest/v1, docs/agent.md
// and the blueprint's "Agent <-> server" contract).
//
// Error mapping (what the retry loops rely on):
//   transport failure, 408, 5xx, malformed 200 -> kUnavailable     (retry with backoff)
//   429                                        -> kResourceExhausted (retry after Retry-After)
//   401 / 403                                  -> kUnauthenticated / kPermissionDenied
//   409 "aborted"                              -> kAborted (the batch follows an unstored cursor:
//                                                 resend it after its predecessor's answer)
//   other 4xx                                  -> kInvalidArgument  (the request is bad; do not resend it)
// The detail carries the HTTP status and the server's {error, detail}; it
// never includes the request body, the token or key material.
//
// Not thread-safe (it owns one HttpClient): use one per thread. The Clock
// outlives the client. The calls are virtual so the run loop's tests can
// stand in a fake server (agent_loop.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/collector.h"
#include "agent/http_client.h"
#include "common/clock.h"
#include "common/result.h"

namespace parley::agent {

inline constexpr std::string_view kAgentVersion = "0.1.0";

using Cursors = std::map<std::string, std::string>;

struct EnrollRequest {
  std::string token;  // one-time enrollment token (secret)
  std::string csr_pem;
  std::string name;   // host name shown in the portal
};

struct EnrollResponse {
  std::string agent_id;
  std::string certificate;     // PEM, this agent's client certificate
  std::string ca_certificate;  // PEM
};

struct UploadResult {
  std::string batch_id;
  bool duplicate = false;
  int64_t accepted = 0;
  int64_t already_present = 0;
  int64_t quarantined = 0;  // refused on their own (implausible times); see the portal's quarantine
  std::string first_refusal;  // "line N (type): reason" of the first, for the log
  Cursors cursors;
};

struct SourceReport {
  std::string name;
  std::string type;
  SourceHealth health;
};

struct HeartbeatRequest {
  int64_t uptime_s = 0;
  std::vector<SourceReport> sources;
};

struct HeartbeatResponse {
  std::string server_time;
  int64_t settings_version = 0;
};

// True for errors worth retrying the same request for.
bool IsRetryable(const Error& error);

class ServerClient {
 public:
  // `server_url` is https://host:port. `http` has the server CA and, except
  // for enrollment, the client certificate and key.
  ServerClient(std::string server_url, std::unique_ptr<HttpClient> http, const Clock& clock)
      : url_(std::move(server_url)), http_(std::move(http)), clock_(clock) {}
  virtual ~ServerClient() = default;

  Result<EnrollResponse> Enroll(const EnrollRequest& request);
  virtual Result<Cursors> GetCursors();
  // REQUIRES: idempotency_key is a UUID, the same for every retry of a batch.
  virtual Result<UploadResult> UploadBatch(const std::string& idempotency_key, const std::string& body);
  virtual Result<HeartbeatResponse> Heartbeat(const HeartbeatRequest& request);

  // Retry-After of the last answer, when it carried a valid one.
  virtual std::optional<std::chrono::seconds> last_retry_after() const { return retry_after_; }

 private:
  Result<HttpResponse> Call(HttpRequest request);

  const std::string url_;
  std::unique_ptr<HttpClient> http_;
  const Clock& clock_;
  std::optional<std::chrono::seconds> retry_after_;
};

}  // namespace parley::agent
