#include "portal/account_security.h"

#include <boost/json.hpp>

#include "common/log.h"
#include "crypto/crypto.h"
#include "crypto/totp.h"

namespace parley::portal {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

Result<json::object> Body(const Request& r) {
  if (r.Header("content-type").rfind("application/json", 0) != 0)
    return Error{Code::kUnsupportedMediaType, "send the body as application/json"};
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return InvalidArgument("body must be a JSON object");
  return std::move(body.as_object());
}

// A string field, or nullopt when absent or not a string.
std::optional<std::string> Field(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

// Apps show codes as "123 456"; people type them that way too.
std::string StripSpaces(std::string code) {
  std::erase(code, ' ');
  return code;
}

Response TooMany(const LoginThrottle::Verdict& v) {
  auto res = Response::FromError(
      ResourceExhausted("too many failed attempts; try again in " + std::to_string(v.retry_after) + " seconds"));
  res.SetHeader("Retry-After", std::to_string(v.retry_after));
  return res;
}

}  // namespace

Result<std::string> AccountSecurity::OpenSecret(const store::UserTotp& totp) {
  PARLEY_ASSIGN_OR_RETURN(privacy::TenantDataKeys key, keys_.DataKeys(totp.tenant_id));
  auto secret = privacy::OpenSealed(key, totp.secret_sealed, privacy::TotpSecretAad(totp.tenant_id, totp.user_id));
  if (!secret.ok()) {
    log::error("portal: the TOTP secret of a user of tenant {} cannot be opened", totp.tenant_id);
    return Internal("stored secret cannot be decrypted");
  }
  return secret;
}

void AccountSecurity::Audit(const store::Session& s, std::string_view action, std::string_view outcome,
                            json::object details) {
  details["session"] = privacy::AuditSession(s.id_hash);
  if (auto logged = audit_.Append(s.tenant_id, privacy::AuditUser(s.user_id), action, privacy::AuditUser(s.user_id),
                                  outcome, details);
      !logged.ok())
    log::error("portal: audit entry for {} not written: {}", action, logged.error().detail);
}

Result<bool> AccountSecurity::SecondFactorEnabled(const store::User& user) {
  auto totp = store_.GetUserTotp(user.tenant_id, user.id);
  if (!totp.ok()) {
    if (totp.error().code == Code::kNotFound) return false;
    return totp.error();
  }
  return totp->enabled_at != 0;
}

Result<bool> AccountSecurity::CheckCode(const store::User& user, std::string_view code) {
  PARLEY_ASSIGN_OR_RETURN(store::UserTotp totp, store_.GetUserTotp(user.tenant_id, user.id));
  if (totp.enabled_at == 0) return false;
  PARLEY_ASSIGN_OR_RETURN(std::string secret, OpenSecret(totp));
  auto step = crypto::MatchTotp(secret, StripSpaces(std::string(code)), clock_.NowUnixSeconds());
  // A step at or before the last accepted one is a replay (or an older code
  // than one already used): refused without touching the store.
  if (!step || *step <= totp.last_step) return false;
  return store_.UseTotpStep(user.tenant_id, user.id, *step);
}

Response AccountSecurity::Setup(const Request& r, const store::Session& s) {
  auto body = Body(r);
  if (!body.ok()) return Response::FromError(body.error());
  auto password = Field(*body, "password");
  if (!password) return Response::FromError(InvalidArgument("field \"password\" (string) is required"));
  auto user = store_.GetUser(s.tenant_id, s.user_id);
  if (!user.ok()) return Response::FromError(user.error());
  if (user->password_hash.empty())
    return Response::FromError(FailedPrecondition(
        "two-factor authentication is for local accounts; your organization's identity provider handles yours"));
  // The password again: a stolen session alone cannot bind the account to
  // someone else's phone. Guesses here are throttled like sign-ins.
  auto verdict = throttle_.Check(user->email_index, r.remote_address);
  if (verdict.retry_after > 0) return TooMany(verdict);
  if (!crypto::VerifyPassword(*password, user->password_hash)) {
    throttle_.RecordFailure(user->email_index, r.remote_address);
    Audit(s, privacy::audit_action::kTotpSetup, privacy::audit_outcome::kFailure, {{"reason", "bad_password"}});
    return Response::FromError(PermissionDenied("the password is wrong"));
  }
  auto enabled = SecondFactorEnabled(*user);
  if (!enabled.ok()) return Response::FromError(enabled.error());
  if (*enabled)
    return Response::FromError(FailedPrecondition("two-factor authentication is already on; turn it off first"));
  auto key = keys_.DataKeys(s.tenant_id);
  if (!key.ok()) return Response::FromError(key.error());
  auto email = privacy::OpenSealed(*key, user->email_sealed, privacy::UserEmailAad(user->tenant_id, user->id));
  if (!email.ok()) return Response::FromError(Internal("stored personal data cannot be decrypted"));

  std::string secret = crypto::NewTotpSecret();
  store::UserTotp totp;
  totp.tenant_id = s.tenant_id;
  totp.user_id = s.user_id;
  totp.secret_sealed = crypto::Seal(key->current, secret, privacy::TotpSecretAad(s.tenant_id, s.user_id));
  totp.created_at = clock_.NowUnixSeconds();
  if (auto st = store_.PutPendingTotp(totp); !st.ok()) return Response::FromError(st.error());
  Audit(s, privacy::audit_action::kTotpSetup, privacy::audit_outcome::kSuccess);
  auto res = Response::Json(200, json::serialize(json::object{
                                     {"secret", crypto::Base32Encode(secret)},
                                     {"otpauth_uri", crypto::TotpUri(kIssuer, *email, secret)},
                                     {"issuer", kIssuer},
                                     {"account", *email},
                                     {"algorithm", "SHA1"},
                                     {"digits", crypto::kTotpDigits},
                                     {"period", crypto::kTotpStepSeconds},
                                 }));
  res.SetHeader("Cache-Control", "no-store");
  return res;
}

Response AccountSecurity::Confirm(const Request& r, const store::Session& s) {
  auto body = Body(r);
  if (!body.ok()) return Response::FromError(body.error());
  auto code = Field(*body, "code");
  if (!code) return Response::FromError(InvalidArgument("field \"code\" (string) is required"));
  auto totp = store_.GetUserTotp(s.tenant_id, s.user_id);
  if (!totp.ok()) {
    if (totp.error().code == Code::kNotFound)
      return Response::FromError(FailedPrecondition("start the set-up first (POST /api/v1/account/totp/setup)"));
    return Response::FromError(totp.error());
  }
  if (totp->enabled_at != 0) return Response::FromError(FailedPrecondition("two-factor authentication is already on"));
  auto secret = OpenSecret(*totp);
  if (!secret.ok()) return Response::FromError(secret.error());
  auto step = crypto::MatchTotp(*secret, StripSpaces(*code), clock_.NowUnixSeconds());
  if (!step) {
    Audit(s, privacy::audit_action::kTotpEnable, privacy::audit_outcome::kFailure, {{"reason", "bad_code"}});
    return Response::FromError(
        InvalidArgument("the code does not match; check the time on your phone and enter the current code"));
  }
  // The confirming code's step counts as used: it cannot sign in afterwards.
  if (auto st = store_.EnableTotp(s.tenant_id, s.user_id, *step, clock_.NowUnixSeconds()); !st.ok())
    return Response::FromError(st.error());
  Audit(s, privacy::audit_action::kTotpEnable, privacy::audit_outcome::kSuccess);
  log::info("portal: user {} of tenant {} turned on two-factor authentication", s.user_id, s.tenant_id);
  return Response::Json(200, R"({"totp_enabled":true})");
}

Response AccountSecurity::Disable(const Request& r, const store::Session& s) {
  auto body = Body(r);
  if (!body.ok()) return Response::FromError(body.error());
  auto password = Field(*body, "password");
  auto code = Field(*body, "code");
  if (!password || !code)
    return Response::FromError(InvalidArgument("fields \"password\" and \"code\" (strings) are required"));
  auto user = store_.GetUser(s.tenant_id, s.user_id);
  if (!user.ok()) return Response::FromError(user.error());
  auto enabled = SecondFactorEnabled(*user);
  if (!enabled.ok()) return Response::FromError(enabled.error());
  if (!*enabled) return Response::FromError(FailedPrecondition("two-factor authentication is not on"));
  auto verdict = throttle_.Check(user->email_index, r.remote_address);
  if (verdict.retry_after > 0) return TooMany(verdict);
  // The code is checked only after the password, so a wrong password cannot
  // use up a code; the answer does not tell which of the two was wrong.
  bool password_ok = !user->password_hash.empty() && crypto::VerifyPassword(*password, user->password_hash);
  auto code_ok = password_ok ? CheckCode(*user, *code) : Result<bool>(false);
  if (!code_ok.ok()) return Response::FromError(code_ok.error());
  if (!password_ok || !*code_ok) {
    throttle_.RecordFailure(user->email_index, r.remote_address);
    Audit(s, privacy::audit_action::kTotpDisable, privacy::audit_outcome::kFailure,
          {{"reason", password_ok ? "bad_code" : "bad_password"}});
    return Response::FromError(PermissionDenied("the password or the code is wrong"));
  }
  if (auto st = store_.DeleteUserTotp(s.tenant_id, s.user_id); !st.ok()) return Response::FromError(st.error());
  Audit(s, privacy::audit_action::kTotpDisable, privacy::audit_outcome::kSuccess);
  log::info("portal: user {} of tenant {} turned off two-factor authentication", s.user_id, s.tenant_id);
  return Response::Json(200, R"({"totp_enabled":false})");
}

}  // namespace parley::portal
