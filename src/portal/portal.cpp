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
#include "portal/account_security.h"
#include "portal/accounts.h"
#include "portal/analytics_routes.h"
#include "portal/password_policy.h"
#include "portal/saml_sso.h"
#include "portal/sso_settings.h"
#include "portal/static_files.h"
#include "portal/tenant_admin.h"
#include "privacy/audit.h"
#include "privacy/search_terms.h"

namespace parley::portal {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

// The authorization layer (docs/security.md, "Roles and authorization").
// Every route declares the least role that may call it and what tenant data
// it touches; Dispatch enforces both before any handler runs, and the OpenAPI
// document shows them (x-parley-role, x-parley-tenant-data).
enum class MinRole {
  kPublic,         // no session
  kSignedIn,       // any signed-in role
  kAnalyst,        // analyst or tenant_admin
  kTenantAdmin,    // tenant_admin
  kPlatformAdmin,  // platform_admin only
};
// Tenant data a route reads or changes. The platform admin is refused on any
// route with tenant data, and so is every user of a tenant whose
// subscription has ended.
enum class Data {
  kNone,      // no tenant data (health, sign-in, own session, platform routes)
  kTenant,    // the caller's tenant's data, no personal data
  kPersonal,  // the caller's tenant's personal data (viewers get it without the personal fields)
};

std::string_view MinRoleName(MinRole r) {
  switch (r) {
    case MinRole::kPublic: return "public";
    case MinRole::kSignedIn: return "signed-in";
    case MinRole::kAnalyst: return "analyst";
    case MinRole::kTenantAdmin: return "tenant_admin";
    case MinRole::kPlatformAdmin: return "platform_admin";
  }
  return "platform_admin";
}

std::string_view DataName(Data d) {
  switch (d) {
    case Data::kNone: return "none";
    case Data::kTenant: return "tenant";
    case Data::kPersonal: return "personal";
  }
  return "personal";
}

bool RoleAllows(MinRole need, store::Role have) {
  switch (need) {
    case MinRole::kPublic:
    case MinRole::kSignedIn: return true;
    case MinRole::kAnalyst: return have == store::Role::kAnalyst || have == store::Role::kTenantAdmin;
    case MinRole::kTenantAdmin: return have == store::Role::kTenantAdmin;
    case MinRole::kPlatformAdmin: return have == store::Role::kPlatformAdmin;
  }
  return false;
}

// Matches a route path whose "{name}" segments match one non-empty segment.
bool MatchPath(std::string_view pattern, std::string_view path, std::map<std::string, std::string>* params) {
  std::map<std::string, std::string> found;
  while (!pattern.empty() || !path.empty()) {
    if (pattern.empty() || path.empty() || pattern[0] != '/' || path[0] != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    std::string_view p = pattern.substr(0, pattern.find('/'));
    std::string_view v = path.substr(0, path.find('/'));
    if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
      if (v.empty()) return false;
      found[std::string(p.substr(1, p.size() - 2))] = std::string(v);
    } else if (p != v) {
      return false;
    }
    pattern.remove_prefix(p.size());
    path.remove_prefix(v.size());
  }
  if (params) *params = std::move(found);
  return true;
}

struct SessionContext {
  store::Session session;
  std::map<std::string, std::string> path_params;  // the route's "{name}" segments
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
    if (options.accounts.public_url.empty()) options.accounts.public_url = options.public_url;
    account_flows = std::make_unique<AccountFlows>(store, keys, clock, options.mailer, options.accounts);
    // A dummy hash so unknown e-mail addresses cost as much as known ones.
    dummy_hash = crypto::HashPassword(crypto::RandomToken());
  }

  struct Route {
    const char* method;
    const char* path;  // "{name}" segments are path parameters
    MinRole role;      // the least role allowed (RoleAllows)
    Data data;         // tenant data touched: refused to the platform admin and after the subscription end
    const char* summary;
    Response (Impl::*handler)(const Request&, const SessionContext*);
  };
  static const std::vector<Route>& Routes();
  Response Dispatch(const Request& r);
  Result<SessionContext> Authenticate(const Request& r);
  // The tenant data key when the session may see personal data; nullopt for
  // viewers, who see reports only (roles: docs/security.md).
  Result<std::optional<privacy::TenantDataKeys>> PersonalDataKey(const store::Session& session);
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
  Response Quarantine(const Request& r, const SessionContext* s);
  Response Users(const Request& r, const SessionContext* s);
  Response SetUserRole(const Request& r, const SessionContext* s);
  Response AdminTenants(const Request& r, const SessionContext* s);
  Response AdminCreateTenant(const Request& r, const SessionContext* s);
  Response AdminAgents(const Request& r, const SessionContext* s);
  // Sign-in hardening: sign out everywhere, TOTP enrolment, tenant edits.
  Response LogoutAll(const Request& r, const SessionContext* s);
  Response TotpSetup(const Request& r, const SessionContext* s) { return account_security.Setup(r, s->session); }
  Response TotpConfirm(const Request& r, const SessionContext* s) { return account_security.Confirm(r, s->session); }
  Response TotpDisable(const Request& r, const SessionContext* s) { return account_security.Disable(r, s->session); }
  Response AdminUpdateTenant(const Request& r, const SessionContext* s);
  // A new session for `user` (a fresh 256-bit id; only its hash is stored)
  // and the Set-Cookie value carrying it.
  Result<std::pair<store::Session, std::string>> IssueSession(const store::User& user);
  std::string SessionCookie(const std::string& token) const;
  Response AuditPage(const Request& r, const SessionContext* s);
  Response AuditExport(const Request& r, const SessionContext* s);
  // Self-registration and password reset: portal/registration.h.
  Response Register(const Request& r, const SessionContext*) { return account_flows->RequestRegistration(r); }
  Response RegisterComplete(const Request& r, const SessionContext*) { return account_flows->CompleteRegistration(r); }
  Response RegisterInfo(const Request& r, const SessionContext*) { return account_flows->Info(r); }
  Response PasswordReset(const Request& r, const SessionContext*) { return account_flows->RequestReset(r); }
  Response PasswordResetComplete(const Request& r, const SessionContext*) { return account_flows->CompleteReset(r); }
  // SAML single sign-on (portal/saml_sso.h) and the tenant's SSO settings.
  Response SamlMetadata(const Request& r, const SessionContext*) { return saml_sso.Metadata(r); }
  Response SamlLogin(const Request& r, const SessionContext*) { return saml_sso.Login(r); }
  Response SamlAcs(const Request& r, const SessionContext*) { return saml_sso.Acs(r); }
  Response GetSso(const Request& r, const SessionContext* s);
  Response PutSso(const Request& r, const SessionContext* s);
  // Dashboards from the rollups: portal/analytics_routes.h.
  Response UsageAnalytics(const Request& r, const SessionContext* s) {
    return AnalyticsUsage(store, r, s->session.tenant_id, clock.NowUnixSeconds());
  }
  Response QualityAnalytics(const Request& r, const SessionContext* s) {
    return AnalyticsQuality(store, r, s->session.tenant_id, clock.NowUnixSeconds());
  }
  // Records that personal data of `what` was returned (docs/security.md,
  // "Audit log"); an error means the page must not be sent.
  // `search`: the kind of a party search (details "search"), or "".
  Status AuditPersonalView(const SessionContext& s, std::string_view what, int64_t records, const Request& r,
                           std::string_view search = {});
  json::object AgentJson(const store::Agent& a, int64_t now) const;
  Result<json::object> SessionBody(const store::Session& s);
  std::string OpenApiDocument() const;

  store::Store& store;
  privacy::KeyRing& keys;
  const Clock& clock;
  PortalOptions options;
  LoginThrottle throttle;
  StaticFiles files;
  std::string dummy_hash;
  privacy::AuditLog audit{store, clock};
  AccountSecurity account_security{store, keys, clock, audit, throttle};
  SamlSso saml_sso{store, keys, clock, audit,
                   SamlSsoOptions{.sp = options.saml,
                                  .request_seconds = options.saml_request_seconds,
                                  .session_absolute_seconds = options.session_absolute_seconds}};
  std::unique_ptr<AccountFlows> account_flows;  // its worker stops before the members above go
};

const std::vector<Portal::Impl::Route>& Portal::Impl::Routes() {
  static const std::vector<Route> routes = {
      {"GET", "/healthz", MinRole::kPublic, Data::kNone, "Liveness: the process is up", &Impl::Healthz},
      {"GET", "/readyz", MinRole::kPublic, Data::kNone, "Readiness: the store answers", &Impl::Readyz},
      {"GET", "/api/v1/openapi.json", MinRole::kPublic, Data::kNone, "This OpenAPI document", &Impl::OpenApi},
      {"POST", "/api/v1/auth/login", MinRole::kPublic, Data::kNone,
       "Sign in with e-mail and password, plus \"totp\" (the current code) when two-factor authentication is on "
       "(else 401 second_factor_required); sets a fresh session cookie", &Impl::Login},
      {"POST", "/api/v1/auth/logout", MinRole::kSignedIn, Data::kNone, "Sign out: ends this session", &Impl::Logout},
      {"GET", "/api/v1/session", MinRole::kSignedIn, Data::kNone, "The signed-in user, tenant and CSRF token",
       &Impl::Session},
      {"GET", "/api/v1/calls", MinRole::kSignedIn, Data::kPersonal,
       "Call detail records with their media quality, newest first (keyset pagination); personal fields for "
       "analysts and tenant admins only. ?party=<phone number, SIP URI, e-mail or IP address> lists the calls "
       "of that party only (analysts and tenant admins; matched by blind index)",
       &Impl::Calls},
      {"GET", "/api/v1/conferences", MinRole::kSignedIn, Data::kPersonal,
       "Conferences with their participants and media quality, newest first (keyset pagination); personal "
       "fields for analysts and tenant admins only",
       &Impl::Conferences},
      {"GET", "/api/v1/devices", MinRole::kSignedIn, Data::kPersonal,
       "Device inventory: the newest observed state of each device; personal fields for analysts and tenant "
       "admins only",
       &Impl::Devices},
      {"GET", "/api/v1/agents", MinRole::kSignedIn, Data::kTenant,
       "The tenant's agents: last heartbeat, online/offline and per-source health", &Impl::Agents},
      {"GET", "/api/v1/quarantine", MinRole::kTenantAdmin, Data::kTenant,
       "Records ingest refused on their own (implausible times), counted per agent, source, type and reason",
       &Impl::Quarantine},
      {"GET", "/api/v1/users", MinRole::kTenantAdmin, Data::kPersonal, "The tenant's users with their e-mail and role",
       &Impl::Users},
      {"PATCH", "/api/v1/users/{id}/role", MinRole::kTenantAdmin, Data::kPersonal,
       "Change a user's role (tenant_admin, analyst or viewer); the last tenant admin cannot be demoted",
       &Impl::SetUserRole},
      {"GET", "/api/v1/audit", MinRole::kTenantAdmin, Data::kTenant,
       "The tenant's audit log, newest first (keyset pagination; ids only, no personal data)", &Impl::AuditPage},
      {"GET", "/api/v1/audit/export", MinRole::kTenantAdmin, Data::kTenant,
       "Download the tenant's whole audit log as NDJSON (the export is itself audited)", &Impl::AuditExport},
      {"GET", "/api/v1/admin/tenants", MinRole::kPlatformAdmin, Data::kNone,
       "All tenants: name, domains, time zone, subscription (no personal data)", &Impl::AdminTenants},
      {"POST", "/api/v1/admin/tenants", MinRole::kPlatformAdmin, Data::kNone,
       "Create a tenant {name, domains[], time_zone, subscription_end}", &Impl::AdminCreateTenant},
      {"GET", "/api/v1/admin/agents", MinRole::kPlatformAdmin, Data::kNone,
       "Every tenant's agents with their health (no personal data)", &Impl::AdminAgents},
      {"POST", "/api/v1/register", MinRole::kPublic, Data::kNone,
       "Ask for a registration link by e-mail {email}; 202 with the same answer for every address",
       &Impl::Register},
      {"GET", "/api/v1/register/info", MinRole::kPublic, Data::kNone,
       "How this server delivers mail (SMTP, or the demo's outbox directory) and the password length limits",
       &Impl::RegisterInfo},
      {"POST", "/api/v1/register/complete", MinRole::kPublic, Data::kNone,
       "Finish a registration {token, password}: the account becomes active with the viewer role",
       &Impl::RegisterComplete},
      {"POST", "/api/v1/password-reset", MinRole::kPublic, Data::kNone,
       "Ask for a password-reset link by e-mail {email}; 202 with the same answer for every address",
       &Impl::PasswordReset},
      {"POST", "/api/v1/password-reset/complete", MinRole::kPublic, Data::kNone,
       "Set a new password {token, password}; ends every session of the user", &Impl::PasswordResetComplete},
      // Sign-in hardening (docs/security.md): sign out everywhere, TOTP, tenant edits.
      {"POST", "/api/v1/auth/logout-all", MinRole::kSignedIn, Data::kNone,
       "Sign out everywhere: ends every session of the signed-in user, this one included", &Impl::LogoutAll},
      {"POST", "/api/v1/account/totp/setup", MinRole::kSignedIn, Data::kNone,
       "Start two-factor set-up {password}: a new TOTP secret (base32) and its otpauth:// URI; not active until "
       "confirmed",
       &Impl::TotpSetup},
      {"POST", "/api/v1/account/totp/confirm", MinRole::kSignedIn, Data::kNone,
       "Turn two-factor authentication on with a first code from the authenticator app {code}", &Impl::TotpConfirm},
      {"POST", "/api/v1/account/totp/disable", MinRole::kSignedIn, Data::kNone,
       "Turn two-factor authentication off {password, code}", &Impl::TotpDisable},
      {"PATCH", "/api/v1/admin/tenants/{id}", MinRole::kPlatformAdmin, Data::kNone,
       "Edit a tenant {name?, domains[]?, time_zone?, subscription_end?} (no personal data)", &Impl::AdminUpdateTenant},
      // SAML single sign-on (docs/sso.md). Public: no session exists yet.
      {"GET", "/saml/metadata", MinRole::kPublic, Data::kNone,
       "SAML service provider metadata (entity ID, ACS URL, signing certificate)", &Impl::SamlMetadata},
      {"GET", "/saml/login", MinRole::kPublic, Data::kNone,
       "Start SP-initiated single sign-on: ?tenant=<organisation name, id, e-mail domain or address>; redirects "
       "to the tenant's identity provider",
       &Impl::SamlLogin},
      {"POST", "/saml/acs", MinRole::kPublic, Data::kNone,
       "SAML assertion consumer service (HTTP-POST binding): signs the person in, or answers an error page",
       &Impl::SamlAcs},
      {"GET", "/api/v1/tenant/sso", MinRole::kTenantAdmin, Data::kTenant,
       "The tenant's single sign-on settings (IdP, group attribute, role map, default role)", &Impl::GetSso},
      {"PUT", "/api/v1/tenant/sso", MinRole::kTenantAdmin, Data::kTenant,
       "Change the tenant's single sign-on settings {idp_metadata, group_attribute, role_map, default_role, "
       "enabled, allow_idp_initiated}; unset fields keep their value (audited)",
       &Impl::PutSso},
      // Dashboards (docs/analytics.md): rollups only; sites and models are not personal data.
      {"GET", "/api/v1/analytics/usage", MinRole::kSignedIn, Data::kTenant,
       "Utilization from the rollups: calls, completed, failed, minutes and peak concurrent calls per local day or "
       "hour (?from=YYYY-MM-DD&to=YYYY-MM-DD&grain=day|hour&source=S; default the last 7 days), with KPIs",
       &Impl::UsageAnalytics},
      {"GET", "/api/v1/analytics/quality", MinRole::kSignedIn, Data::kTenant,
       "Media quality from the rollups per site, device model or source (?from&to&dimension=site|model|source): "
       "averages, p50/p95 latency and jitter, share of poor streams",
       &Impl::QualityAnalytics},
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
  std::map<std::string, std::string> params;
  for (const auto& route : Routes()) {
    std::map<std::string, std::string> p;
    if (!MatchPath(route.path, r.path, &p)) continue;
    path_known = true;
    if (r.method == route.method || (r.method == "HEAD" && std::string_view(route.method) == "GET")) {
      match = &route;
      params = std::move(p);
    }
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
  // The SAML ACS is the one exception: the IdP's form POST is cross-site by
  // design (its Origin is the IdP's); the SAML binding protects it
  // (portal/saml_sso.h).
  if (IsStateChanging(r.method) && !OriginAllowed(r) && match->handler != &Impl::SamlAcs)
    return Response::FromError(PermissionDenied("cross-origin request refused"));
  if (match->role == MinRole::kPublic) return (this->*match->handler)(r, nullptr);
  auto session = Authenticate(r);
  if (!session.ok()) return Response::FromError(session.error());
  if (IsStateChanging(r.method)) {
    std::string token = r.Header("x-csrf-token");
    if (token.empty() || !crypto::ConstantTimeEquals(token, session->session.csrf_token))
      return Response::FromError(PermissionDenied("missing or wrong X-CSRF-Token header"));
  }
  auto forbidden = [&](const std::string& detail) {
    return Response::Json(403, json::serialize(json::object{{"error", "permission_denied"},
                                                            {"detail", detail},
                                                            {"required_role", MinRoleName(match->role)}}));
  };
  const store::Role role = session->session.role;
  if (!RoleAllows(match->role, role))
    return forbidden("this route requires the " + std::string(MinRoleName(match->role)) + " role; you are " +
                     std::string(store::RoleName(role)));
  if (match->data != Data::kNone) {
    if (role == store::Role::kPlatformAdmin)
      return forbidden("the platform admin has no access to tenant data; use the /api/v1/admin routes");
    auto tenant = store.GetTenant(session->session.tenant_id);
    if (!tenant.ok()) return Response::FromError(tenant.error());
    if (SubscriptionEnded(*tenant, clock.NowUnixSeconds()))
      return forbidden("subscription ended on " + tenant->subscription_end + "; ask your provider to renew it");
  }
  session->path_params = std::move(params);
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
  SessionContext context;
  context.session = std::move(*s);
  return context;
}

Result<std::optional<privacy::TenantDataKeys>> Portal::Impl::PersonalDataKey(const store::Session& session) {
  if (session.role == store::Role::kViewer) return std::optional<privacy::TenantDataKeys>();
  PARLEY_ASSIGN_OR_RETURN(privacy::TenantDataKeys key, keys.DataKeys(session.tenant_id));
  return std::optional<privacy::TenantDataKeys>(key);
}

Response Portal::Impl::Readyz(const Request&, const SessionContext*) {
  if (auto st = store.Ping(); !st.ok()) return Response::FromError(Unavailable("store is not reachable"));
  return Response::Json(200, R"({"status":"ready"})");
}

Result<json::object> Portal::Impl::SessionBody(const store::Session& s) {
  PARLEY_ASSIGN_OR_RETURN(store::User user, store.GetUser(s.tenant_id, s.user_id));
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store.GetTenant(s.tenant_id));
  PARLEY_ASSIGN_OR_RETURN(privacy::TenantDataKeys key, keys.DataKeys(s.tenant_id));
  PARLEY_ASSIGN_OR_RETURN(std::string email,
                          privacy::OpenSealed(key, user.email_sealed, privacy::UserEmailAad(user.tenant_id, user.id)));
  PARLEY_ASSIGN_OR_RETURN(bool totp_enabled, account_security.SecondFactorEnabled(user));
  return json::object{
      {"user", json::object{{"id", user.id},
                            {"email", email},
                            {"role", store::RoleName(user.role)},
                            {"local", !user.password_hash.empty()},  // may use a password and TOTP
                            {"totp_enabled", totp_enabled}}},
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
  auto* totp_v = body.as_object().if_contains("totp");
  if (totp_v && !totp_v->is_string() && !totp_v->is_null())
    return Response::FromError(InvalidArgument("field \"totp\" must be a string of digits"));
  std::string email(email_v->as_string());
  std::string password(password_v->as_string());
  std::string totp = totp_v && totp_v->is_string() ? std::string(totp_v->as_string()) : std::string();
  if (email.size() > 320 || password.size() > 1024 || totp.size() > 16)
    return Response::FromError(InvalidArgument("e-mail, password or code is too long"));
  // Passwords are hashed in NFKC (portal/password_policy.h); bytes that are
  // not UTF-8 are checked as they are (and cannot match).
  if (auto nfkc = NormalizePassword(password); nfkc.ok()) password = std::move(*nfkc);
  std::string account = keys.EmailIndex(email);
  // Checked before the password: a throttled attempt tests nothing.
  if (auto verdict = throttle.Check(account, r.remote_address); verdict.retry_after > 0) {
    std::string wait = std::to_string(verdict.retry_after);
    auto res = Response::FromError(ResourceExhausted(
        verdict.locked ? "sign-in from this address is locked after too many failures; try again in " + wait + " seconds"
                       : "too many failed sign-ins; try again in " + wait + " seconds"));
    res.SetHeader("Retry-After", wait);
    return res;
  }
  auto user = store.FindUserByEmailIndex(account);
  bool ok = false;
  if (user.ok() && !user->password_hash.empty()) {
    ok = crypto::VerifyPassword(password, user->password_hash);
  } else {
    (void)crypto::VerifyPassword(password, dummy_hash);
  }
  const std::string source = privacy::KeyedRef(keys.IndexKey(), "src", r.remote_address);
  if (!ok) {
    throttle.RecordFailure(account, r.remote_address);
    log::info("portal: failed sign-in from {}", r.remote_address);
    // Known account: its tenant's chain, by user id. Unknown address: the
    // platform chain, by the blind index prefix — never the address.
    const bool known = user.ok();
    auto logged = audit.Append(known ? user->tenant_id : std::string(store::kPlatformAuditChain), "anonymous",
                               privacy::audit_action::kLogin,
                               known ? privacy::AuditUser(user->id) : privacy::AuditEmailIndex(account),
                               privacy::audit_outcome::kFailure,
                               json::object{{"method", "password"},
                                            {"reason", known ? "bad_password" : "unknown_account"},
                                            {"source", source}});
    if (!logged.ok()) log::error("portal: audit entry for a failed sign-in not written: {}", logged.error().detail);
    return Response::FromError(Unauthenticated("e-mail address or password is wrong"));
  }
  // The second factor (docs/security.md, "Two-factor authentication").
  auto second_factor = account_security.SecondFactorEnabled(*user);
  if (!second_factor.ok()) return Response::FromError(second_factor.error());
  if (*second_factor) {
    if (totp.empty()) {
      // The password was right: nothing failed, and nothing is cleared
      // either, so guessing codes stays throttled. The client asks for the
      // code and sends the same request again with "totp".
      return Response::Json(401, json::serialize(json::object{
                                     {"error", "second_factor_required"},
                                     {"detail", "enter the 6-digit code from your authenticator app"}}));
    }
    auto code_ok = account_security.CheckCode(*user, totp);
    if (!code_ok.ok()) return Response::FromError(code_ok.error());
    if (!*code_ok) {
      throttle.RecordFailure(account, r.remote_address);
      if (auto logged = audit.Append(user->tenant_id, "anonymous", privacy::audit_action::kLogin,
                                     privacy::AuditUser(user->id), privacy::audit_outcome::kFailure,
                                     json::object{{"method", "password+totp"}, {"reason", "bad_totp"}, {"source", source}});
          !logged.ok())
        log::error("portal: audit entry for a failed sign-in not written: {}", logged.error().detail);
      return Response::Json(401, json::serialize(json::object{
                                     {"error", "second_factor_invalid"},
                                     {"detail", "the code is wrong or was used already; enter the current code"}}));
    }
  }
  throttle.RecordSuccess(account, r.remote_address);
  // A fresh session id at every sign-in (no fixation): an id presented
  // before is ended, never reused.
  if (auto old = r.Cookie(kSessionCookie); old && !old->empty()) (void)store.DeleteSession(crypto::Sha256Hex(*old));
  // Housekeeping: idle and expired sessions are refused when presented;
  // sign-in is a natural moment to also delete them.
  (void)store.DeleteExpiredSessions(clock.NowUnixSeconds(), options.session_idle_seconds);
  auto issued = IssueSession(*user);
  if (!issued.ok()) return Response::FromError(issued.error());
  const store::Session& s = issued->first;
  // Fail closed: a sign-in that cannot be audited does not happen.
  if (auto logged = audit.Append(s.tenant_id, privacy::AuditUser(s.user_id), privacy::audit_action::kLogin,
                                 privacy::AuditSession(s.id_hash), privacy::audit_outcome::kSuccess,
                                 json::object{{"method", *second_factor ? "password+totp" : "password"},
                                              {"role", store::RoleName(s.role)},
                                              {"source", source}});
      !logged.ok()) {
    (void)store.DeleteSession(s.id_hash);
    log::error("portal: sign-in refused: audit entry not written: {}", logged.error().detail);
    return Response::FromError(Unavailable("sign-in is unavailable right now; try again"));
  }
  auto out = SessionBody(s);
  if (!out.ok()) return Response::FromError(out.error());
  log::info("portal: user {} of tenant {} signed in", user->id, user->tenant_id);
  auto res = Response::Json(200, json::serialize(*out));
  res.SetHeader("Set-Cookie", SessionCookie(issued->second));
  return res;
}

Result<std::pair<store::Session, std::string>> Portal::Impl::IssueSession(const store::User& user) {
  int64_t now = clock.NowUnixSeconds();
  std::string token = crypto::RandomToken();
  store::Session s;
  s.id_hash = crypto::Sha256Hex(token);
  s.user_id = user.id;
  s.tenant_id = user.tenant_id;
  s.role = user.role;
  s.csrf_token = crypto::RandomToken();
  s.created_at = now;
  s.last_seen_at = now;
  s.expires_at = now + options.session_absolute_seconds;
  PARLEY_TRY(store.CreateSession(s));
  return std::make_pair(std::move(s), std::move(token));
}

std::string Portal::Impl::SessionCookie(const std::string& token) const {
  return std::string(kSessionCookie) + "=" + token + "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(options.session_absolute_seconds);
}

Response Portal::Impl::Logout(const Request&, const SessionContext* s) {
  if (auto st = store.DeleteSession(s->session.id_hash); !st.ok()) return Response::FromError(st.error());
  if (auto logged = audit.Append(s->session.tenant_id, privacy::AuditUser(s->session.user_id),
                                 privacy::audit_action::kLogout, privacy::AuditSession(s->session.id_hash),
                                 privacy::audit_outcome::kSuccess);
      !logged.ok())
    log::error("portal: audit entry for a sign-out not written: {}", logged.error().detail);
  Response res;
  res.status = 204;
  res.SetHeader("Set-Cookie", std::string(kSessionCookie) + "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
  res.SetHeader("Cache-Control", "no-store");
  return res;
}

Response Portal::Impl::LogoutAll(const Request&, const SessionContext* s) {
  auto ended = store.DeleteUserSessions(s->session.tenant_id, s->session.user_id);
  if (!ended.ok()) return Response::FromError(ended.error());
  if (auto logged = audit.Append(s->session.tenant_id, privacy::AuditUser(s->session.user_id),
                                 privacy::audit_action::kLogoutAll, privacy::AuditUser(s->session.user_id),
                                 privacy::audit_outcome::kSuccess,
                                 json::object{{"sessions_ended", *ended},
                                              {"session", privacy::AuditSession(s->session.id_hash)}});
      !logged.ok())
    log::error("portal: audit entry for a sign-out everywhere not written: {}", logged.error().detail);
  log::info("portal: user {} of tenant {} signed out everywhere ({} sessions)", s->session.user_id,
            s->session.tenant_id, *ended);
  auto res = Response::Json(200, json::serialize(json::object{{"sessions_ended", *ended}}));
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
  std::optional<privacy::SearchKind> party_kind;
  if (auto party = r.Query("party"); party && !party->empty()) {
    // A search by a party's personal data is a use of it: only the roles
    // that see personal fields may ask (a viewer could otherwise test who
    // called whom).
    if (s->session.role == store::Role::kViewer)
      return Response::FromError(
          PermissionDenied("finding calls by a party needs the analyst or tenant admin role"));
    if (party->size() > 512) return Response::FromError(InvalidArgument("party is longer than 512 characters"));
    auto value = privacy::ClassifySearchValue(*party);
    if (!value)
      return Response::FromError(
          InvalidArgument("party must be a phone number (at least 3 digits), a sip: or sips: URI, an e-mail "
                          "address or an IP address"));
    party_kind = value->kind;
    q.party_term = privacy::SearchTerm(keys.SearchKey(tenant_id), *value);
  }
  int64_t wanted = q.limit;
  q.limit = wanted + 1;  // one extra row tells whether a next page exists
  auto calls = store.ListCalls(tenant_id, q);
  if (!calls.ok()) return Response::FromError(calls.error());
  auto total = store.CountCalls(tenant_id, q.party_term);
  if (!total.ok()) return Response::FromError(total.error());
  auto personal_key = PersonalDataKey(s->session);
  if (!personal_key.ok()) return Response::FromError(personal_key.error());
  const bool with_personal_data = personal_key->has_value();
  const privacy::TenantDataKeys key = personal_key->value_or(privacy::TenantDataKeys{});
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
  // A party search is audited even when it finds nothing (its kind, never
  // the value); a plain page only when it shows personal fields.
  if (with_personal_data && (!out.empty() || party_kind)) {
    const std::string_view search = party_kind ? privacy::SearchKindName(*party_kind) : std::string_view();
    if (auto st = AuditPersonalView(*s, "calls", static_cast<int64_t>(out.size()), r, search); !st.ok())
      return Response::FromError(st.error());
  }
  json::object body{{"calls", std::move(out)}, {"next_cursor", next}, {"total", *total}};
  if (party_kind) body["party_kind"] = privacy::SearchKindName(*party_kind);
  return Response::Json(200, json::serialize(body));
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

  auto personal_key = PersonalDataKey(s->session);
  if (!personal_key.ok()) return Response::FromError(personal_key.error());
  const bool with_personal_data = personal_key->has_value();
  const privacy::TenantDataKeys key = personal_key->value_or(privacy::TenantDataKeys{});
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
  if (with_personal_data && !out.empty()) {
    if (auto st = AuditPersonalView(*s, "conferences", static_cast<int64_t>(out.size()), r); !st.ok())
      return Response::FromError(st.error());
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
  auto personal_key = PersonalDataKey(s->session);
  if (!personal_key.ok()) return Response::FromError(personal_key.error());
  const bool with_personal_data = personal_key->has_value();
  const privacy::TenantDataKeys key = personal_key->value_or(privacy::TenantDataKeys{});
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
  if (with_personal_data && !out.empty()) {
    if (auto st = AuditPersonalView(*s, "devices", static_cast<int64_t>(out.size()), r); !st.ok())
      return Response::FromError(st.error());
  }
  return Response::Json(200, json::serialize(json::object{{"devices", std::move(out)}, {"next_cursor", next}}));
}

json::object Portal::Impl::AgentJson(const store::Agent& a, int64_t now) const {
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
  // One word for the agent as a whole: offline without recent heartbeats,
  // degraded while online with a source that is not ok.
  bool all_ok = true;
  for (const auto& src : sources) all_ok &= src.as_object().at("status").as_string() == "ok";
  o["health"] = !online ? "offline" : all_ok ? "online" : "degraded";
  o["sources"] = std::move(sources);
  return o;
}

Response Portal::Impl::Agents(const Request&, const SessionContext* s) {
  auto agents = store.ListAgents(s->session.tenant_id);
  if (!agents.ok()) return Response::FromError(agents.error());
  int64_t now = clock.NowUnixSeconds();
  json::array out;
  for (const auto& a : *agents) out.push_back(AgentJson(a, now));
  return Response::Json(200, json::serialize(json::object{{"agents", std::move(out)},
                                                          {"server_time", FormatUtc(now)},
                                                          {"online_window_s", kAgentOnlineWindowS}}));
}

Response Portal::Impl::Quarantine(const Request&, const SessionContext* s) {
  auto entries = store.ListQuarantine(s->session.tenant_id);
  if (!entries.ok()) return Response::FromError(entries.error());
  auto agents = store.ListAgents(s->session.tenant_id);
  if (!agents.ok()) return Response::FromError(agents.error());
  std::map<std::string, std::string, std::less<>> agent_names;
  for (const auto& a : *agents) agent_names[a.id] = a.name;
  json::array out;
  for (const auto& e : *entries) {
    auto name = agent_names.find(e.agent_id);
    out.push_back(json::object{{"agent_id", e.agent_id},
                               {"agent_name", name == agent_names.end() ? "" : name->second},
                               {"source", e.source},
                               {"record_type", e.record_type},
                               {"reason", e.reason},
                               {"count", e.count},
                               {"first_seen", FormatUtc(e.first_seen)},
                               {"last_seen", FormatUtc(e.last_seen)}});
  }
  return Response::Json(200, json::serialize(json::object{{"quarantine", std::move(out)}}));
}

namespace {

Result<json::object> JsonBody(const Request& r) {
  if (r.Header("content-type").rfind("application/json", 0) != 0)
    return Error{Code::kUnsupportedMediaType, "send the body as application/json"};
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return InvalidArgument("body must be a JSON object");
  return std::move(body.as_object());
}

json::object TenantJson(const store::Tenant& t, int64_t now) {
  json::array domains;
  for (const auto& d : t.domains) domains.push_back(json::value(d));
  return json::object{{"id", t.id},
                      {"name", t.name},
                      {"domains", std::move(domains)},
                      {"time_zone", t.time_zone},
                      {"subscription_end", t.subscription_end.empty() ? json::value(nullptr) : json::value(t.subscription_end)},
                      {"subscription_ended", SubscriptionEnded(t, now)},
                      {"platform", t.platform},
                      {"created_at", FormatUtc(t.created_at)}};
}

}  // namespace

Response Portal::Impl::Users(const Request&, const SessionContext* s) {
  const std::string& tenant_id = s->session.tenant_id;
  auto users = store.ListUsers(tenant_id);
  if (!users.ok()) return Response::FromError(users.error());
  auto key = keys.DataKeys(tenant_id);
  if (!key.ok()) return Response::FromError(key.error());
  json::array out;
  for (const auto& u : *users) {
    auto email = privacy::OpenSealed(*key, u.email_sealed, privacy::UserEmailAad(u.tenant_id, u.id));
    if (!email.ok()) {
      log::error("portal: the e-mail of a user of tenant {} cannot be opened", tenant_id);
      return Response::FromError(Internal("stored personal data cannot be decrypted"));
    }
    out.push_back(json::object{{"id", u.id},
                               {"email", *email},
                               {"role", store::RoleName(u.role)},
                               {"sso_only", u.password_hash.empty()},
                               {"created_at", FormatUtc(u.created_at)}});
  }
  return Response::Json(200, json::serialize(json::object{{"users", std::move(out)}}));
}

Response Portal::Impl::SetUserRole(const Request& r, const SessionContext* s) {
  auto body = JsonBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  const json::value* role_value = body->if_contains("role");
  std::optional<store::Role> role =
      role_value && role_value->is_string() ? store::ParseRole(role_value->as_string()) : std::nullopt;
  if (!role) return Response::FromError(InvalidArgument("role must be one of tenant_admin, analyst, viewer"));
  if (*role == store::Role::kPlatformAdmin)
    return Response::FromError(PermissionDenied("nobody is promoted to platform_admin here: platform admins are "
                                                "created with `parley user create` in the platform tenant"));
  const std::string& tenant_id = s->session.tenant_id;
  auto it = s->path_params.find("id");
  if (it == s->path_params.end()) return Response::FromError(NotFound("user not found"));
  // Looked up in the caller's tenant only: another tenant's user id is "not found".
  auto user = store.GetUser(tenant_id, it->second);
  if (!user.ok()) return Response::FromError(user.error());
  if (auto st = store.SetUserRole(tenant_id, user->id, *role); !st.ok()) return Response::FromError(st.error());
  // A privilege change ends every session of the user (sessions are rotated
  // at privilege changes): the user signs in again and gets the new role on
  // a fresh session id. A caller changing their own role gets that fresh
  // session at once, in this response.
  const bool changed = *role != user->role;
  int64_t ended = 0;
  std::optional<std::pair<store::Session, std::string>> rotated;
  if (changed) {
    auto n = store.DeleteUserSessions(tenant_id, user->id);
    if (!n.ok()) return Response::FromError(n.error());
    ended = *n;
    if (user->id == s->session.user_id) {
      store::User updated = *user;
      updated.role = *role;
      auto issued = IssueSession(updated);
      if (!issued.ok()) return Response::FromError(issued.error());
      rotated = std::move(*issued);
    }
  }
  if (auto logged = audit.Append(tenant_id, privacy::AuditUser(s->session.user_id), privacy::audit_action::kRoleChange,
                                 privacy::AuditUser(user->id), privacy::audit_outcome::kSuccess,
                                 json::object{{"from", store::RoleName(user->role)},
                                              {"to", store::RoleName(*role)},
                                              {"sessions_ended", ended}});
      !logged.ok())
    log::error("portal: audit entry for a role change not written: {}", logged.error().detail);
  json::object out{{"user", json::object{{"id", user->id}, {"role", store::RoleName(*role)}}},
                   {"sessions_ended", ended}};
  if (rotated) {
    auto body = SessionBody(rotated->first);
    if (!body.ok()) return Response::FromError(body.error());
    out["session"] = std::move(*body);
  }
  auto res = Response::Json(200, json::serialize(out));
  if (rotated) res.SetHeader("Set-Cookie", SessionCookie(rotated->second));
  return res;
}

Response Portal::Impl::AdminTenants(const Request&, const SessionContext*) {
  auto tenants = store.ListTenants();
  if (!tenants.ok()) return Response::FromError(tenants.error());
  int64_t now = clock.NowUnixSeconds();
  json::array out;
  for (const auto& t : *tenants) out.push_back(TenantJson(t, now));
  return Response::Json(200, json::serialize(json::object{{"tenants", std::move(out)}}));
}

Response Portal::Impl::AdminCreateTenant(const Request& r, const SessionContext* s) {
  auto body = JsonBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  auto text = [&](const char* k) -> std::optional<std::string> {
    const json::value* v = body->if_contains(k);
    if (!v || v->is_null()) return std::string();
    if (!v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  auto name = text("name");
  auto time_zone = text("time_zone");
  auto subscription_end = text("subscription_end");
  if (!name || !time_zone || !subscription_end)
    return Response::FromError(InvalidArgument("name, time_zone and subscription_end must be strings"));
  std::vector<std::string> domains;
  const json::value* d = body->if_contains("domains");
  if (!d || !d->is_array()) return Response::FromError(InvalidArgument("domains must be an array of strings"));
  for (const auto& v : d->as_array()) {
    if (!v.is_string()) return Response::FromError(InvalidArgument("domains must be an array of strings"));
    domains.emplace_back(v.as_string());
  }
  TenantSettings settings;
  if (!time_zone->empty()) settings.time_zone = *time_zone;
  settings.subscription_end = *subscription_end;
  int64_t now = clock.NowUnixSeconds();
  auto tenant = CreateTenant(store, keys, *name, domains, settings, now);
  if (!tenant.ok()) return Response::FromError(tenant.error());
  if (auto logged = audit.Append(store::kPlatformAuditChain, privacy::AuditUser(s->session.user_id),
                                 privacy::audit_action::kTenantCreate, "tenant:" + tenant->id,
                                 privacy::audit_outcome::kSuccess);
      !logged.ok())
    log::error("portal: audit entry for a tenant creation not written: {}", logged.error().detail);
  return Response::Json(201, json::serialize(json::object{{"tenant", TenantJson(*tenant, now)}}));
}

Response Portal::Impl::AdminAgents(const Request&, const SessionContext*) {
  auto tenants = store.ListTenants();
  if (!tenants.ok()) return Response::FromError(tenants.error());
  int64_t now = clock.NowUnixSeconds();
  json::array out;
  for (const auto& t : *tenants) {
    auto agents = store.ListAgents(t.id);
    if (!agents.ok()) return Response::FromError(agents.error());
    for (const auto& a : *agents) {
      json::object o = AgentJson(a, now);
      o["tenant"] = json::object{{"id", t.id}, {"name", t.name}};
      out.push_back(std::move(o));
    }
  }
  return Response::Json(200, json::serialize(json::object{{"agents", std::move(out)},
                                                          {"server_time", FormatUtc(now)},
                                                          {"online_window_s", kAgentOnlineWindowS}}));
}

Response Portal::Impl::AdminUpdateTenant(const Request& r, const SessionContext* s) {
  auto body = JsonBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  auto it = s->path_params.find("id");
  if (it == s->path_params.end()) return Response::FromError(NotFound("tenant not found"));
  TenantChanges changes;
  auto text = [&](const char* k, std::optional<std::string>& out) -> bool {
    const json::value* v = body->if_contains(k);
    if (!v) return true;
    if (!v->is_string() && !(v->is_null() && std::string_view(k) == "subscription_end")) return false;
    out = v->is_null() ? std::string() : std::string(v->as_string());
    return true;
  };
  if (!text("name", changes.name) || !text("time_zone", changes.time_zone) ||
      !text("subscription_end", changes.subscription_end))
    return Response::FromError(InvalidArgument("name, time_zone and subscription_end must be strings"));
  if (const json::value* d = body->if_contains("domains")) {
    if (!d->is_array()) return Response::FromError(InvalidArgument("domains must be an array of strings"));
    changes.domains.emplace();
    for (const auto& v : d->as_array()) {
      if (!v.is_string()) return Response::FromError(InvalidArgument("domains must be an array of strings"));
      changes.domains->emplace_back(v.as_string());
    }
  }
  auto updated = UpdateTenant(store, it->second, changes);
  if (!updated.ok()) return Response::FromError(updated.error());
  json::array fields;  // which fields, never their values
  for (auto [name, set] : {std::pair{"name", changes.name.has_value()}, {"domains", changes.domains.has_value()},
                           {"time_zone", changes.time_zone.has_value()},
                           {"subscription_end", changes.subscription_end.has_value()}})
    if (set) fields.push_back(json::value(name));
  if (auto logged = audit.Append(store::kPlatformAuditChain, privacy::AuditUser(s->session.user_id),
                                 privacy::audit_action::kTenantUpdate, "tenant:" + updated->id,
                                 privacy::audit_outcome::kSuccess, json::object{{"fields", std::move(fields)}});
      !logged.ok())
    log::error("portal: audit entry for a tenant change not written: {}", logged.error().detail);
  return Response::Json(200, json::serialize(json::object{{"tenant", TenantJson(*updated, clock.NowUnixSeconds())}}));
}

Status Portal::Impl::AuditPersonalView(const SessionContext& s, std::string_view what, int64_t records,
                                       const Request& r, std::string_view search) {
  // The page is named by the cursor it was asked with (ids and times, no
  // personal data), never by its content; a party search by its kind only.
  auto cursor = r.Query("cursor");
  json::object details{{"records", records},
                       {"cursor", cursor && !cursor->empty() ? json::value(*cursor) : nullptr},
                       {"session", privacy::AuditSession(s.session.id_hash)}};
  if (!search.empty()) details["search"] = search;
  auto logged = audit.Append(s.session.tenant_id, privacy::AuditUser(s.session.user_id),
                             privacy::audit_action::kCdrView, what, privacy::audit_outcome::kSuccess,
                             std::move(details));
  if (!logged.ok()) {
    // Fail closed: personal data that cannot be audited is not shown.
    log::error("portal: personal-data page refused: audit entry not written: {}", logged.error().detail);
    return Unavailable("the audit log cannot be written; personal data is not shown");
  }
  return Ok();
}

namespace {

json::object AuditEntryJson(const store::AuditEntry& e) {
  boost::system::error_code ec;
  json::value details = json::parse(e.details_json, ec);
  if (ec) details = e.details_json;  // shown as stored; `parley audit verify` reports it
  return json::object{{"seq", e.seq},       {"time", FormatUtc(e.at)},   {"at", e.at},
                      {"actor", e.actor},   {"action", e.action},       {"target", e.target},
                      {"outcome", e.outcome}, {"details", std::move(details)}, {"prev_hash", e.prev_hash},
                      {"entry_hash", e.entry_hash}};
}

}  // namespace

Response Portal::Impl::AuditPage(const Request& r, const SessionContext* s) {
  auto limit = ParseLimit(r, 100, 500);
  if (!limit.ok()) return Response::FromError(limit.error());
  auto cursor = ParseCursor(r, "i");
  if (!cursor.ok()) return Response::FromError(cursor.error());
  int64_t before = 0;
  if (*cursor) {
    before = (**cursor)[0].as_int64();
    if (before < 1) return Response::FromError(InvalidArgument("cursor is not one this API returned"));
  }
  const std::string& tenant_id = s->session.tenant_id;
  auto entries = store.ListAudit(tenant_id, true, before, *limit + 1);
  if (!entries.ok()) return Response::FromError(entries.error());
  bool more = static_cast<int64_t>(entries->size()) > *limit;
  if (more) entries->resize(static_cast<size_t>(*limit));
  json::array out;
  for (const auto& e : *entries) out.push_back(AuditEntryJson(e));
  json::value next = nullptr;
  if (more && !entries->empty()) next = Hex(json::serialize(json::array{entries->back().seq}));
  auto head = store.GetAuditHead(tenant_id);
  if (!head.ok()) return Response::FromError(head.error());
  json::value head_json = nullptr;
  if (*head) head_json = json::object{{"seq", (*head)->seq}, {"entry_hash", (*head)->entry_hash}};
  auto res = Response::Json(200, json::serialize(json::object{{"entries", std::move(out)},
                                                              {"next_cursor", next},
                                                              {"head", std::move(head_json)}}));
  res.SetHeader("Cache-Control", "no-store");
  return res;
}

Response Portal::Impl::AuditExport(const Request&, const SessionContext* s) {
  const std::string& tenant_id = s->session.tenant_id;
  // Audited first, so the download contains its own entry.
  if (auto logged = audit.Append(tenant_id, privacy::AuditUser(s->session.user_id), privacy::audit_action::kAuditExport,
                                 "audit_log", privacy::audit_outcome::kSuccess,
                                 json::object{{"format", "ndjson"}, {"session", privacy::AuditSession(s->session.id_hash)}});
      !logged.ok()) {
    log::error("portal: audit export refused: audit entry not written: {}", logged.error().detail);
    return Response::FromError(Unavailable("the audit log cannot be written; try again"));
  }
  std::string body;
  for (int64_t after = 0;;) {
    auto page = store.ListAudit(tenant_id, false, after, 1000);
    if (!page.ok()) return Response::FromError(page.error());
    for (const auto& e : *page) {
      body += json::serialize(AuditEntryJson(e));
      body += '\n';
    }
    if (page->size() < 1000) break;
    after = page->back().seq;
  }
  auto res = Response::Text(200, std::move(body), "application/x-ndjson; charset=utf-8");
  res.SetHeader("Content-Disposition", "attachment; filename=\"parley-audit-" + tenant_id + ".ndjson\"");
  res.SetHeader("Cache-Control", "no-store");
  return res;
}

Response Portal::Impl::GetSso(const Request&, const SessionContext* s) {
  auto sso = store.GetTenantSso(s->session.tenant_id);
  store::TenantSso current;
  if (sso.ok()) {
    current = std::move(*sso);
  } else if (sso.error().code == Code::kNotFound) {
    current.tenant_id = s->session.tenant_id;
    current.group_attribute = std::string(kDefaultGroupAttribute);
  } else {
    return Response::FromError(sso.error());
  }
  json::object out = SsoJson(current);
  if (options.saml) {
    out["sp"] = json::object{{"entity_id", options.saml->settings().entity_id},
                             {"acs_url", options.saml->settings().acs_url},
                             {"metadata_url", options.public_url + "/saml/metadata"}};
  }
  return Response::Json(200, json::serialize(json::object{{"sso", std::move(out)}}));
}

Response Portal::Impl::PutSso(const Request& r, const SessionContext* s) {
  auto body = JsonBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  SsoChange change;
  auto text = [&](const char* k, std::optional<std::string>& out) -> bool {
    const json::value* v = body->if_contains(k);
    if (!v || v->is_null()) return true;
    if (!v->is_string()) return false;
    out = std::string(v->as_string());
    return true;
  };
  auto flag = [&](const char* k, std::optional<bool>& out) -> bool {
    const json::value* v = body->if_contains(k);
    if (!v || v->is_null()) return true;
    if (!v->is_bool()) return false;
    out = v->as_bool();
    return true;
  };
  if (!text("idp_metadata", change.idp_metadata_xml) || !text("group_attribute", change.group_attribute) ||
      !text("default_role", change.default_role))
    return Response::FromError(InvalidArgument("idp_metadata, group_attribute and default_role must be strings"));
  if (!flag("enabled", change.enabled) || !flag("allow_idp_initiated", change.allow_idp_initiated))
    return Response::FromError(InvalidArgument("enabled and allow_idp_initiated must be true or false"));
  if (const json::value* m = body->if_contains("role_map"); m && !m->is_null()) {
    auto map = ParseRoleMapJson(*m);
    if (!map.ok()) return Response::FromError(map.error());
    change.role_map = std::move(*map);
  }
  const std::string& tenant_id = s->session.tenant_id;
  std::optional<store::TenantSso> current;
  if (auto got = store.GetTenantSso(tenant_id); got.ok()) {
    current = std::move(*got);
  } else if (got.error().code != Code::kNotFound) {
    return Response::FromError(got.error());
  }
  auto next = ApplySsoChange(current, tenant_id, change, clock.NowUnixSeconds());
  if (!next.ok()) return Response::FromError(next.error());
  // Fail closed: a security setting whose change cannot be audited is not changed.
  auto role_map = json::parse(next->role_map_json);
  if (auto logged = audit.Append(tenant_id, privacy::AuditUser(s->session.user_id), privacy::audit_action::kSsoConfig,
                                 "tenant_sso", privacy::audit_outcome::kSuccess,
                                 json::object{{"enabled", next->enabled},
                                              {"idp_entity_id", next->idp_entity_id},
                                              {"metadata_changed", change.idp_metadata_xml.has_value()},
                                              {"group_attribute", next->group_attribute},
                                              {"mapped_groups", role_map.is_object() ? role_map.as_object().size() : 0},
                                              {"default_role", next->default_role.empty() ? "none" : next->default_role},
                                              {"allow_idp_initiated", next->allow_idp_initiated},
                                              {"session", privacy::AuditSession(s->session.id_hash)}});
      !logged.ok()) {
    log::error("portal: SSO settings not changed: audit entry not written: {}", logged.error().detail);
    return Response::FromError(Unavailable("the audit log cannot be written; nothing changed"));
  }
  if (auto st = store.PutTenantSso(*next); !st.ok()) return Response::FromError(st.error());
  return Response::Json(200, json::serialize(json::object{{"sso", SsoJson(*next)}}));
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
                    {"x-parley-role", MinRoleName(route.role)},
                    {"x-parley-tenant-data", DataName(route.data)},
                    {"x-parley-personal-data", route.data == Data::kPersonal},
                    {"responses", json::object{{"200", json::object{{"description", "OK"}}},
                                               {"4XX", error_response("Client error")}}}};
    op["tags"] = json::array{"portal"};
    if (route.role != MinRole::kPublic) {
      op["security"] = json::array{json::object{{"sessionCookie", json::array{}}}};
    } else {
      op["security"] = json::array{};
    }
    json::array parameters;
    for (std::string_view rest = route.path; rest.find('{') != std::string_view::npos;) {
      rest.remove_prefix(rest.find('{') + 1);
      parameters.push_back(json::object{{"name", rest.substr(0, rest.find('}'))},
                                        {"in", "path"},
                                        {"required", true},
                                        {"schema", json::object{{"type", "string"}}}});
    }
    if (!parameters.empty()) op["parameters"] = std::move(parameters);
    json::value& entry = paths[route.path];
    if (!entry.is_object()) entry.emplace_object();
    entry.as_object()[method] = std::move(op);
  }
  for (const auto& route : ingest::IngestService::Routes()) {
    std::string method = route.method;
    for (auto& ch : method) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    json::object op{{"summary", route.summary},
                    {"tags", json::array{"ingest"}},
                    {"x-parley-listener", "ingest"},
                    {"x-parley-role", "agent"},  // not a user role: the ingest listener's own checks
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
