// The portal listener: JSON API under /api/v1, health probes, the OpenAPI
// document and the built front end (SPA) from portal.web_root.
//
// Every route is declared once in the route table (portal.cpp) with its
// least role and the tenant data it touches; the dispatcher enforces both
// (docs/security.md, "Roles and authorization") and the OpenAPI document is
// generated from it (x-parley-role). Only sign-in, self-registration and
// password reset, health and the OpenAPI document are reachable without a session. Every response carries the security headers
// (strict CSP, HSTS, nosniff, frame-ancestors 'none', no referrer).
//
// Thread-safe. The store, key ring and clock outlive the Portal.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "http/http.h"
#include "portal/login_throttle.h"
#include "portal/registration.h"
#include "privacy/pii.h"
#include "saml/saml.h"
#include "store/store.h"

namespace parley::portal {

struct PortalOptions {
  std::string public_url;                 // "https://host:port", no trailing slash
  std::filesystem::path web_root;         // built front end; may be missing (API still works)
  int64_t session_idle_seconds = 1800;
  int64_t session_absolute_seconds = 12 * 3600;
  int64_t login_max_failures = 5;
  // Self-registration and password reset (portal/registration.h): mail goes
  // through `mailer` (null: those routes answer 503). accounts.public_url
  // defaults to public_url.
  mail::Mailer* mailer = nullptr;
  AccountMailOptions accounts = {};
  // SAML single sign-on (docs/sso.md); null: /saml/* answer 503.
  std::shared_ptr<const saml::ServiceProvider> saml = nullptr;
  int64_t saml_request_seconds = 600;     // an SP-initiated sign-in's lifetime
};

inline constexpr std::string_view kSessionCookie = "__Host-parley_session";
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

class Portal {
 public:
  Portal(store::Store& store, privacy::KeyRing& keys, const Clock& clock, PortalOptions options);
  ~Portal();

  http::Response Handle(const http::Request& request);

  // The OpenAPI 3 document (portal and ingest routes), as served.
  std::string OpenApiJson() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::portal
