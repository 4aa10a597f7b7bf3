#include "portal/portal.h"

#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <optional>
#include <utility>
#include <vector>
#include <sstream>

#include "common/log.h"
#include "common/time_format.h"
#include "crypto/crypto.h"
#include "ingest/ingest.h"
#include "portal/static_files.h"

namespace parley::portal {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

enum class Access { kPublic, kSession };

struct SessionContext {
  store::Session session;
};


bool IsStateChanging(const std::string& method) { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }

std::string Hex(std::string_view s) { return crypto::ToHex(s); }
std::optional<std::string> Unhex(std::string_view s) {
  if (s.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(s.size() / 2);
  for (size_t i = 0; i < s.size(); i += 2) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = s[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else return std::nullopt;
    }
    out.push_back(static_cast<char>(v));
  }
  return out;
}

json::object PartyJson(const wire::Party& p, bool with_personal_data) {
  json::object o{{"model", p.model}, {"version", p.version}, {"site", p.site}};
  if (with_personal_data) {
    o["name"] = p.name;
    o["number"] = p.number;
    o["uri"] = p.uri;
    o["ip"] = p.ip;
  }
  return o;
}

// Media quality as the API shows it: unmeasured values are absent, never 0
// (docs/formats/model.md), so a chart can tell "perfect" from "not known".
json::object QualityJson(const store::QualitySample& q) {
  json::object o{{"party", q.party}, {"direction", q.direction}, {"media", q.media}};
  if (!q.codec.empty()) o["codec"] = q.codec;
  if (q.bitrate_kbps) o["bitrate_kbps"] = *q.bitrate_kbps;
  auto put = [&o](std::string_view key, const std::optional<double>& v) {
    if (v) o[key] = *v;
  };
  put("packet_loss_pct_avg", q.packet_loss_pct_avg);
  put("packet_loss_pct_max", q.packet_loss_pct_max);
  put("jitter_ms_avg", q.jitter_ms_avg);
  put("jitter_ms_max", q.jitter_ms_max);
  put("latency_ms_avg", q.latency_ms_avg);
  put("latency_ms_max", q.latency_ms_max);
  put("mos", q.mos);
  return o;
}

// The quality samples of `records`, keyed by (source, id), fetched in
// chunks the store accepts.
Result<std::map<std::pair<std::string, std::string>, json::array>> QualityByRecord(
    store::Store& store, const std::string& tenant_id, store::RecordKind kind,
    const std::vector<store::RecordRef>& records) {
  constexpr size_t kChunk = 1000;  // Store::ListQuality's limit
  std::map<std::pair<std::string, std::string>, json::array> out;
  for (size_t i = 0; i < records.size(); i += kChunk) {
    std::vector<store::RecordRef> chunk(records.begin() + static_cast<std::ptrdiff_t>(i),
                                        records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), i + kChunk)));
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::StoredQuality> samples, store.ListQuality(tenant_id, kind, chunk));
    for (const auto& q : samples) out[{q.source, q.record_id}].push_back(QualityJson(q.sample));
  }
  return out;
}

json::array Take(std::map<std::pair<std::string, std::string>, json::array>& m, const std::string& source,
                 const std::string& id) {
  auto it = m.find({source, id});
  return it == m.end() ? json::array() : std::move(it->second);
}

// ?limit=N, 1..max (default `fallback`).
Result<int64_t> ParseLimit(const Request& r, int64_t fallback, int64_t max) {
  auto limit = r.Query("limit");
  if (!limit) return fallback;
  char* end = nullptr;
  long v = std::strtol(limit->c_str(), &end, 10);
  if (limit->empty() || *end != '\0' || v < 1 || v > max)
    return InvalidArgument("limit must be an integer from 1 to " + std::to_string(max));
  return static_cast<int64_t>(v);
}

// ?cursor=: hex of the JSON array this API returned as next_cursor. Returns
// nullopt when absent; checks the element types against `shape` ('i' int,
// 's' string).
Result<std::optional<json::array>> ParseCursor(const Request& r, std::string_view shape) {
  auto cursor = r.Query("cursor");
  if (!cursor || cursor->empty()) return std::optional<json::array>();
  auto raw = Unhex(*cursor);
  boost::system::error_code ec;
  json::value v = raw ? json::parse(*raw, ec) : json::value();
  bool ok = raw && !ec && v.is_array() && v.as_array().size() == shape.size();
  for (size_t i = 0; ok && i < shape.size(); ++i) {
    ok = shape[i] == 'i' ? v.as_array()[i].is_int64() : v.as_array()[i].is_string();
  }
  if (!ok) return InvalidArgument("cursor is not one this API returned");
  return std::optional<json::array>(std::move(v.as_array()));
}

json::value OptionalTime(const std::optional<int64_t>& t) {
  return t ? json::value(FormatUtc(*t)) : json::value(nullptr);
}

// An agent counts as online while heartbeats keep coming: the agent sends
// one every 30 s by default, and three missed ones mark it offline.
constexpr int64_t kAgentOnlineWindowS = 3 * 30;

}  // namespace

struct Portal::Impl {
  Impl(store::Store& s, privacy::KeyRing& k, const Clock& c, PortalOptions o)
      : store(s), keys(k), clock(c), options(std::move(o)), throttle(c, options.login_max_failures),
        files(StaticFiles::Load(options.web_root)) {
    // A dummy hash so unknown e-mail addresses cost as much as known ones.
    dummy_hash = crypto::HashPassword(crypto::RandomToken());
  }

  struct Route {
    const char* method;
    const char* path;
    Access access;
    const char* summary;
    Response (Impl::*handler)(const Request&, const SessionContext*);
  };
  static const std::vector<Route>& Routes();
  Response Dispatch(const Request& r);
  Result<SessionContext> Authenticate(const Request& r);
  bool OriginAllowed(const Request& r) const;

  Response Healthz(const Request&, const SessionContext*) { return Response::Json(200, R"({"status":"ok"})"); }
  Response Readyz(const Request&, const SessionContext*);
  Response OpenApi(const Request&, const SessionContext*) { return Response::Json(200, OpenApiDocument()); }
  Response Login(const Request& r, const SessionContext*);
  Response Logout(const Request& r, const SessionContext* s);
  Response Session(const Request& r, const SessionContext* s);
  Response Calls(const Request& r, const SessionContext* s);
  Response Conferences(const Request& r, const SessionContext* s);
  Response Devices(const Request& r, const SessionContext* s);
  Response Agents(const Request& r, const SessionContext* s);
  Result<json::object> SessionBody(const store::Session& s);
  std::string OpenApiDocument() const;

  store::Store& store;
  privacy::KeyRing& keys;
  const Clock& clock;
  PortalOptions options;
  LoginThrottle throttle;
  StaticFiles files;
  std::string dummy_hash;
};

const std::vector<Portal::Impl::Route>& Portal::Impl::Routes() {
  static const std::vector<Route> routes = {
      {"GET", "/healthz", Access::kPublic, "Liveness: the process is up", &Impl::Healthz},
      {"GET", "/readyz", Access::kPublic, "Readiness: the store answers", &Impl::Readyz},
      {"GET", "/api/v1/openapi.json", Access::kPublic, "This OpenAPI document", &Impl::OpenApi},
      {"POST", "/api/v1/auth/login", Access::kPublic, "Sign in with e-mail and password; sets the session cookie",
       &Impl::Login},
      {"POST", "/api/v1/auth/logout", Access::kSession, "Sign out: ends this session", &Impl::Logout},
      {"GET", "/api/v1/session", Access::kSession, "The signed-in user, tenant and CSRF token", &Impl::Session},
      {"GET", "/api/v1/calls", Access::kSession,
       "Call detail records with their media quality, newest first (keyset pagination)", &Impl::Calls},
      {"GET", "/api/v1/conferences", Access::kSession,
       "Conferences with their participants and media quality, newest first (keyset pagination)",
       &Impl::Conferences},
      {"GET", "/api/v1/devices", Access::kSession, "Device inventory: the newest observed state of each device",
       &Impl::Devices},
      {"GET", "/api/v1/agents", Access::kSession,
       "The tenant's agents: last heartbeat, online/offline and per-source health", &Impl::Agents},
  };
  return routes;
}

Portal::Portal(store::Store& store, privacy::KeyRing& keys, const Clock& clock, PortalOptions options)
    : impl_(std::make_unique<Impl>(store, keys, clock, std::move(options))) {}
Portal::~Portal() = default;

std::string Portal::OpenApiJson() const { return impl_->OpenApiDocument(); }

Response Portal::Handle(const Request& r) {
  Response res = impl_->Dispatch(r);
  res.SetHeader("Content-Security-Policy", std::string(kContentSecurityPolicy));
  res.SetHeader("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
  res.SetHeader("X-Content-Type-Options", "nosniff");
  res.SetHeader("X-Frame-Options", "DENY");
  res.SetHeader("Referrer-Policy", "no-referrer");
  res.SetHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.SetHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  return res;
}

bool Portal::Impl::OriginAllowed(const Request& r) const {
  // Browsers send Origin on every cross-site POST; scripts usually send none.
  std::string origin = r.Header("origin");
  if (origin.empty()) return true;
  return origin == options.public_url || origin == "https://" + r.Header("host");
}

Response Portal::Impl::Dispatch(const Request& r) {
  const Route* match = nullptr;
  bool path_known = false;
  for (const auto& route : Routes()) {
    if (r.path != route.path) continue;
    path_known = true;
    if (r.method == route.method || (r.method == "HEAD" && std::string_view(route.method) == "GET")) match = &route;
  }
  if (!match) {
    if (path_known) {
      auto res = Response::FromError(InvalidArgument("method " + r.method + " is not allowed here"));
      res.status = 405;
      return res;
    }
    if (r.path.rfind("/api/", 0) == 0 || r.path == "/api")
      return Response::FromError(NotFound("no such API route: " + r.path));
    if (r.method != "GET" && r.method != "HEAD") return Response::FromError(NotFound("no such route"));
    return files.Serve(r.path);
  }
  if (IsStateChanging(r.method) && !OriginAllowed(r))
    return Response::FromError(PermissionDenied("cross-origin request refused"));
  if (match->access == Access::kPublic) return (this->*match->handler)(r, nullptr);
  auto session = Authenticate(r);
  if (!session.ok()) return Response::FromError(session.error());
  if (IsStateChanging(r.method)) {
    std::string token = r.Header("x-csrf-token");
    if (token.empty() || !crypto::ConstantTimeEquals(token, session->session.csrf_token))
      return Response::FromError(PermissionDenied("missing or wrong X-CSRF-Token header"));
  }
  return (this->*match->handler)(r, &*session);
}

Result<SessionContext> Portal::Impl::Authenticate(const Request& r) {
  auto cookie = r.Cookie(kSessionCookie);
  if (!cookie || cookie->empty()) return Unauthenticated("sign in first");
  auto s = store.GetSession(crypto::Sha256Hex(*cookie));
  if (!s.ok()) {
    if (s.error().code == Code::kNotFound) return Unauthenticated("session expired; sign in again");
    return s.error();
  }
  int64_t now = clock.NowUnixSeconds();
  if (s->expires_at <= now || s->last_seen_at + options.session_idle_seconds <= now) {
    (void)store.DeleteSession(s->id_hash);
    return Unauthenticated("session expired; sign in again");
  }
  // Touch at most once a minute: idle tracking does not need a write per request.
  if (now - s->last_seen_at >= 60) (void)store.TouchSession(s->id_hash, now);
  return SessionContext{std::move(*s)};
}

Response Portal::Impl::Readyz(const Request&, const SessionContext*) {
  if (auto st = store.Ping(); !st.ok()) return Response::FromError(Unavailable("store is not reachable"));
  return Response::Json(200, R"({"status":"ready"})");
}

Result<json::object> Portal::Impl::SessionBody(const store::Session& s) {
  PARLEY_ASSIGN_OR_RETURN(store::User user, store.GetUser(s.tenant_id, s.user_id));
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store.GetTenant(s.tenant_id));
  PARLEY_ASSIGN_OR_RETURN(crypto::Key256 key, keys.DataKey(s.tenant_id));
  PARLEY_ASSIGN_OR_RETURN(std::string email,
                          crypto::Open(key, user.email_sealed, privacy::UserEmailAad(user.tenant_id, user.id)));
  return json::object{
      {"user", json::object{{"id", user.id}, {"email", email}, {"role", store::RoleName(user.role)}}},
      {"tenant", json::object{{"id", tenant.id}, {"name", tenant.name}}},
      {"csrf_token", s.csrf_token},
  };
}

Response Portal::Impl::Login(const Request& r, const SessionContext*) {
  // No session exists yet, so no CSRF token either: requiring a JSON body
  // (which a cross-site form cannot send) and a same-site Origin protects it.
  if (r.Header("content-type").rfind("application/json", 0) != 0)
    return Response::FromError({Code::kUnsupportedMediaType, "send the credentials as application/json"});
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return Response::FromError(InvalidArgument("body must be a JSON object"));
  auto* email_v = body.as_object().if_contains("email");
  auto* password_v = body.as_object().if_contains("password");
  if (!email_v || !email_v->is_string() || !password_v || !password_v->is_string())
    return Response::FromError(InvalidArgument("fields \"email\" and \"password\" (strings) are required"));
  std::string email(email_v->as_string());
  std::string password(password_v->as_string());
  if (email.size() > 320 || password.size() > 1024)
    return Response::FromError(InvalidArgument("e-mail or password is too long"));
  std::string account = keys.EmailIndex(email);
  if (int64_t wait = throttle.RetryAfter(account, r.remote_address); wait > 0) {
    auto res = Response::FromError(
        ResourceExhausted("too many failed sign-ins; try again in " + std::to_string(wait) + " seconds"));
    res.SetHeader("Retry-After", std::to_string(wait));
    return res;
  }
  auto user = store.FindUserByEmailIndex(account);
  bool ok = false;
  if (user.ok() && !user->password_hash.empty()) {
    ok = crypto::VerifyPassword(password, user->password_hash);
  } else {
    (void)crypto::VerifyPassword(password, dummy_hash);
  }
  if (!ok) {
    throttle.RecordFailure(account, r.remote_address);
    log::info("portal: failed sign-in from {}", r.remote_address);
    return Response::FromError(Unauthenticated("e-mail address or password is wrong"));
  }
  throttle.RecordSuccess(account, r.remote_address);
  // A fresh session id at every sign-in (no fixation); an old one is ended.
  if (auto old = r.Cookie(kSessionCookie); old && !old->empty()) (void)store.DeleteSession(crypto::Sha256Hex(*old));
  int64_t now = clock.NowUnixSeconds();
  std::string token = crypto::RandomToken();
  store::Session s;
  s.id_hash = crypto::Sha256Hex(token);
  s.user_id = user->id;
  s.tenant_id = user->tenant_id;
  s.role = user->role;
  s.csrf_token = crypto::RandomToken();
  s.created_at = now;
  s.last_seen_at = now;
  s.expires_at = now + options.session_absolute_seconds;
  if (auto st = store.CreateSession(s); !st.ok()) return Response::FromError(st.error());
  auto out = SessionBody(s);
  if (!out.ok()) return Response::FromError(out.error());
  log::info("portal: user {} of tenant {} signed in", user->id, user->tenant_id);
  auto res = Response::Json(200, json::serialize(*out));
  res.SetHeader("Set-Cookie", std::string(kSessionCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=" +
                                  std::to_string(options.session_absolute_seconds));
  return res;
}

Response Portal::Impl::Logout(const Request&, const SessionContext* s) {
  if (auto st = store.DeleteSession(s->session.id_hash); !st.ok()) return Response::FromError(st.error());
  Response res;
  res.status = 204;
  res.SetHeader("Set-Cookie", std::string(kSessionCookie) + "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
  res.SetHeader("Cache-Control", "no-store");
  return res;
}

Response Portal::Impl::Session(const Request&, const SessionContext* s) {
  auto out = SessionBody(s->session);
  if (!out.ok()) return Response::FromError(out.error());
  return Response::Json(200, json::serialize(*out));
}

Response Portal::Impl::Calls(const Request& r, const SessionContext* s) {
  store::CallPageQuery q;
  if (auto limit = r.Query("limit")) {
    char* end = nullptr;
    long v = std::strtol(limit->c_str(), &end, 10);
    if (limit->empty() || *end != '\0' || v < 1 || v > 500)
      return Response::FromError(InvalidArgument("limit must be an integer from 1 to 500"));
    q.limit = v;
  }
  if (auto cursor = r.Query("cursor"); cursor && !cursor->empty()) {
    auto raw = Unhex(*cursor);
    boost::system::error_code ec;
    json::value v = raw ? json::parse(*raw, ec) : json::value();
    if (!raw || ec || !v.is_array() || v.as_array().size() != 3 || !v.as_array()[0].is_int64() ||
        !v.as_array()[1].is_string() || !v.as_array()[2].is_string())
      return Response::FromError(InvalidArgument("cursor is not one this API returned"));
    const auto& a = v.as_array();
    q.before = std::make_tuple(a[0].as_int64(), std::string(a[1].as_string()), std::string(a[2].as_string()));
  }
  const std::string& tenant_id = s->session.tenant_id;
  int64_t wanted = q.limit;
  q.limit = wanted + 1;  // one extra row tells whether a next page exists
  auto calls = store.ListCalls(tenant_id, q);
  if (!calls.ok()) return Response::FromError(calls.error());
  auto total = store.CountCalls(tenant_id);
  if (!total.ok()) return Response::FromError(total.error());
  // Viewers see reports only, never personal data (roles: docs/security.md).
  bool with_personal_data = s->session.role != store::Role::kViewer;
  crypto::Key256 key{};
  if (with_personal_data) {
    auto k = keys.DataKey(tenant_id);
    if (!k.ok()) return Response::FromError(k.error());
    key = *k;
  }
  json::array out;
  bool more = static_cast<int64_t>(calls->size()) > wanted;
  if (more) calls->resize(static_cast<size_t>(wanted));
  std::vector<store::RecordRef> refs;
  refs.reserve(calls->size());
  for (const auto& c : *calls) refs.push_back({c.source, c.call_id});
  auto quality = QualityByRecord(store, tenant_id, store::RecordKind::kCall, refs);
  if (!quality.ok()) return Response::FromError(quality.error());
  for (const auto& c : *calls) {
    wire::Party orig, dest;
    orig.model = c.orig_model, orig.version = c.orig_version, orig.site = c.orig_site;
    dest.model = c.dest_model, dest.version = c.dest_version, dest.site = c.dest_site;
    if (with_personal_data) {
      if (auto st = privacy::OpenCallPii(key, tenant_id, c.source, c.call_id, c.pii_sealed, orig, dest); !st.ok()) {
        log::error("portal: personal data of a call of tenant {} cannot be opened", tenant_id);
        return Response::FromError(Internal("stored personal data cannot be decrypted"));
      }
    }
    out.push_back(json::object{{"source", c.source},
                               {"id", c.call_id},
                               {"start", FormatUtc(c.start_at)},
                               {"end", FormatUtc(c.end_at)},
                               {"duration_s", c.duration_s},
                               {"status", c.status},
                               {"protocol", c.protocol},
                               {"call_type", c.call_type},
                               {"cause", c.cause},
                               {"bitrate_kbps", c.bitrate_kbps},
                               {"conference_id", c.conference_id},
                               {"orig", PartyJson(orig, with_personal_data)},
                               {"dest", PartyJson(dest, with_personal_data)},
                               {"quality", Take(*quality, c.source, c.call_id)}});
  }
  json::value next = nullptr;
  if (more && !calls->empty()) {
    const auto& last = calls->back();
    next = Hex(json::serialize(json::array{last.start_at, last.source, last.call_id}));
  }
  return Response::Json(200, json::serialize(json::object{{"calls", std::move(out)}, {"next_cursor", next}, {"total", *total}}));
}

Response Portal::Impl::Conferences(const Request& r, const SessionContext* s) {
  auto limit = ParseLimit(r, 50, 100);
  if (!limit.ok()) return Response::FromError(limit.error());
  auto cursor = ParseCursor(r, "iss");
  if (!cursor.ok()) return Response::FromError(cursor.error());
  store::ConferencePageQuery q;
  q.limit = *limit + 1;  // one extra row tells whether a next page exists
  if (*cursor) {
    const json::array& a = **cursor;
    q.before = std::make_tuple(a[0].as_int64(), std::string(a[1].as_string()), std::string(a[2].as_string()));
  }
  const std::string& tenant_id = s->session.tenant_id;
  auto conferences = store.ListConferences(tenant_id, q);
  if (!conferences.ok()) return Response::FromError(conferences.error());
  bool more = static_cast<int64_t>(conferences->size()) > *limit;
  if (more) conferences->resize(static_cast<size_t>(*limit));

  // Viewers see reports only, never personal data (as for calls).
  bool with_personal_data = s->session.role != store::Role::kViewer;
  crypto::Key256 key{};
  if (with_personal_data) {
    auto k = keys.DataKey(tenant_id);
    if (!k.ok()) return Response::FromError(k.error());
    key = *k;
  }
  std::vector<std::vector<store::StoredParticipant>> participants;
  std::vector<store::RecordRef> refs;
  for (const auto& c : *conferences) {
    auto p = store.ListParticipants(tenant_id, c.source, c.conference_id);
    if (!p.ok()) return Response::FromError(p.error());
    for (const auto& x : *p) refs.push_back({x.source, x.participant_id});
    participants.push_back(std::move(*p));
  }
  auto quality = QualityByRecord(store, tenant_id, store::RecordKind::kParticipant, refs);
  if (!quality.ok()) return Response::FromError(quality.error());

  json::array out;
  for (size_t i = 0; i < conferences->size(); ++i) {
    const store::StoredConference& c = (*conferences)[i];
    json::array legs;
    for (const auto& p : participants[i]) {
      wire::Party party;
      party.model = p.model, party.version = p.version, party.site = p.site;
      if (with_personal_data) {
        if (auto st = privacy::OpenParticipantPii(key, tenant_id, p.source, p.participant_id, p.pii_sealed, party);
            !st.ok()) {
          log::error("portal: personal data of a participant of tenant {} cannot be opened", tenant_id);
          return Response::FromError(Internal("stored personal data cannot be decrypted"));
        }
      }
      legs.push_back(json::object{{"id", p.participant_id},
                                  {"call_id", p.call_id},
                                  {"start", FormatUtc(p.start_at)},
                                  {"end", FormatUtc(p.end_at)},
                                  {"duration_s", p.duration_s},
                                  {"protocol", p.protocol},
                                  {"role", p.role},
                                  {"disconnect_reason", p.disconnect_reason},
                                  {"party", PartyJson(party, with_personal_data)},
                                  {"quality", Take(*quality, p.source, p.participant_id)}});
    }
    json::object o{{"source", c.source},
                   {"id", c.conference_id},
                   {"start", FormatUtc(c.start_at)},
                   {"end", FormatUtc(c.end_at)},
                   {"room", c.room},
                   {"mcu", c.mcu},
                   {"participant_count", c.participant_count},
                   {"max_resources_used", c.max_resources_used ? json::value(*c.max_resources_used) : nullptr},
                   {"scheduled_start", OptionalTime(c.scheduled_start)},
                   {"scheduled_end", OptionalTime(c.scheduled_end)},
                   {"participants_stored", c.stored_participants},
                   {"participants", std::move(legs)}};
    if (with_personal_data) {
      std::string name;
      if (auto st = privacy::OpenConferencePii(key, tenant_id, c.source, c.conference_id, c.pii_sealed, name);
          !st.ok()) {
        log::error("portal: personal data of a conference of tenant {} cannot be opened", tenant_id);
        return Response::FromError(Internal("stored personal data cannot be decrypted"));
      }
      o["name"] = name;
    }
    out.push_back(std::move(o));
  }
  json::value next = nullptr;
  if (more && !conferences->empty()) {
    const auto& last = conferences->back();
    next = Hex(json::serialize(json::array{last.start_at, last.source, last.conference_id}));
  }
  return Response::Json(200, json::serialize(json::object{{"conferences", std::move(out)}, {"next_cursor", next}}));
}

Response Portal::Impl::Devices(const Request& r, const SessionContext* s) {
  auto limit = ParseLimit(r, 100, 500);
  if (!limit.ok()) return Response::FromError(limit.error());
  auto cursor = ParseCursor(r, "ss");
  if (!cursor.ok()) return Response::FromError(cursor.error());
  store::DevicePageQuery q;
  q.limit = *limit + 1;
  if (*cursor) q.after = std::make_pair(std::string((**cursor)[0].as_string()), std::string((**cursor)[1].as_string()));
  const std::string& tenant_id = s->session.tenant_id;
  auto devices = store.ListDevices(tenant_id, q);
  if (!devices.ok()) return Response::FromError(devices.error());
  bool more = static_cast<int64_t>(devices->size()) > *limit;
  if (more) devices->resize(static_cast<size_t>(*limit));
  bool with_personal_data = s->session.role != store::Role::kViewer;
  crypto::Key256 key{};
  if (with_personal_data) {
    auto k = keys.DataKey(tenant_id);
    if (!k.ok()) return Response::FromError(k.error());
    key = *k;
  }
  json::array out;
  for (const auto& d : *devices) {
    json::object o{{"source", d.source},
                   {"id", d.device_id},
                   {"observed_at", FormatUtc(d.observed_at)},
                   {"type", d.device_type},
                   {"model", d.model},
                   {"version", d.version},
                   {"site", d.site},
                   {"status", d.status.empty() ? "unknown" : d.status},
                   {"registration", d.registration},
                   {"timezone", d.timezone}};
    if (with_personal_data) {
      wire::DeviceRecord pii;
      if (auto st = privacy::OpenDevicePii(key, tenant_id, d.source, d.device_id, d.pii_sealed, pii); !st.ok()) {
        log::error("portal: personal data of a device of tenant {} cannot be opened", tenant_id);
        return Response::FromError(Internal("stored personal data cannot be decrypted"));
      }
      o["name"] = pii.name;
      o["serial"] = pii.serial;
      o["ip"] = pii.ip;
      o["mac"] = pii.mac;
      o["owner"] = pii.owner;
    }
    out.push_back(std::move(o));
  }
  json::value next = nullptr;
  if (more && !devices->empty()) next = Hex(json::serialize(json::array{devices->back().source, devices->back().device_id}));
  return Response::Json(200, json::serialize(json::object{{"devices", std::move(out)}, {"next_cursor", next}}));
}

Response Portal::Impl::Agents(const Request&, const SessionContext* s) {
  auto agents = store.ListAgents(s->session.tenant_id);
  if (!agents.ok()) return Response::FromError(agents.error());
  int64_t now = clock.NowUnixSeconds();
  json::array out;
  for (const auto& a : *agents) {
    bool online = a.last_heartbeat_at != 0 && now - a.last_heartbeat_at <= kAgentOnlineWindowS;
    json::object o{{"id", a.id},
                   {"name", a.name},
                   {"enrolled_at", FormatUtc(a.created_at)},
                   {"last_heartbeat", a.last_heartbeat_at != 0 ? json::value(FormatUtc(a.last_heartbeat_at)) : nullptr},
                   {"state", online ? "online" : "offline"},
                   {"agent_version", nullptr},
                   {"uptime_s", nullptr}};
    // Source health as the agent last reported it (ingest keeps only these
    // fields). It describes the collector, not call quality: a blind
    // collector shows as failing here, never as bad calls.
    json::array sources;
    boost::system::error_code ec;
    json::value hb = a.heartbeat_json.empty() ? json::value() : json::parse(a.heartbeat_json, ec);
    if (!ec && hb.is_object()) {
      const json::object& h = hb.as_object();
      if (auto* v = h.if_contains("agent_version"); v && v->is_string()) o["agent_version"] = *v;
      if (auto* v = h.if_contains("uptime_s"); v && v->is_int64()) o["uptime_s"] = *v;
      if (auto* v = h.if_contains("sources"); v && v->is_array()) {
        for (const auto& src : v->as_array()) {
          if (!src.is_object()) continue;
          const json::object& so = src.as_object();
          auto text = [&so](const char* k) -> json::value {
            auto* f = so.if_contains(k);
            return f && f->is_string() ? *f : json::value(nullptr);
          };
          json::value status = text("status");
          std::string_view st = status.is_string() ? std::string_view(status.as_string()) : std::string_view();
          // Anything outside the three known states is shown as unknown
          // rather than passed through.
          if (st != "ok" && st != "degraded" && st != "failing") status = "unknown";
          sources.push_back(json::object{{"name", text("name")},
                                         {"type", text("type")},
                                         {"status", std::move(status)},
                                         {"last_error", text("last_error")}});
        }
      }
    }
    o["sources"] = std::move(sources);
    out.push_back(std::move(o));
  }
  return Response::Json(200, json::serialize(json::object{{"agents", std::move(out)},
                                                          {"server_time", FormatUtc(now)},
                                                          {"online_window_s", kAgentOnlineWindowS}}));
}

std::string Portal::Impl::OpenApiDocument() const {
  json::object paths;
  auto error_response = [](const char* description) {
    return json::object{{"description", description},
                        {"content", json::object{{"application/json",
                                                  json::object{{"schema", json::object{{"$ref", "#/components/schemas/Error"}}}}}}}};
  };
  for (const auto& route : Routes()) {
    std::string method = route.method;
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    json::object op{{"summary", route.summary},
                    {"x-parley-access", route.access == Access::kPublic ? "public" : "session"},
                    {"responses", json::object{{"200", json::object{{"description", "OK"}}},
                                               {"4XX", error_response("Client error")}}}};
    op["tags"] = json::array{"portal"};
    if (route.access == Access::kSession) {
      op["security"] = json::array{json::object{{"sessionCookie", json::array{}}}};
    } else {
      op["security"] = json::array{};
    }
    paths[route.path].emplace_object()[method] = std::move(op);
  }
  for (const auto& route : ingest::IngestService::Routes()) {
    std::string method = route.method;
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    json::object op{{"summary", route.summary},
                    {"tags", json::array{"ingest"}},
                    {"x-parley-listener", "ingest"},
                    {"x-parley-access", route.needs_client_cert ? "agent-certificate" : "enrollment-token"},
                    {"responses", json::object{{"200", json::object{{"description", "OK"}}},
                                               {"4XX", error_response("Client error")}}}};
    if (route.needs_client_cert) op["security"] = json::array{json::object{{"agentCertificate", json::array{}}}};
    if (auto* existing = paths.if_contains(route.path)) existing->as_object()[method] = std::move(op);
    else paths[route.path] = json::object{{method, std::move(op)}};
  }
  json::object doc{
      {"openapi", "3.0.3"},
      {"info", json::object{{"title", "Parley API"}, {"version", "1"},
                            {"description", "Portal JSON API (portal listener) and agent ingest protocol v1 "
                                            "(ingest listener, mutual TLS). Errors are JSON {error, detail}."}}},
      {"servers", json::array{json::object{{"url", options.public_url}}}},
      {"paths", std::move(paths)},
      {"components",
       json::object{{"securitySchemes",
                     json::object{{"sessionCookie", json::object{{"type", "apiKey"}, {"in", "cookie"}, {"name", kSessionCookie}}},
                                  {"agentCertificate", json::object{{"type", "mutualTLS"}}}}},
                    {"schemas", json::object{{"Error", json::object{{"type", "object"},
                                                                    {"required", json::array{"error", "detail"}},
                                                                    {"properties", json::object{{"error", json::object{{"type", "string"}}},
                                                                                                {"detail", json::object{{"type", "string"}}}}}}}}}}},
  };
  return json::serialize(doc);
}

}  // namespace parley::portal
