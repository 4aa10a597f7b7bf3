#include "agent/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>

#include "crypto/tls_policy.h"

namespace parley::agent {

namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A pinned leaf certificate: its SHA-256 and whether the chain (CA file) is
// verified too.
struct Pin {
  bool active = false;
  bool verify_chain = false;
  std::array<unsigned char, 32> sha256{};
};

// SSL_CTX_set_cert_verify_callback: replaces OpenSSL's chain verification.
// With a CA file the chain is verified first (X509_verify_cert); then the
// leaf's DER SHA-256 must equal the pin.
int VerifyPinned(X509_STORE_CTX* store, void* arg) {
  const auto* pin = static_cast<const Pin*>(arg);
  if (pin->verify_chain && X509_verify_cert(store) <= 0) return 0;
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!leaf || X509_digest(leaf, EVP_sha256(), md, &len) != 1 || len != pin->sha256.size() ||
      CRYPTO_memcmp(md, pin->sha256.data(), len) != 0) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  X509_STORE_CTX_set_error(store, X509_V_OK);
  return 1;
}

// CURLOPT_SSL_CTX_FUNCTION: the one TLS policy on libcurl's context, and
// the certificate pin if one is configured. libcurl calls this after its own
// SSL_CTX_set_verify, so the verify mode set here wins.
CURLcode ApplyPolicy(CURL*, void* ssl_ctx, void* user) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  Status s = crypto::ApplyTlsPolicy(ctx);
  if (!s.ok()) return CURLE_SSL_CERTPROBLEM;
  const auto* pin = static_cast<const Pin*>(user);
  if (pin && pin->active) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, &VerifyPinned, const_cast<Pin*>(pin));
  }
  return CURLE_OK;
}

struct Transfer {
  HttpResponse* response;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  if (t->response->body.size() + len > kMaxResponseBytes) {
    t->too_large = true;
    return 0;  // makes curl fail the transfer
  }
  t->response->body.append(data, len);
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  std::string_view line(data, len);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (after 100-continue or a proxy's CONNECT)
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  t->response->headers[name] = std::string(value);
  return len;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* abort = static_cast<const std::atomic<bool>*>(user);
  return abort && abort->load() ? 1 : 0;
}

// scheme://host[:port] only, for messages: never the path, query or user-info.
std::string Origin(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(invalid URL)";
  auto host_start = scheme_end + 3;
  auto host_end = url.find_first_of("/?#", host_start);
  std::string_view authority = url.substr(host_start, host_end == std::string_view::npos ? url.npos : host_end - host_start);
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  return std::string(url.substr(0, host_start)) + std::string(authority);
}

}  // namespace

struct HttpClient::Impl {
  HttpClientOptions options;
  Pin pin;
  CurlPtr curl;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  GlobalInitOnce();
  std::error_code ec;
  Pin pin;
  if (!options.pin_sha256.empty()) {
    auto hex = NormalizeSha256Fingerprint(options.pin_sha256);
    if (!hex) return InvalidArgument("pin_sha256 is not a SHA-256 fingerprint (64 hex digits)");
    for (size_t i = 0; i < pin.sha256.size(); ++i)
      pin.sha256[i] = static_cast<unsigned char>(std::stoi(hex->substr(2 * i, 2), nullptr, 16));
    pin.active = true;
    pin.verify_chain = !options.ca_file.empty();
  }
  if (options.insecure_skip_verify && pin.active)
    return InvalidArgument("insecure_skip_verify contradicts pin_sha256");
  if (options.ca_file.empty() && !pin.active && !options.insecure_skip_verify)
    return FailedPrecondition("no CA file (nor a pinned certificate) to verify the peer with");
  if (!options.ca_file.empty() && !std::filesystem::exists(options.ca_file, ec))
    return FailedPrecondition("CA file " + options.ca_file.string() + " does not exist");
  if (!options.cert_file.empty() && !std::filesystem::exists(options.cert_file, ec))
    return FailedPrecondition("certificate file " + options.cert_file.string() + " does not exist");
  if (!options.key_file.empty() && !std::filesystem::exists(options.key_file, ec))
    return FailedPrecondition("key file " + options.key_file.string() + " does not exist");
  CurlPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->pin = pin;
  impl->curl = std::move(curl);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  CURL* c = impl_->curl.get();
  const HttpClientOptions& o = impl_->options;
  curl_easy_reset(c);  // keeps the connection cache; clears every option

  HttpResponse response;
  Transfer transfer{&response};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* raw_headers = nullptr;
  auto add_header = [&raw_headers](const std::string& line) {
    curl_slist* head = curl_slist_append(raw_headers, line.c_str());
    if (head) raw_headers = head;
    return head != nullptr;
  };
  bool headers_ok = true;
  for (const auto& [name, value] : request.headers) headers_ok &= add_header(name + ": " + value);
  // "Expect: 100-continue" only adds a round trip for our small bodies.
  if (request.method == "POST") headers_ok &= add_header("Expect:");
  SlistPtr headers(raw_headers);
  if (!headers_ok) return Internal("out of memory building headers");

  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, o.total_timeout_s);
  // Verification: CA file (chain + host name), optionally plus the pin; the
  // pin alone (our callback is the only check); or, explicitly, nothing.
  const bool chain = !o.ca_file.empty() && !o.insecure_skip_verify;
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, chain ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, chain ? 2L : 0L);
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, &ApplyPolicy);
  curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &impl_->pin);
  if (!o.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, o.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(c, CURLOPT_SSLKEY, o.key_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!o.username.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, o.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.password.c_str());
  }
  if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    return InvalidArgument("unsupported method " + request.method);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
  if (o.abort) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(o.abort));
  }

  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    std::string what = Origin(request.url) + ": ";
    if (transfer.too_large) return Unavailable(what + "response larger than the agent accepts");
    if (rc == CURLE_ABORTED_BY_CALLBACK) return Unavailable(what + "aborted (shutting down)");
    what += curl_easy_strerror(rc);
    if (errbuf[0] != '\0') what += std::string(" (") + errbuf + ")";
    return Unavailable(what);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

std::optional<std::string> NormalizeSha256Fingerprint(std::string_view text) {
  std::string out;
  for (char ch : text) {
    if (ch == ':') continue;
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!((lower >= '0' && lower <= '9') || (lower >= 'a' && lower <= 'f'))) return std::nullopt;
    out += lower;
  }
  if (out.size() != 64) return std::nullopt;
  return out;
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 0xF];
    }
  }
  return out;
}

}  // namespace parley::agent
