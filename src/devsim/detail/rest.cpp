#include "devsim/detail/rest.h"

#include <cctype>
#include <charconv>
#include <thread>

#include <boost/json.hpp>

#include "crypto/crypto.h"

namespace parley::devsim {

std::string_view FaultName(Fault fault) {
  switch (fault) {
    case Fault::kUnauthorized: return "401";
    case Fault::kTooManyRequests: return "429";
    case Fault::kServerError: return "500";
    case Fault::kSlow: return "slow";
    case Fault::kMalformed: return "malformed";
    case Fault::kRepeat: return "repeat";
  }
  return "?";
}

std::optional<Fault> ParseFault(std::string_view name) {
  for (Fault f : {Fault::kUnauthorized, Fault::kTooManyRequests, Fault::kServerError, Fault::kSlow, Fault::kMalformed,
                  Fault::kRepeat})
    if (FaultName(f) == name) return f;
  return std::nullopt;
}

Result<FaultRule> ParseFaultRule(std::string_view spec) {
  size_t slash = spec.find('/');
  auto fault = ParseFault(spec.substr(0, slash));
  if (!fault)
    return InvalidArgument("fault \"" + std::string(spec.substr(0, slash)) +
                           "\": expected 401, 429, 500, slow, malformed or repeat");
  FaultRule rule;
  rule.fault = *fault;
  if (slash != std::string_view::npos) {
    std::string_view n = spec.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), rule.every);
    if (n.empty() || ec != std::errc() || ptr != n.data() + n.size() || rule.every < 1)
      return InvalidArgument("fault \"" + std::string(spec) + "\": N in KIND/N must be a whole number >= 1");
  }
  return rule;
}

namespace detail {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename F>
void ForEachListItem(std::string_view list, F f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    f(Trim(list.substr(0, comma)));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
}

// Escapes a string exactly as boost::json::serialize does, through one
// serializer and a stack buffer: a page of 1000 calls has some 40,000
// strings and keys, and a std::string for each was a fifth of devsim's CPU.
void WriteString(boost::json::string_view s, boost::json::serializer& sr, std::string& out) {
  sr.reset(s);
  char buf[512];
  while (!sr.done()) {
    boost::json::string_view part = sr.read(buf, sizeof buf);
    out.append(part.data(), part.size());
  }
}

void Write(const boost::json::value& v, boost::json::serializer& sr, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_: {
      char buf[64];
      auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v.get_double(), std::chars_format::fixed);
      std::string_view text(buf, ec == std::errc() ? static_cast<size_t>(ptr - buf) : 0);
      out += text.empty() ? "0.0" : text;
      if (!text.empty() && text.find('.') == std::string_view::npos) out += ".0";
      break;
    }
    case boost::json::kind::string: WriteString(v.get_string(), sr, out); break;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out += ',';
        first = false;
        Write(item, sr, out);
      }
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        WriteString(kv.key(), sr, out);
        out += ':';
        Write(kv.value(), sr, out);
      }
      out += '}';
      break;
    }
  }
}

// Compares SHA-256 digests in constant time, so neither the content nor the
// length of the expected credentials leaks through timing.
bool CredentialsMatch(const http::Request& request, const std::string& expected) {
  const std::string value = request.Header("authorization");
  std::string_view header = Trim(value);
  if (header.size() < 6 || Lower(header.substr(0, 6)) != "basic ") return false;
  auto decoded = crypto::Base64Decode(Trim(header.substr(6)));
  if (!decoded.ok()) return false;
  return crypto::ConstantTimeEquals(crypto::Sha256(*decoded), crypto::Sha256(expected));
}

struct RequestFaults {
  bool unauthorized = false, too_many = false, server_error = false, slow = false, malformed = false,
       repeat = false;
  std::chrono::milliseconds delay{0};

  void Set(Fault f) {
    switch (f) {
      case Fault::kUnauthorized: unauthorized = true; break;
      case Fault::kTooManyRequests: too_many = true; break;
      case Fault::kServerError: server_error = true; break;
      case Fault::kSlow: slow = true; break;
      case Fault::kMalformed: malformed = true; break;
      case Fault::kRepeat: repeat = true; break;
    }
  }
};

// Faults a single request asks for (header and/or query parameter).
Result<RequestFaults> RequestedFaults(const http::Request& request, std::chrono::milliseconds default_delay) {
  RequestFaults faults;
  faults.delay = default_delay;
  std::string specs = request.Header("x-devsim-fault");
  if (auto q = request.Query("devsim-fault")) specs += (specs.empty() ? "" : ",") + *q;
  std::optional<Error> bad;
  ForEachListItem(specs, [&](std::string_view name) {
    if (name.empty()) return;
    if (auto f = ParseFault(Lower(name))) faults.Set(*f);
    else if (!bad) bad = InvalidArgument("unknown fault \"" + std::string(name) +
                                         "\": expected 401, 429, 500, slow, malformed or repeat");
  });
  if (bad) return *bad;
  std::optional<std::string> delay = request.Query("devsim-delay-ms");
  if (std::string h = request.Header("x-devsim-delay-ms"); !h.empty()) delay = h;
  if (delay) {
    int64_t ms = -1;
    auto [ptr, ec] = std::from_chars(delay->data(), delay->data() + delay->size(), ms);
    if (delay->empty() || ec != std::errc() || ptr != delay->data() + delay->size() || ms < 0 ||
        ms > kMaxFaultDelay.count())
      return InvalidArgument("devsim-delay-ms must be a whole number of milliseconds, 0 to " +
                             std::to_string(kMaxFaultDelay.count()));
    faults.delay = std::chrono::milliseconds(ms);
  }
  return faults;
}

}  // namespace

std::string SerializeJson(const boost::json::value& value) {
  std::string out;
  boost::json::serializer sr;
  Write(value, sr, out);
  return out;
}

bool AcceptAdmits(std::string_view accept, std::string_view media_type, const std::vector<std::string>& also,
                  bool json_ok) {
  if (Trim(accept).empty()) return true;
  auto matches_type = [](const std::string& range, std::string_view type) {
    if (range == type) return true;
    // application/vnd.plcm.NAME+json also matches application/vnd.plcm.NAME-vN+json.
    constexpr std::string_view kSuffix = "+json";
    if (type.size() <= kSuffix.size() || type.substr(type.size() - kSuffix.size()) != kSuffix) return false;
    std::string_view base = type.substr(0, type.size() - kSuffix.size());
    if (range.size() <= type.size() + 2 || range.compare(0, base.size(), base) != 0 ||
        range.compare(range.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
      return false;
    std::string_view version(range.data() + base.size(), range.size() - base.size() - kSuffix.size());
    if (version.size() < 3 || version.substr(0, 2) != "-v") return false;
    for (char c : version.substr(2))
      if (c < '0' || c > '9') return false;
    return true;
  };
  bool ok = false;
  ForEachListItem(accept, [&](std::string_view item) {
    if (ok || item.empty()) return;
    std::string range = Lower(item);
    bool q_zero = false;
    if (size_t semi = range.find(';'); semi != std::string::npos) {
      std::string_view params = std::string_view(range).substr(semi + 1);
      while (!params.empty()) {
        size_t next = params.find(';');
        std::string_view p = Trim(params.substr(0, next));
        if (p.size() >= 2 && p.substr(0, 2) == "q=") {
          std::string_view q = p.substr(2);
          q_zero = !q.empty() && q.find_first_not_of("0.") == std::string_view::npos;
        }
        params = next == std::string_view::npos ? std::string_view() : params.substr(next + 1);
      }
      range = std::string(Trim(std::string_view(range).substr(0, semi)));
    }
    if (q_zero) return;
    if (range == "*/*" || range == "application/*" || (json_ok && range == "application/json")) ok = true;
    else if (matches_type(range, Lower(media_type))) ok = true;
    else
      for (const std::string& a : also) ok = ok || matches_type(range, Lower(a));
  });
  return ok;
}

std::string EntityTag(std::string_view body) {
  // Appended piecewise: `"literal" + std::string` trips GCC 12's -Wrestrict
  // false positive at -O2 (GCC bug 105329).
  std::string tag = "\"";
  tag += crypto::Sha256Hex(body).substr(0, 32);
  tag += '"';
  return tag;
}

bool IfNoneMatchHits(std::string_view if_none_match, std::string_view etag) {
  bool hit = false;
  ForEachListItem(if_none_match, [&](std::string_view tag) {
    if (tag == "*") hit = true;
    if (tag.size() > 2 && tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) hit = true;
  });
  return hit;
}

Result<size_t> ParseLimit(const std::optional<std::string>& text, size_t default_limit, size_t max_limit) {
  if (!text) return default_limit;
  size_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || ptr != text->data() + text->size() || value < 1 || value > max_limit)
    return InvalidArgument("limit must be an integer between 1 and " + std::to_string(max_limit));
  return value;
}

http::Response JsonOk(const boost::json::value& body, std::string_view media_type) {
  return SerializedJsonOk(SerializeJson(body), media_type);
}

http::Response SerializedJsonOk(std::string body, std::string_view media_type) {
  http::Response r = http::Response::Json(200, std::move(body));
  r.SetHeader("Content-Type", std::string(media_type));
  return r;
}

RestService::RestService(std::string realm, const Credentials& credentials, const Clock& clock, ApiOptions options,
                         std::vector<Route> routes)
    : realm_(std::move(realm)),
      expected_(credentials.user + ":" + credentials.password),
      clock_(clock),
      options_(std::move(options)),
      routes_(std::move(routes)) {
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

http::Response RestService::Unauthorized() const {
  http::Response r = http::Response::FromError(Unauthenticated("HTTP Basic credentials required"));
  r.SetHeader("WWW-Authenticate", "Basic realm=\"" + realm_ + "\"");
  return r;
}

http::Response RestService::Handle(const http::Request& request) const {
  if (!CredentialsMatch(request, expected_)) return Unauthorized();
  const Route* route = nullptr;
  for (const Route& r : routes_)
    if (r.path == request.path) route = &r;
  if (route == nullptr) return http::Response::FromError(NotFound("no such resource"));
  if (request.method != "GET") {
    http::Response r = http::Response::Json(405, R"({"error":"method_not_allowed","detail":"only GET is supported"})");
    r.SetHeader("Allow", "GET");
    return r;
  }
  if (!AcceptAdmits(request.Header("accept"), route->media_type, route->also, route->json_ok)) {
    boost::json::object body;
    body["error"] = "not_acceptable";
    body["detail"] = "this resource is served as " + route->media_type + "; send an Accept header that admits it";
    return http::Response::Json(406, SerializeJson(body));
  }
  Result<RequestFaults> requested = RequestedFaults(request, options_.slow_delay);
  if (!requested.ok()) return http::Response::FromError(requested.error());
  RequestFaults faults = *requested;
  const uint64_t n = ++requests_;
  for (const FaultRule& rule : options_.faults)
    if (n % rule.every == 0) faults.Set(rule.fault);

  bool slept = false;
  auto sleep_once = [&] {
    if (faults.slow && !slept) {
      slept = true;
      options_.sleep(faults.delay);
    }
  };
  http::Response response;
  if (faults.unauthorized) {
    response = Unauthorized();
  } else if (faults.too_many) {
    response = http::Response::FromError(ResourceExhausted("emulated rate limit (fault 429); retry after the delay"));
    response.SetHeader("Retry-After", std::to_string(options_.retry_after_s));
  } else if (faults.server_error) {
    response = http::Response::FromError(Internal("emulated server error (fault 500)"));
  } else {
    RouteContext ctx(request, clock_.NowUnixSeconds(), faults.repeat, sleep_once);
    response = route->handle(ctx);
    if (response.status == 200) {
      if (faults.malformed) {
        // The body breaks off half-way, as when a device's response is cut.
        response.body.resize(response.body.size() / 2);
      } else {
        const std::string etag = EntityTag(response.body);
        if (IfNoneMatchHits(request.Header("if-none-match"), etag)) {
          response = http::Response();
          response.status = 304;
        }
        response.SetHeader("ETag", etag);
      }
    }
  }
  sleep_once();
  return response;
}

}  // namespace detail
}  // namespace parley::devsim
