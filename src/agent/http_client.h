// HttpClient: a small libcurl wrapper for the agent's outbound HTTPS, to the
// Parley server and to devices.
//
// Every connection verifies the peer (VERIFYPEER=1, VERIFYHOST=2, CAINFO =
// the configured CA file) and gets Parley's one TLS policy applied to its
// SSL_CTX (crypto::ApplyTlsPolicy via CURLOPT_SSL_CTX_FUNCTION). Device
// connections may instead (or in addition) pin the SHA-256 fingerprint of the
// peer's leaf certificate (pin_sha256): checked in an OpenSSL certificate
// verification callback installed on the same SSL_CTX; without a CA file the
// pin alone is the trust (no chain or host name check: the pin names the one
// certificate). insecure_skip_verify turns verification off entirely (the
// caller logs that loudly). Only https://
// is allowed; redirects are not followed; https_proxy from the environment is
// honoured (libcurl's default). Errors never carry the URL's query, the
// credentials or the response body, so callers may log them.
//
// Not thread-safe: one HttpClient per thread (it owns one CURL easy handle and
// reuses its connections). The abort flag, if given, must outlive the client;
// setting it makes a transfer in progress fail promptly (shutdown).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace parley::agent {

struct HttpClientOptions {
  std::filesystem::path ca_file;    // trust anchors for the peer; required unless pinned or insecure
  std::string pin_sha256;           // optional: 64 hex digits, SHA-256 of the peer's leaf certificate (DER)
  bool insecure_skip_verify = false;  // no verification at all (devices only, explicit opt-in)
  std::filesystem::path cert_file;  // optional client certificate (PEM)
  std::filesystem::path key_file;   // its private key (PEM)
  std::string username;             // optional HTTP Basic credentials
  std::string password;
  long connect_timeout_s = 15;
  long total_timeout_s = 120;
  const std::atomic<bool>* abort = nullptr;
};

struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; last value wins
  std::string body;
};

// Largest response body accepted; bigger answers fail (bounded memory).
inline constexpr size_t kMaxResponseBytes = 64u << 20;

class HttpClient {
 public:
  // Checks the files exist and sets up the handle.
  static Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request. Any HTTP status is a successful Result; transport
  // failures (DNS, connect, TLS, timeout, abort) are kUnavailable with a short
  // description such as "TLS handshake failed (SSL connect error)".
  Result<HttpResponse> Send(const HttpRequest& request);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "AB:cd:..." or "abcd..." (any case, colons optional) -> 64 lowercase hex
// digits; nullopt unless it is exactly 32 bytes of hex.
std::optional<std::string> NormalizeSha256Fingerprint(std::string_view text);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(std::string_view text);

}  // namespace parley::agent
