// Parley's HTTP layer: HTTPS listeners on Boost.Beast/Asio, shared by the
// portal, the ingest listener and the device emulator. Only src/http/*.cpp
// include Beast; everyone else sees these plain types.
//
// Handlers are plain functions Request -> Response, free of the session, so
// tests call them without sockets. A handler may be called concurrently from
// several threads; it must not throw (an escaping exception becomes a 500
// with a logged incident id, never a crash).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "crypto/tls_policy.h"

namespace parley::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent: "/api/v1/calls?limit=10"
  std::string path;                            // decoded path without query
  std::map<std::string, std::string> query;    // decoded query parameters (last wins)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;                  // peer IP, no port
  std::string client_cert_pem;                 // verified client certificate, if any

  // Header value or "" (name is matched case-insensitively).
  std::string Header(std::string_view name) const;
  std::optional<std::string> Query(const std::string& name) const;
  // Value of cookie `name` from the Cookie header.
  std::optional<std::string> Cookie(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  void SetHeader(std::string name, std::string value);
  std::string Header(std::string_view name) const;

  static Response Json(int status, std::string json_body);
  static Response Text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // The one mapping of an Error to an HTTP response:
  //   status from the code, body {"error": "<code name>", "detail": "..."}.
  static Response FromError(const Error& error);
};

// HTTP status for an error code (invalid_argument -> 400, ...).
int StatusFor(Code code);

// Splits a target into path and decoded query parameters (Boost.URL).
// Returns kInvalidArgument for a malformed target.
Status ParseTarget(std::string_view target, std::string& path, std::map<std::string, std::string>& query);

using Handler = std::function<Response(const Request&)>;

struct ListenerOptions {
  std::string name;                 // "portal", "ingest": for logs
  std::string host = "127.0.0.1";
  uint16_t port = 0;                // 0: pick a free port (read it back from AddListener)
  crypto::SslCtxPtr tls;            // from crypto::MakeTlsContext; ownership moves in
  int64_t body_limit = 1 << 20;     // larger bodies get 413 + JSON error
  std::chrono::seconds read_timeout{30};
};

// A set of HTTPS listeners served by one thread pool.
// Lifetime: Create -> AddListener* -> Start -> (Drain | Stop) -> destroy.
class Server {
 public:
  virtual ~Server() = default;
  static std::unique_ptr<Server> Create(int threads);

  // Binds and listens; returns the bound port. Errors name host:port.
  virtual Result<uint16_t> AddListener(ListenerOptions options, Handler handler) = 0;
  // Starts the worker threads; returns at once.
  virtual void Start() = 0;
  // Graceful stop: stop accepting, let requests already being handled finish
  // and be answered (up to `grace`), close idle connections, join threads.
  virtual void Drain(std::chrono::milliseconds grace) = 0;
  // Blocks until SIGTERM or SIGINT arrives (installs the handlers).
  static int WaitForStopSignal();
};

}  // namespace parley::http
