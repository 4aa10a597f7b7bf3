#include "devsim/dma_api.h"

#include <cctype>
#include <charconv>
#include <memory>

#include <boost/json.hpp>

#include "crypto/crypto.h"

namespace parley::devsim {

namespace {

constexpr std::string_view kCallsPath = "/api/rest/calls";
constexpr std::string_view kCountPath = "/api/rest/calls/count";

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

http::Response Unauthorized() {
  http::Response r = http::Response::FromError(Unauthenticated("HTTP Basic credentials required"));
  r.SetHeader("WWW-Authenticate", "Basic realm=\"DMA\"");
  return r;
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

// Polycom's clients always send Accept (domain.md 3.1). Anything that admits
// JSON is fine; an explicit XML-only Accept cannot be served.
bool AcceptsJson(std::string_view accept) {
  if (Trim(accept).empty()) return true;
  while (!accept.empty()) {
    size_t comma = accept.find(',');
    std::string range = Lower(Trim(accept.substr(0, comma)));
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    if (size_t semi = range.find(';'); semi != std::string::npos) range = std::string(Trim(range.substr(0, semi)));
    if (range == "*/*" || range == "application/*" || range == "application/json") return true;
    if (range.rfind("application/vnd.plcm", 0) == 0 && range.size() > 5 &&
        range.compare(range.size() - 5, 5, "+json") == 0)
      return true;
  }
  return false;
}

http::Response NotAcceptable() {
  boost::json::object body;
  body["error"] = "not_acceptable";
  body["detail"] = "this emulator serves JSON only; send Accept: application/json or application/vnd.plcm...+json";
  return http::Response::Json(406, boost::json::serialize(body));
}

boost::json::object LegJson(const Leg& leg) {
  boost::json::object o;
  o["deviceName"] = leg.device->name;
  o["deviceModel"] = leg.device->model;
  o["deviceVersion"] = leg.device->version;
  o["ipAddress"] = leg.device->ip;
  o["site"] = leg.site->name;
  o["aliases"] = boost::json::array{boost::json::string(leg.number), boost::json::string(leg.uri)};
  return o;
}

boost::json::object CallJson(const Workload& workload, const Call& call) {
  Leg orig = workload.Originator(call);
  Leg dest = workload.Destination(call);
  const bool sip = call.signaling == Signaling::kSip;
  // Times are rendered in the originator site's offset with milliseconds,
  // the way the DMA's CDRs carry local time (domain.md 3.2).
  const int offset = orig.site->utc_offset_minutes;
  boost::json::object o;
  o["callIdentifier"] = FormatUuid(call.key.id_hi, call.key.id_lo);
  o["callType"] = call.type == CallType::kVmr ? "VMR" : "PT-PT";
  o["callSignaling"] = sip ? "SIP" : "H323";
  o["originator"] = sip ? orig.uri : orig.number;
  o["originatorRegisteredName"] = orig.device->name;
  o["destination"] = sip ? dest.uri : dest.number;
  // What the user dialled: the SIP address without the scheme, or the number.
  o["dialString"] = sip ? dest.uri.substr(4) : dest.number;
  o["startTime"] = FormatDmaTime(call.start_unix, offset);
  o["endTime"] = FormatDmaTime(call.key.end_unix, offset);
  o["callDuration"] = FormatDuration(call.duration_s);
  o["callStatus"] = "ENDED";
  if (call.type == CallType::kVmr) o["confUuid"] = FormatUuid(call.conf_hi, call.conf_lo);
  else o["confUuid"] = nullptr;
  o["bitRate"] = call.bit_rate_kbps;
  o["failureSignalingCode"] = call.failed() ? FailureCodes()[static_cast<size_t>(call.failure)] : std::string();
  o["originatorDetails"] = LegJson(orig);
  o["destinationDetails"] = LegJson(dest);
  return o;
}

Result<size_t> ParseLimit(const std::optional<std::string>& text) {
  if (!text) return kDefaultPageLimit;
  size_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || ec != std::errc() || ptr != text->data() + text->size() || value < 1 || value > kMaxPageLimit)
    return InvalidArgument("limit must be an integer between 1 and " + std::to_string(kMaxPageLimit));
  return value;
}

class DmaApi {
 public:
  DmaApi(Workload& workload, const Clock& clock, Credentials credentials)
      : workload_(workload), clock_(clock), expected_(credentials.user + ":" + credentials.password) {}

  http::Response Handle(const http::Request& request) const {
    if (!CredentialsMatch(request, expected_)) return Unauthorized();
    if (request.path != kCallsPath && request.path != kCountPath)
      return http::Response::FromError(NotFound("no such resource"));
    if (request.method != "GET") {
      http::Response r = http::Response::Json(405, R"({"error":"method_not_allowed","detail":"only GET is supported"})");
      r.SetHeader("Allow", "GET");
      return r;
    }
    if (!AcceptsJson(request.Header("accept"))) return NotAcceptable();
    const int64_t now = clock_.NowUnixSeconds();
    if (request.path == kCountPath) {
      boost::json::object body;
      body["count"] = workload_.CountEnded(now);
      return http::Response::Json(200, boost::json::serialize(body));
    }
    return ListCalls(request, now);
  }

 private:
  http::Response ListCalls(const http::Request& request, int64_t now) const {
    Result<size_t> limit = ParseLimit(request.Query("limit"));
    if (!limit.ok()) return http::Response::FromError(limit.error());
    std::optional<CallKey> after;
    if (auto token = request.Query("after")) {
      after = DecodePageToken(*token);
      if (!after) return http::Response::FromError(InvalidArgument("after is not a page token from this API"));
    }
    std::vector<Call> page = workload_.ListEnded(now, after, *limit, nullptr);
    boost::json::array calls;
    calls.reserve(page.size());
    for (const Call& call : page) calls.push_back(CallJson(workload_, call));
    boost::json::object list;
    list["plcm-call"] = std::move(calls);
    boost::json::object body;
    body["plcm-call-list"] = std::move(list);
    // `next` resumes after the page's last call, also on the last page, so a
    // client can always continue from where it is once more calls end; null
    // only for an empty page (docs/agent.md "Cursor semantics" relies on it).
    if (page.empty()) body["next"] = nullptr;
    else body["next"] = EncodePageToken(page.back().key);
    http::Response r = http::Response::Json(200, boost::json::serialize(body));
    r.SetHeader("Content-Type", std::string(kCallListMediaType));
    return r;
  }

  Workload& workload_;
  const Clock& clock_;
  std::string expected_;
};

}  // namespace

std::string EncodePageToken(const CallKey& key) {
  return std::to_string(key.end_unix) + "." + FormatUuid(key.id_hi, key.id_lo);
}

std::optional<CallKey> DecodePageToken(std::string_view token) {
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 12) return std::nullopt;
  CallKey key;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + dot, key.end_unix);
  if (ec != std::errc() || ptr != token.data() + dot || key.end_unix < 0) return std::nullopt;
  auto id = ParseUuid(token.substr(dot + 1));
  if (!id) return std::nullopt;
  key.id_hi = id->first;
  key.id_lo = id->second;
  return key;
}

http::Handler MakeDmaHandler(Workload& workload, const Clock& clock, Credentials credentials) {
  auto api = std::make_shared<const DmaApi>(workload, clock, std::move(credentials));
  return [api](const http::Request& request) { return api->Handle(request); };
}

}  // namespace parley::devsim
