#include "portal/saml_sso.h"

#include <boost/json.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/url.hpp>

#include "common/log.h"
#include "crypto/crypto.h"
#include "portal/portal.h"
#include "portal/sso_settings.h"

namespace parley::portal {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

Response Html(int status, std::string body) {
  auto res = Response::Text(status, std::move(body), "text/html; charset=utf-8");
  res.SetHeader("Cache-Control", "no-store");
  return res;
}

// The form fields of an application/x-www-form-urlencoded body (Boost.URL).
std::map<std::string, std::string> FormFields(const std::string& body) {
  std::map<std::string, std::string> out;
  auto params = boost::urls::parse_query(body);
  if (!params) return out;
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  for (auto p : *params) {
    if (!p.has_value) continue;
    out[p.key.decode(opt)] = p.value.decode(opt);
  }
  return out;
}

std::string ClearSamlCookie() { return std::string(kSamlCookie) + "=; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=0"; }

}  // namespace

std::string SsoPage(const std::string& title, const std::string& message, const std::string& link_text,
                    const std::string& link, bool refresh) {
  std::string head = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                     "<meta name=\"referrer\" content=\"no-referrer\">";
  // A meta refresh is a navigation this same-origin page starts, so the
  // SameSite=Strict session cookie set with it is sent (no script needed).
  if (refresh) head += "<meta http-equiv=\"refresh\" content=\"0;url=" + HtmlEscape(link) + "\">";
  head += "<title>" + HtmlEscape(title) + " · Parley</title><link rel=\"stylesheet\" href=\"/sso.css\"></head>";
  return head + "<body><main class=\"sso-card\"><h1 data-testid=\"sso-title\">" + HtmlEscape(title) +
         "</h1><p data-testid=\"sso-message\">" + HtmlEscape(message) + "</p><p><a data-testid=\"sso-link\" href=\"" +
         HtmlEscape(link) + "\">" + HtmlEscape(link_text) + "</a></p></main></body></html>\n";
}

SamlSso::SamlSso(store::Store& store, privacy::KeyRing& keys, const Clock& clock, privacy::AuditLog& audit,
                 SamlSsoOptions options)
    : store_(store), keys_(keys), clock_(clock), audit_(audit), options_(std::move(options)) {}

Response SamlSso::Metadata(const Request&) {
  if (!options_.sp) return Response::FromError(Unavailable("SAML is not configured on this server (saml.sp_key)"));
  auto res = Response::Text(200, options_.sp->Metadata(), "application/samlmetadata+xml");
  res.SetHeader("Content-Disposition", "inline; filename=\"parley-sp-metadata.xml\"");
  return res;
}

Result<store::Tenant> SamlSso::FindTenant(const std::string& input) {
  std::string wanted = input;
  while (!wanted.empty() && wanted.back() == ' ') wanted.pop_back();
  while (!wanted.empty() && wanted.front() == ' ') wanted.erase(0, 1);
  if (wanted.empty()) return NotFound("no organisation given");
  if (auto t = store_.GetTenant(wanted); t.ok()) return t;
  if (auto t = store_.FindTenantByName(wanted); t.ok()) return t;
  // An e-mail address or a domain: the tenant that owns the domain.
  std::string domain = privacy::NormalizeEmail(wanted);
  if (auto at = domain.rfind('@'); at != std::string::npos) domain = domain.substr(at + 1);
  PARLEY_ASSIGN_OR_RETURN(std::vector<store::Tenant> tenants, store_.ListTenants());
  for (const auto& t : tenants)
    for (const auto& d : t.domains)
      if (d == domain && !t.platform) return t;
  return NotFound("no such organisation");
}

Response SamlSso::Refuse(const Request& r, const std::string& chain, const saml::Refusal& why, int status) {
  // No address or identity in the log: the audit entry carries a keyed reference.
  log::info("saml: sign-in refused ({})", why.reason);
  if (auto logged = audit_.Append(chain.empty() ? std::string(store::kPlatformAuditChain) : chain, "anonymous",
                                  privacy::audit_action::kLogin, "saml", privacy::audit_outcome::kFailure,
                                  json::object{{"method", "saml"},
                                               {"reason", why.reason},
                                               {"source", privacy::KeyedRef(keys_.IndexKey(), "src",
                                                                            r.remote_address)}});
      !logged.ok())
    log::error("saml: audit entry for a refused sign-in not written: {}", logged.error().detail);
  auto res = Html(status, SsoPage("Single sign-on failed", why.message + " (reason: " + why.reason + ")",
                                  "Back to the sign-in page", "/"));
  res.SetHeader("Set-Cookie", ClearSamlCookie());
  return res;
}

Response SamlSso::Login(const Request& r) {
  if (!options_.sp) return Response::FromError(Unavailable("SAML is not configured on this server (saml.sp_key)"));
  std::string wanted = r.Query("tenant").value_or("");
  if (wanted.size() > 320) wanted.resize(320);
  auto tenant = FindTenant(wanted);
  std::optional<store::TenantSso> sso;
  if (tenant.ok()) {
    auto s = store_.GetTenantSso(tenant->id);
    if (s.ok() && s->enabled) sso = std::move(*s);
  }
  if (!sso) {
    // One answer whether the organisation is unknown or has no SSO.
    return Html(404, SsoPage("Single sign-on is not available",
                             "No organisation named \"" + wanted + "\" uses single sign-on here. Check the name "
                             "or your e-mail domain, or sign in with your password.",
                             "Back to the sign-in page", "/"));
  }
  auto request = options_.sp->StartLogin(sso->idp_metadata_xml);
  if (!request.ok()) {
    log::error("saml: cannot start a sign-in for tenant {}: {}", tenant->id, request.error().detail);
    return Html(502, SsoPage("Single sign-on failed",
                             "The identity provider's settings on file cannot be used. Ask your administrator to "
                             "upload its metadata again.",
                             "Back to the sign-in page", "/"));
  }
  int64_t now = clock_.NowUnixSeconds();
  std::string token = crypto::RandomToken();
  store::SamlRequest pending{.tenant_id = tenant->id,
                             .binding_hash = crypto::Sha256Hex(token),
                             .request_id = request->pending.request_id,
                             .login_state = request->pending.state,
                             .expires_at = now + options_.request_seconds};
  if (auto st = store_.CreateSamlRequest(pending, now); !st.ok()) return Response::FromError(st.error());
  Response res;
  res.status = 303;
  res.SetHeader("Location", request->redirect_url);
  res.SetHeader("Cache-Control", "no-store");
  // SameSite=None: the IdP's POST back to /saml/acs is cross-site and must
  // carry this cookie. It holds only a random value whose hash finds the
  // request (useless without the request row, single use).
  res.SetHeader("Set-Cookie", std::string(kSamlCookie) + "=" + token +
                                  "; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=" +
                                  std::to_string(options_.request_seconds));
  return res;
}

Response SamlSso::Acs(const Request& r) {
  if (!options_.sp) return Response::FromError(Unavailable("SAML is not configured on this server (saml.sp_key)"));
  const int64_t now = clock_.NowUnixSeconds();
  auto fields = FormFields(r.body);
  auto response_it = fields.find("SAMLResponse");
  if (r.Header("content-type").rfind("application/x-www-form-urlencoded", 0) != 0 || response_it == fields.end() ||
      response_it->second.empty())
    return Refuse(r, "", {"malformed", "This address accepts a SAML response posted by an identity provider."}, 400);
  const std::string& b64 = response_it->second;

  // Which tenant: the one(s) whose IdP issued the response (the Issuer is
  // only a routing hint here; Lasso verifies it with that tenant's IdP
  // metadata). Which request: the one this browser's cookie holds, if any.
  auto issuer = saml::PeekIssuer(b64);
  if (!issuer) return Refuse(r, "", {"malformed", "The sign-in response is not a SAML Response document."}, 400);
  auto candidates = store_.FindTenantSsoByIdp(*issuer);
  if (!candidates.ok()) return Response::FromError(candidates.error());
  std::string tenant_id;
  std::optional<store::TenantSso> sso;
  std::optional<saml::PendingRequest> pending;
  if (auto cookie = r.Cookie(kSamlCookie); cookie && !cookie->empty()) {
    const std::string binding = crypto::Sha256Hex(*cookie);
    for (auto& c : *candidates) {
      auto found = store_.ConsumeSamlRequest(c.tenant_id, binding, now);
      if (!found.ok()) continue;
      pending = saml::PendingRequest{found->request_id, found->login_state};
      sso = std::move(c);
      break;
    }
  }
  if (!sso && candidates->size() == 1) sso = std::move(candidates->front());
  if (!sso && candidates->size() > 1)
    return Refuse(r, "",
                  {"ambiguous_idp", "Several organisations use this identity provider; start the sign-in from "
                                    "Parley's login page so Parley knows which one you mean."},
                  400);
  if (sso) tenant_id = sso->tenant_id;
  if (!sso)
    return Refuse(r, tenant_id,
                  {"unknown_issuer", "The response comes from an identity provider no organisation here uses for "
                                     "single sign-on."},
                  403);

  saml::Outcome outcome = options_.sp->ConsumeResponse(sso->idp_metadata_xml, b64, pending, sso->allow_idp_initiated, now);
  if (auto* refusal = std::get_if<saml::Refusal>(&outcome)) return Refuse(r, tenant_id, *refusal, 403);
  saml::VerifiedAssertion& a = std::get<saml::VerifiedAssertion>(outcome);

  // Replay cache: checked and recorded in one statement, before any session.
  if (auto st = store_.RecordSamlAssertion(tenant_id, a.replay_key, a.keep_until, now); !st.ok()) {
    if (st.error().code == Code::kAlreadyExists)
      return Refuse(r, tenant_id, {"replay", "This sign-in response was already used. Start again."}, 403);
    return Response::FromError(st.error());
  }

  auto tenant = store_.GetTenant(tenant_id);
  if (!tenant.ok()) return Response::FromError(tenant.error());
  auto email = SsoEmail(a.attributes, a.name_id);
  if (!email)
    return Refuse(r, tenant_id,
                  {"no_email", "The identity provider sent no e-mail address (claims emailaddress, mail, email or "
                               "UPN). Ask your administrator to add the E-Mail Address claim."},
                  403);
  std::string domain = email->substr(email->rfind('@') + 1);
  bool domain_ok = false;
  for (const auto& d : tenant->domains) domain_ok |= d == domain;
  if (!domain_ok)
    return Refuse(r, tenant_id,
                  {"foreign_domain", "Your e-mail address's domain is not one of this organisation's domains."}, 403);
  std::optional<store::Role> role = MapRole(*sso, a.attributes);
  if (!role)
    return Refuse(r, tenant_id,
                  {"no_role", "None of your groups gives access to Parley. Ask your administrator to add you to a "
                              "group that is mapped to a Parley role."},
                  403);

  // Just-in-time provisioning: the account is found by blind index; a new
  // one has no password (SSO only). The IdP's groups decide the role at
  // every sign-in.
  std::string index = keys_.EmailIndex(*email);
  auto user = store_.FindUserByEmailIndex(index);
  bool provisioned = false;
  if (!user.ok()) {
    if (user.error().code != Code::kNotFound) return Response::FromError(user.error());
    auto key = keys_.DataKeys(tenant_id);
    if (!key.ok()) return Response::FromError(key.error());
    store::User u;
    u.id = crypto::RandomUuid();
    u.tenant_id = tenant_id;
    u.email_index = index;
    u.email_sealed = crypto::Seal(key->current, *email, privacy::UserEmailAad(tenant_id, u.id));
    u.role = *role;
    u.created_at = now;
    if (auto st = store_.CreateUser(u); !st.ok()) return Response::FromError(st.error());
    user = u;
    provisioned = true;
  } else if (user->tenant_id != tenant_id) {
    return Refuse(r, tenant_id,
                  {"account_in_other_tenant", "Your e-mail address belongs to an account of another organisation."},
                  403);
  } else if (user->role != *role) {
    if (auto st = store_.SetUserRole(tenant_id, user->id, *role); st.ok()) {
      (void)audit_.Append(tenant_id, "system:saml", privacy::audit_action::kRoleChange, privacy::AuditUser(user->id),
                          privacy::audit_outcome::kSuccess,
                          json::object{{"from", store::RoleName(user->role)}, {"to", store::RoleName(*role)},
                                       {"by", "sso_group_mapping"}});
      user->role = *role;
    } else {
      // The last tenant admin keeps the role; sign-in goes on with it.
      log::warn("saml: role of user {} of tenant {} not changed: {}", user->id, tenant_id, st.error().detail);
    }
  }

  // The session, exactly as a password sign-in creates it.
  std::string token = crypto::RandomToken();
  store::Session s;
  s.id_hash = crypto::Sha256Hex(token);
  s.user_id = user->id;
  s.tenant_id = tenant_id;
  s.role = user->role;
  s.csrf_token = crypto::RandomToken();
  s.created_at = now;
  s.last_seen_at = now;
  s.expires_at = now + options_.session_absolute_seconds;
  if (auto old = r.Cookie(kSessionCookie); old && !old->empty()) (void)store_.DeleteSession(crypto::Sha256Hex(*old));
  if (auto st = store_.CreateSession(s); !st.ok()) return Response::FromError(st.error());
  if (auto logged = audit_.Append(tenant_id, privacy::AuditUser(s.user_id), privacy::audit_action::kLogin,
                                  privacy::AuditSession(s.id_hash), privacy::audit_outcome::kSuccess,
                                  json::object{{"method", "saml"},
                                               {"role", store::RoleName(s.role)},
                                               {"provisioned", provisioned},
                                               {"sp_initiated", a.sp_initiated},
                                               {"source", privacy::KeyedRef(keys_.IndexKey(), "src",
                                                                            r.remote_address)}});
      !logged.ok()) {
    (void)store_.DeleteSession(s.id_hash);
    log::error("saml: sign-in refused: audit entry not written: {}", logged.error().detail);
    return Html(503, SsoPage("Single sign-on failed", "Sign-in is unavailable right now; try again.",
                             "Back to the sign-in page", "/"));
  }
  log::info("saml: user {} of tenant {} signed in (provisioned: {})", s.user_id, tenant_id, provisioned);
  auto res = Html(200, SsoPage("Signed in", "You are signed in. Continuing to Parley…", "Continue to Parley", "/",
                               /*refresh=*/true));
  res.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) + "=" + token +
                                             "; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=" +
                                             std::to_string(options_.session_absolute_seconds));
  res.headers.emplace_back("Set-Cookie", ClearSamlCookie());
  return res;
}

}  // namespace parley::portal
