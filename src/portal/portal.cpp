#include "portal/portal.h"

#include <boost/json.hpp>
#include <fstream>
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
      {"GET", "/api/v1/calls", Access::kSession, "Call detail records, newest first (keyset pagination)",
       &Impl::Calls},
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
                               {"dest", PartyJson(dest, with_personal_data)}});
  }
  json::value next = nullptr;
  if (more && !calls->empty()) {
    const auto& last = calls->back();
    next = Hex(json::serialize(json::array{last.start_at, last.source, last.call_id}));
  }
  return Response::Json(200, json::serialize(json::object{{"calls", std::move(out)}, {"next_cursor", next}, {"total", *total}}));
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
