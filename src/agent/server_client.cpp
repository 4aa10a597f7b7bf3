#include "agent/server_client.h"

#include <boost/json.hpp>

#include "agent/backoff.h"
#include "wire/wire.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

constexpr std::string_view kJson = "application/json";

std::string View(const json::string& s) { return std::string(s.data(), s.size()); }

Result<json::object> ParseObject(const std::string& body, std::string_view what) {
  json::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec || !v.is_object()) return Unavailable(std::string("malformed answer to ") + std::string(what));
  return std::move(v.get_object());
}

std::optional<std::string> StringField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return View(v->get_string());
}

int64_t IntField(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  return 0;
}

Result<Cursors> ReadCursors(const json::object& o, std::string_view what) {
  const json::value* c = o.if_contains("cursors");
  if (!c || !c->is_object()) return Unavailable(std::string("answer to ") + std::string(what) + " has no cursors");
  Cursors out;
  for (const auto& [name, value] : c->get_object()) {
    if (!value.is_string()) return Unavailable(std::string("answer to ") + std::string(what) + ": non-string cursor");
    out[std::string(name)] = View(value.get_string());
  }
  return out;
}

// Maps a non-2xx answer to an Error per the contract in server_client.h.
Error ErrorFromStatus(const HttpResponse& r) {
  std::string detail = "server answered HTTP " + std::to_string(r.status);
  json::error_code ec;
  json::value v = json::parse(json::string_view(r.body.data(), r.body.size()), ec);
  std::optional<std::string> error;
  if (!ec && v.is_object()) {
    error = StringField(v.get_object(), "error");
    if (error) detail += " " + *error;
    if (auto d = StringField(v.get_object(), "detail")) detail += ": " + d->substr(0, 512);
  }
  long s = r.status;
  if (s == 409 && error == "aborted") return Aborted(detail);
  if (s == 408 || s >= 500) return Unavailable(detail);
  if (s == 429) return ResourceExhausted(detail);
  if (s == 401) return Unauthenticated(detail);
  if (s == 403) return PermissionDenied(detail);
  if (s == 413) return PayloadTooLarge(detail);
  return InvalidArgument(detail);
}

}  // namespace

bool IsRetryable(const Error& error) {
  return error.code == Code::kUnavailable || error.code == Code::kResourceExhausted;
}

Result<HttpResponse> ServerClient::Call(HttpRequest request) {
  retry_after_.reset();
  request.url = url_ + request.url;
  auto r = http_->Send(request);
  if (!r.ok()) return r.error();
  if (auto it = r->headers.find("retry-after"); it != r->headers.end())
    retry_after_ = ParseRetryAfter(it->second, clock_);
  if (r->status < 200 || r->status > 299) return ErrorFromStatus(*r);
  return r;
}

Result<EnrollResponse> ServerClient::Enroll(const EnrollRequest& request) {
  json::object body;
  body["token"] = request.token;
  body["csr"] = request.csr_pem;
  body["name"] = request.name;
  HttpRequest http{"POST", std::string(wire::kIngestPrefix) + "/enroll", {{"Content-Type", std::string(kJson)}},
                   json::serialize(body)};
  PARLEY_ASSIGN_OR_RETURN(HttpResponse r, Call(std::move(http)));
  PARLEY_ASSIGN_OR_RETURN(json::object o, ParseObject(r.body, "enroll"));
  EnrollResponse out;
  auto id = StringField(o, "agent_id");
  auto cert = StringField(o, "certificate");
  auto ca = StringField(o, "ca_certificate");
  if (!id || !cert || !ca) return Internal("enroll answer lacks agent_id, certificate or ca_certificate");
  out.agent_id = *id;
  out.certificate = *cert;
  out.ca_certificate = *ca;
  return out;
}

Result<Cursors> ServerClient::GetCursors() {
  HttpRequest http{"GET", std::string(wire::kIngestPrefix) + "/cursors", {{"Accept", std::string(kJson)}}, {}};
  PARLEY_ASSIGN_OR_RETURN(HttpResponse r, Call(std::move(http)));
  PARLEY_ASSIGN_OR_RETURN(json::object o, ParseObject(r.body, "cursors"));
  return ReadCursors(o, "cursors");
}

Result<UploadResult> ServerClient::UploadBatch(const std::string& idempotency_key, const std::string& body) {
  HttpRequest http{"POST",
                   std::string(wire::kIngestPrefix) + "/batches",
                   {{"Content-Type", std::string(wire::kNdjsonMediaType)},
                    {"Accept", std::string(kJson)},
                    {"Idempotency-Key", idempotency_key},
                    {"Content-Digest", wire::ContentDigest(body)}},
                   body};
  PARLEY_ASSIGN_OR_RETURN(HttpResponse r, Call(std::move(http)));
  PARLEY_ASSIGN_OR_RETURN(json::object o, ParseObject(r.body, "batch upload"));
  UploadResult out;
  out.batch_id = StringField(o, "batch_id").value_or("");
  const json::value* dup = o.if_contains("duplicate");
  out.duplicate = dup && dup->is_bool() && dup->get_bool();
  out.accepted = IntField(o, "accepted");
  out.already_present = IntField(o, "already_present");
  out.quarantined = IntField(o, "quarantined");
  if (const json::value* refused = o.if_contains("refused");
      refused && refused->is_array() && !refused->get_array().empty() && refused->get_array()[0].is_object()) {
    const json::object& first = refused->get_array()[0].get_object();
    out.first_refusal = "line " + std::to_string(IntField(first, "line")) + " (" +
                        StringField(first, "type").value_or("?") + "): " + StringField(first, "reason").value_or("?");
  }
  PARLEY_ASSIGN_OR_RETURN(out.cursors, ReadCursors(o, "batch upload"));
  return out;
}

Result<HeartbeatResponse> ServerClient::Heartbeat(const HeartbeatRequest& request) {
  json::object body;
  body["agent_version"] = kAgentVersion;
  body["uptime_s"] = request.uptime_s;
  json::array sources;
  for (const SourceReport& s : request.sources) {
    json::object o;
    o["name"] = s.name;
    o["type"] = s.type;
    o["status"] = SourceStatusName(s.health.status);
    if (s.health.last_error) {
      o["last_error"] = *s.health.last_error;
    } else {
      o["last_error"] = nullptr;
    }
    sources.push_back(std::move(o));
  }
  body["sources"] = std::move(sources);
  HttpRequest http{"POST", std::string(wire::kIngestPrefix) + "/heartbeat",
                   {{"Content-Type", std::string(kJson)}, {"Accept", std::string(kJson)}}, json::serialize(body)};
  PARLEY_ASSIGN_OR_RETURN(HttpResponse r, Call(std::move(http)));
  PARLEY_ASSIGN_OR_RETURN(json::object o, ParseObject(r.body, "heartbeat"));
  HeartbeatResponse out;
  out.server_time = StringField(o, "server_time").value_or("");
  out.settings_version = IntField(o, "settings_version");
  return out;
}

}  // namespace parley::agent
