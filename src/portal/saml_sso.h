// The browser side of SAML single sign-on (docs/sso.md): GET /saml/metadata,
// GET /saml/login?tenant=..., POST /saml/acs. The portal's route table
// declares these routes (public: no session exists yet) and forwards here.
//
// SP-initiated: /saml/login stores the AuthnRequest (Lasso's dump) under the
// SHA-256 of a random value that only this browser holds, in the
// __Host-parley_saml cookie (SameSite=None: the IdP's POST is cross-site and
// must carry it). The ACS consumes it once, so InResponseTo is checked
// against the request this browser started. IdP-initiated responses (no
// cookie) are accepted only where the tenant allows them. Either way the
// response's Issuer picks the candidate tenants (IdP entity ID) and Lasso
// then verifies it with that tenant's IdP metadata.
//
// The ACS is not CSRF-protected by Origin: the IdP's form POST is cross-site
// by design, so its Origin is the IdP's. The SAML binding protects it: a
// response must be signed by the tenant's IdP, fresh, addressed to us,
// answer this browser's request and never have been used before.
//
// On success the ACS creates a session exactly as a password sign-in does
// (same cookie, CSRF token, lifetimes, audit entry) and answers 200 with a
// page that moves on to the portal by a same-origin meta refresh: the
// session cookie is SameSite=Strict, and a browser may not send it on a
// redirect that is part of the cross-site POST's navigation. Every refusal
// is an HTML page (no script; strict CSP) naming the problem, plus an audit
// entry with the reason code, never personal data.
//
// Thread-safe; the store, key ring, clock, audit log and SP outlive it.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "http/http.h"
#include "privacy/audit.h"
#include "privacy/pii.h"
#include "saml/saml.h"
#include "store/store.h"

namespace parley::portal {

inline constexpr std::string_view kSamlCookie = "__Host-parley_saml";

struct SamlSsoOptions {
  std::shared_ptr<const saml::ServiceProvider> sp;  // null: SSO not configured (503)
  int64_t request_seconds = 600;
  int64_t session_absolute_seconds = 12 * 3600;  // as for password sign-ins (idle: Portal::Authenticate)
};

class SamlSso {
 public:
  SamlSso(store::Store& store, privacy::KeyRing& keys, const Clock& clock, privacy::AuditLog& audit,
          SamlSsoOptions options);

  http::Response Metadata(const http::Request& r);
  http::Response Login(const http::Request& r);
  http::Response Acs(const http::Request& r);

 private:
  http::Response Refuse(const http::Request& r, const std::string& chain, const saml::Refusal& why, int status);
  Result<store::Tenant> FindTenant(const std::string& name_or_domain);

  store::Store& store_;
  privacy::KeyRing& keys_;
  const Clock& clock_;
  privacy::AuditLog& audit_;
  SamlSsoOptions options_;
};

// A small standalone HTML page (no script, CSP-clean): `title`, `message`
// (plain text, escaped here) and a link. Used for SSO errors and the ACS's
// continue page.
std::string SsoPage(const std::string& title, const std::string& message, const std::string& link_text,
                    const std::string& link, bool refresh = false);

}  // namespace parley::portal
