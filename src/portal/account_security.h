// The optional TOTP second factor of local accounts (RFC 6238; maths in
// crypto/totp.h) and its enrolment API (docs/security.md, "Two-factor
// authentication"):
//
//   POST /api/v1/account/totp/setup    {password}        → {secret, otpauth_uri, ...}
//   POST /api/v1/account/totp/confirm  {code}            → the factor is on
//   POST /api/v1/account/totp/disable  {password, code}  → the factor is off
//
// Sign-in with the factor on: POST /api/v1/auth/login {email, password}
// answers 401 {"error":"second_factor_required"}; the client sends the same
// request again with "totp": "123456" (portal.cpp, Login). Codes are checked
// against the steps now-1 .. now+1 and each is accepted once per user (the
// store remembers the last accepted step). Wrong codes count as sign-in
// failures in the LoginThrottle, like wrong passwords.
//
// The secret is sealed under the tenant's data key (AAD privacy::TotpSecretAad), so
// the store never holds it in clear and deleting the tenant key shreds it.
// Every change is audited in the user's tenant chain.
//
// Thread-safe. Everything passed in outlives the object.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "http/http.h"
#include "portal/login_throttle.h"
#include "privacy/audit.h"
#include "privacy/pii.h"
#include "store/store.h"

namespace parley::portal {

class AccountSecurity {
 public:
  AccountSecurity(store::Store& store, privacy::KeyRing& keys, const Clock& clock, privacy::AuditLog& audit,
                  LoginThrottle& throttle)
      : store_(store), keys_(keys), clock_(clock), audit_(audit), throttle_(throttle) {}

  // True when `user` must give a code to sign in (a confirmed factor).
  Result<bool> SecondFactorEnabled(const store::User& user);
  // Checks `code` for `user` and, if right, uses up its step. False for a
  // wrong, malformed or already used code; an error only when the store or
  // key ring fails.
  Result<bool> CheckCode(const store::User& user, std::string_view code);

  // The route handlers; `session` is the caller's.
  http::Response Setup(const http::Request& r, const store::Session& session);
  http::Response Confirm(const http::Request& r, const store::Session& session);
  http::Response Disable(const http::Request& r, const store::Session& session);

  // "Parley", the issuer name authenticator apps show.
  static constexpr std::string_view kIssuer = "Parley";

 private:
  Result<std::string> OpenSecret(const store::UserTotp& totp);
  void Audit(const store::Session& session, std::string_view action, std::string_view outcome,
             boost::json::object details = {});

  store::Store& store_;
  privacy::KeyRing& keys_;
  const Clock& clock_;
  privacy::AuditLog& audit_;
  LoginThrottle& throttle_;
};

}  // namespace parley::portal
