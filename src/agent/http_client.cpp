#include "agent/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

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

// CURLOPT_SSL_CTX_FUNCTION: the one TLS policy on libcurl's context.
CURLcode ApplyPolicy(CURL*, void* ssl_ctx, void*) {
  Status s = crypto::ApplyTlsPolicy(static_cast<SSL_CTX*>(ssl_ctx));
  return s.ok() ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
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
  CurlPtr curl;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  GlobalInitOnce();
  std::error_code ec;
  if (options.ca_file.empty() || !std::filesystem::exists(options.ca_file, ec))
    return FailedPrecondition("CA file " + options.ca_file.string() + " does not exist");
  if (!options.cert_file.empty() && !std::filesystem::exists(options.cert_file, ec))
    return FailedPrecondition("certificate file " + options.cert_file.string() + " does not exist");
  if (!options.key_file.empty() && !std::filesystem::exists(options.key_file, ec))
    return FailedPrecondition("key file " + options.key_file.string() + " does not exist");
  CurlPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
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
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, &ApplyPolicy);
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
