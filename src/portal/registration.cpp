#include "portal/registration.h"

#include <boost/json.hpp>

#include "common/log.h"
#include "crypto/crypto.h"
#include "portal/password_policy.h"

namespace parley::portal {

namespace json = boost::json;
using http::Response;

namespace {

// AAD of the address sealed in a link's row: bound to the tenant and the
// token, so a sealed address cannot be moved to another row.
Result<std::string> IssueToken(store::Store& store, privacy::KeyRing& keys, store::AccountTokenPurpose purpose,
                               const std::string& tenant_id, const std::string& user_id, const std::string& email,
                               int64_t now, int64_t ttl_seconds) {
  PARLEY_ASSIGN_OR_RETURN(privacy::TenantDataKeys keys_of_tenant, keys.DataKeys(tenant_id));
  std::string normalized = privacy::NormalizeEmail(email);
  std::string token = crypto::RandomToken();
  store::AccountToken t;
  t.token_hash = crypto::Sha256Hex(token);
  t.tenant_id = tenant_id;
  t.purpose = purpose;
  t.user_id = user_id;
  t.email_index = keys.EmailIndex(normalized);
  t.email_sealed = crypto::Seal(keys_of_tenant.current, normalized, privacy::TokenEmailAad(tenant_id, t.token_hash));
  t.created_at = now;
  t.expires_at = now + ttl_seconds;
  PARLEY_TRY(store.CreateAccountToken(t, now));
  return token;
}

// A syntactically plausible address (the request path's only check, the same
// for every address): one '@', both sides non-empty, a dot in the domain, no
// white space or control characters.
bool LooksLikeEmail(std::string_view e) {
  if (e.size() < 5 || e.size() > 254) return false;
  size_t at = e.find('@');
  if (at == 0 || at == std::string_view::npos || e.find('@', at + 1) != std::string_view::npos) return false;
  std::string_view domain = e.substr(at + 1);
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.') return false;
  for (unsigned char c : e)
    if (c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == '"' || c == ',' || c == ';') return false;
  return true;
}

// Names a link in the audit log: a prefix of its token's hash, never the token.
std::string LinkRef(std::string_view token_hash) { return "account_link:" + std::string(token_hash.substr(0, 16)); }

Response ErrorJson(int status, std::string_view error, const std::string& detail) {
  return Response::Json(status, json::serialize(json::object{{"error", error}, {"detail", detail}}));
}

Response NoStore(Response r) {
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

// The body of a no-session request: JSON only (a cross-site form cannot
// send it), an object.
Result<json::object> JsonObjectBody(const http::Request& r) {
  if (r.Header("content-type").rfind("application/json", 0) != 0)
    return Error{Code::kUnsupportedMediaType, "send the request as application/json"};
  boost::system::error_code ec;
  json::value body = json::parse(r.body, ec);
  if (ec || !body.is_object()) return InvalidArgument("body must be a JSON object");
  return std::move(body.as_object());
}

std::optional<std::string> StringField(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

std::string Validity(int64_t seconds) {
  if (seconds >= 3600 && seconds % 3600 == 0)
    return std::to_string(seconds / 3600) + (seconds == 3600 ? " hour" : " hours");
  if (seconds >= 60) return std::to_string(seconds / 60) + " minutes";
  return std::to_string(seconds) + " seconds";
}

constexpr std::string_view kAccepted =
    "If this address can have a Parley account, a message is on its way to it. Follow the link in it to "
    "continue. Nothing arrived? Check your spam folder, or ask your administrator whether your organisation's "
    "e-mail domain is registered with Parley.";

}  // namespace

Result<std::string> IssueRegistrationToken(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id,
                                           const std::string& email, int64_t now, int64_t ttl_seconds) {
  return IssueToken(store, keys, store::AccountTokenPurpose::kRegister, tenant_id, "", email, now, ttl_seconds);
}

Result<std::string> IssueResetToken(store::Store& store, privacy::KeyRing& keys, const store::User& user,
                                    const std::string& email, int64_t now, int64_t ttl_seconds) {
  return IssueToken(store, keys, store::AccountTokenPurpose::kReset, user.tenant_id, user.id, email, now, ttl_seconds);
}

AccountFlows::AccountFlows(store::Store& store, privacy::KeyRing& keys, const Clock& clock, mail::Mailer* mailer,
                           AccountMailOptions options)
    : store_(store),
      keys_(keys),
      clock_(clock),
      mailer_(mailer),
      options_(std::move(options)),
      audit_(store, clock),
      per_email_(clock, options_.requests_per_email_per_hour, 3600),
      per_address_(clock, options_.requests_per_address_per_hour, 3600),
      completions_(clock, options_.requests_per_address_per_hour, 3600) {
  worker_ = std::thread([this] { Run(); });
}

AccountFlows::~AccountFlows() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

bool AccountFlows::WaitIdle(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [this] { return jobs_.empty() && !busy_; })) return false;
  }
  if (!mailer_) return true;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return mailer_->WaitIdle(std::max(left, std::chrono::milliseconds(0)));
}

Response AccountFlows::Info(const http::Request&) {
  json::object o{{"self_registration", mailer_ != nullptr},
                 {"link_ttl_seconds", options_.link_ttl_seconds},
                 {"password_min_length", kPasswordMinLength},
                 {"password_max_length", kPasswordMaxLength}};
  if (!mailer_) {
    o["mail_delivery"] = "none";
  } else if (auto dir = mailer_->transport().OutboxDir(); !dir.empty()) {
    // The demo default: say where the messages are, as the page must.
    o["mail_delivery"] = "outbox";
    o["outbox_dir"] = dir.string();
  } else {
    o["mail_delivery"] = "smtp";
  }
  return NoStore(Response::Json(200, json::serialize(o)));
}

Response AccountFlows::RequestRegistration(const http::Request& r) { return Request(r, Kind::kRegister); }
Response AccountFlows::RequestReset(const http::Request& r) { return Request(r, Kind::kReset); }

Response AccountFlows::Request(const http::Request& r, Kind kind) {
  if (!mailer_) return Response::FromError(Unavailable("this server cannot send mail (mail is not configured)"));
  auto body = JsonObjectBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  auto email = StringField(*body, "email");
  if (!email) return Response::FromError(InvalidArgument("field \"email\" (a string) is required"));
  std::string normalized = privacy::NormalizeEmail(*email);
  if (!LooksLikeEmail(normalized)) return Response::FromError(InvalidArgument("that is not an e-mail address"));
  // Both limits are counted for every request alike, whatever the address.
  int64_t wait = per_address_.Take("addr:" + r.remote_address);
  if (wait == 0) wait = per_email_.Take("email:" + keys_.EmailIndex(normalized));
  if (wait > 0) {
    auto res = Response::FromError(
        ResourceExhausted("too many requests for sign-up or reset mail; try again in " + std::to_string(wait) +
                          " seconds"));
    res.SetHeader("Retry-After", std::to_string(wait));
    return res;
  }
  {
    std::lock_guard lock(mu_);
    constexpr size_t kMaxJobs = 1000;
    if (jobs_.size() >= kMaxJobs) {
      // Still the same answer: a full queue must not tell anything either.
      log::error("accounts: request queue full; a {} request was dropped",
                 kind == Kind::kRegister ? "registration" : "reset");
    } else {
      jobs_.push_back({kind, normalized, privacy::KeyedRef(keys_.IndexKey(), "src", r.remote_address)});
    }
  }
  cv_.notify_all();
  return NoStore(Response::Json(202, json::serialize(json::object{{"status", "accepted"}, {"detail", kAccepted}})));
}

void AccountFlows::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (stop_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    Process(job);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

void AccountFlows::Process(const Job& job) {
  const std::string index = keys_.EmailIndex(job.email);
  if (job.kind == Kind::kRegister) ProcessRegistration(job, index);
  else ProcessReset(job, index);
}

void AccountFlows::Audit(std::string_view chain, std::string_view actor, std::string_view action,
                         std::string_view target, std::string_view outcome, json::object details) {
  if (auto logged = audit_.Append(chain, actor, action, target, outcome, details); !logged.ok())
    log::error("accounts: audit entry {} not written: {}", action, logged.error().detail);
}

void AccountFlows::Mail(const std::string& to, std::string subject, std::string text) {
  text += "\n-- \nParley, call analytics for your video-conferencing infrastructure\n" + options_.public_url + "/\n";
  if (auto st = mailer_->Send({to, std::move(subject), std::move(text)}); !st.ok())
    log::error("accounts: a message could not be queued: {}", st.error().detail);
}

void AccountFlows::ProcessRegistration(const Job& job, const std::string& index) {
  const int64_t now = clock_.NowUnixSeconds();
  const std::string target = privacy::AuditEmailIndex(index);
  auto existing = store_.FindUserByEmailIndex(index);
  if (existing.ok()) {
    Audit(existing->tenant_id, "anonymous", privacy::audit_action::kRegistrationRequest,
          privacy::AuditUser(existing->id), privacy::audit_outcome::kFailure,
          {{"reason", "account_exists"}, {"source", job.source}});
    Mail(job.email, "You already have a Parley account",
         "Hello,\n\nsomeone (hopefully you) asked to create a Parley account for this address, but it already "
         "has one.\n\nSign in at:\n\n  " + options_.public_url + "/\n\nForgot your password? Ask for a reset link "
         "here:\n\n  " + options_.public_url + "/forgot-password\n\nIf you did not ask, you can ignore this "
         "message; nothing has changed.\n");
    return;
  }
  if (existing.error().code != Code::kNotFound) {
    log::error("accounts: registration not processed: {}", existing.error().detail);
    return;
  }
  auto tenants = store_.ListTenants();
  if (!tenants.ok()) {
    log::error("accounts: registration not processed: {}", tenants.error().detail);
    return;
  }
  const std::string domain = job.email.substr(job.email.rfind('@') + 1);
  const store::Tenant* tenant = nullptr;
  for (const auto& t : *tenants)
    for (const auto& d : t.domains)
      if (!t.platform && d == domain) tenant = &t;
  if (!tenant) {
    // No mail: Parley writes only to addresses of its customers' domains.
    Audit(store::kPlatformAuditChain, "anonymous", privacy::audit_action::kRegistrationRequest, target,
          privacy::audit_outcome::kFailure, {{"reason", "domain_not_authorized"}, {"source", job.source}});
    return;
  }
  auto token = IssueRegistrationToken(store_, keys_, tenant->id, job.email, now, options_.link_ttl_seconds);
  if (!token.ok()) {
    log::error("accounts: registration link for tenant {} not issued: {}", tenant->id, token.error().detail);
    return;
  }
  Audit(tenant->id, "anonymous", privacy::audit_action::kRegistrationRequest, target, privacy::audit_outcome::kSuccess,
        {{"link", LinkRef(crypto::Sha256Hex(*token))}, {"source", job.source}});
  Mail(job.email, "Confirm your Parley account",
       "Hello,\n\nsomeone (hopefully you) asked to create a Parley account for this address, in the organisation "
       "\"" + tenant->name + "\".\n\nTo confirm it and choose your password, open this link within " +
           Validity(options_.link_ttl_seconds) + ":\n\n  " + options_.public_url + std::string(kVerifyPage) +
           "#token=" + *token + "\n\nThe link works once. If you did not ask for an account, ignore this "
           "message: nothing happens without the link.\n");
}

void AccountFlows::ProcessReset(const Job& job, const std::string& index) {
  const int64_t now = clock_.NowUnixSeconds();
  auto user = store_.FindUserByEmailIndex(index);
  if (!user.ok()) {
    if (user.error().code != Code::kNotFound) {
      log::error("accounts: reset not processed: {}", user.error().detail);
      return;
    }
    Audit(store::kPlatformAuditChain, "anonymous", privacy::audit_action::kPasswordResetRequest,
          privacy::AuditEmailIndex(index), privacy::audit_outcome::kFailure,
          {{"reason", "unknown_account"}, {"source", job.source}});
    return;
  }
  if (user->password_hash.empty()) {
    // Single sign-on only: the organisation's identity provider owns the password.
    Audit(user->tenant_id, "anonymous", privacy::audit_action::kPasswordResetRequest, privacy::AuditUser(user->id),
          privacy::audit_outcome::kFailure, {{"reason", "sso_only"}, {"source", job.source}});
    Mail(job.email, "Your Parley account uses single sign-on",
         "Hello,\n\nsomeone (hopefully you) asked to reset the Parley password of this address. Your account "
         "signs in through your organisation's single sign-on, so it has no Parley password; use your "
         "organisation's sign-in, or ask its IT team for help.\n\nIf you did not ask, ignore this message.\n");
    return;
  }
  auto token = IssueResetToken(store_, keys_, *user, job.email, now, options_.link_ttl_seconds);
  if (!token.ok()) {
    log::error("accounts: reset link for a user of tenant {} not issued: {}", user->tenant_id, token.error().detail);
    return;
  }
  Audit(user->tenant_id, "anonymous", privacy::audit_action::kPasswordResetRequest, privacy::AuditUser(user->id),
        privacy::audit_outcome::kSuccess,
        {{"link", LinkRef(crypto::Sha256Hex(*token))}, {"source", job.source}});
  Mail(job.email, "Reset your Parley password",
       "Hello,\n\nsomeone (hopefully you) asked to reset the password of the Parley account of this address.\n\n"
       "To choose a new password, open this link within " + Validity(options_.link_ttl_seconds) + ":\n\n  " +
           options_.public_url + std::string(kResetPage) + "#token=" + *token +
           "\n\nThe link works once; choosing a new password signs you out everywhere. If you did not ask, "
           "ignore this message: your password stays as it is.\n");
}

namespace {

struct Completion {
  std::string token;
  std::string password;
};

Result<Completion> CompletionBody(const http::Request& r) {
  PARLEY_ASSIGN_OR_RETURN(json::object body, JsonObjectBody(r));
  auto token = StringField(body, "token");
  auto password = StringField(body, "password");
  if (!token || !password) return InvalidArgument("fields \"token\" and \"password\" (strings) are required");
  if (token->size() > 128 || password->size() > 1024) return InvalidArgument("token or password is too long");
  return Completion{std::move(*token), std::move(*password)};
}

}  // namespace

// Both completions: the link's state decides the answer first, then the
// password rules; the token is spent only by a successful completion.
Response AccountFlows::CompleteRegistration(const http::Request& r) {
  auto body = CompletionBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  if (int64_t wait = completions_.Take("addr:" + r.remote_address); wait > 0) {
    auto res = Response::FromError(ResourceExhausted("too many attempts; try again in " + std::to_string(wait) + " seconds"));
    res.SetHeader("Retry-After", std::to_string(wait));
    return res;
  }
  const int64_t now = clock_.NowUnixSeconds();
  const std::string hash = crypto::Sha256Hex(body->token);
  auto token = store_.GetAccountToken(hash);
  if (!token.ok() && token.error().code != Code::kNotFound) return Response::FromError(token.error());
  if (!token.ok() || token->purpose != store::AccountTokenPurpose::kRegister)
    return ErrorJson(400, "link_invalid", "This link is not valid. Copy the whole link from the e-mail, or ask for a new one.");
  const std::string source = privacy::KeyedRef(keys_.IndexKey(), "src", r.remote_address);
  const std::string link = LinkRef(hash);
  if (token->used_at || token->expires_at <= now) {
    const bool used = token->used_at.has_value();
    Audit(token->tenant_id, "anonymous", privacy::audit_action::kRegistration, privacy::AuditEmailIndex(token->email_index),
          privacy::audit_outcome::kFailure,
          {{"reason", used ? "link_used" : "link_expired"}, {"link", link}, {"source", source}});
    return used ? ErrorJson(410, "link_used", "This link has already been used. Sign in, or ask for a new link.")
                : ErrorJson(410, "link_expired", "This link has expired (links are valid for " +
                                                     Validity(options_.link_ttl_seconds) + "). Ask for a new one.");
  }
  auto key = keys_.DataKeys(token->tenant_id);
  if (!key.ok()) return Response::FromError(key.error());
  auto email = privacy::OpenSealed(*key, token->email_sealed, privacy::TokenEmailAad(token->tenant_id, hash));
  if (!email.ok()) {
    log::error("accounts: the address of a registration link of tenant {} cannot be opened", token->tenant_id);
    return Response::FromError(Internal("stored personal data cannot be decrypted"));
  }
  if (auto st = CheckNewPassword(body->password, *email); !st.ok())
    return ErrorJson(400, "password_rejected", st.error().detail);
  auto nfkc = NormalizePassword(body->password);
  if (!nfkc.ok()) return ErrorJson(400, "password_rejected", nfkc.error().detail);
  store::User u;
  u.id = crypto::RandomUuid();
  u.tenant_id = token->tenant_id;
  u.email_index = token->email_index;
  u.email_sealed = crypto::Seal(key->current, *email, privacy::UserEmailAad(u.tenant_id, u.id));
  u.password_hash = crypto::HashPassword(*nfkc);
  u.role = kSelfRegisteredRole;
  u.created_at = now;
  if (auto st = store_.RedeemRegistrationToken(hash, now, u); !st.ok()) {
    if (st.error().code == Code::kFailedPrecondition)  // used or expired meanwhile
      return ErrorJson(410, "link_used", "This link has already been used. Sign in, or ask for a new link.");
    if (st.error().code == Code::kAlreadyExists)
      return ErrorJson(409, "already_exists",
                       "This address already has an account. Sign in, or use \"Forgot password?\".");
    return Response::FromError(st.error());
  }
  Audit(u.tenant_id, privacy::AuditUser(u.id), privacy::audit_action::kRegistration, privacy::AuditUser(u.id),
        privacy::audit_outcome::kSuccess,
        {{"role", store::RoleName(u.role)}, {"link", link}, {"source", source}});
  log::info("accounts: user {} of tenant {} registered", u.id, u.tenant_id);
  return NoStore(Response::Json(
      200, json::serialize(json::object{
               {"status", "registered"},
               {"role", store::RoleName(u.role)},
               {"detail", "Your account is active. Sign in with your e-mail address and your new password."}})));
}

Response AccountFlows::CompleteReset(const http::Request& r) {
  auto body = CompletionBody(r);
  if (!body.ok()) return Response::FromError(body.error());
  if (int64_t wait = completions_.Take("addr:" + r.remote_address); wait > 0) {
    auto res = Response::FromError(ResourceExhausted("too many attempts; try again in " + std::to_string(wait) + " seconds"));
    res.SetHeader("Retry-After", std::to_string(wait));
    return res;
  }
  const int64_t now = clock_.NowUnixSeconds();
  const std::string hash = crypto::Sha256Hex(body->token);
  auto token = store_.GetAccountToken(hash);
  if (!token.ok() && token.error().code != Code::kNotFound) return Response::FromError(token.error());
  if (!token.ok() || token->purpose != store::AccountTokenPurpose::kReset)
    return ErrorJson(400, "link_invalid", "This link is not valid. Copy the whole link from the e-mail, or ask for a new one.");
  const std::string source = privacy::KeyedRef(keys_.IndexKey(), "src", r.remote_address);
  const std::string link = LinkRef(hash);
  if (token->used_at || token->expires_at <= now) {
    const bool used = token->used_at.has_value();
    Audit(token->tenant_id, "anonymous", privacy::audit_action::kPasswordReset, privacy::AuditUser(token->user_id),
          privacy::audit_outcome::kFailure,
          {{"reason", used ? "link_used" : "link_expired"}, {"link", link}, {"source", source}});
    return used ? ErrorJson(410, "link_used", "This link has already been used. Ask for a new one if you still need it.")
                : ErrorJson(410, "link_expired", "This link has expired (links are valid for " +
                                                     Validity(options_.link_ttl_seconds) + "). Ask for a new one.");
  }
  auto key = keys_.DataKeys(token->tenant_id);
  if (!key.ok()) return Response::FromError(key.error());
  auto email = privacy::OpenSealed(*key, token->email_sealed, privacy::TokenEmailAad(token->tenant_id, hash));
  if (!email.ok()) {
    log::error("accounts: the address of a reset link of tenant {} cannot be opened", token->tenant_id);
    return Response::FromError(Internal("stored personal data cannot be decrypted"));
  }
  if (auto st = CheckNewPassword(body->password, *email); !st.ok())
    return ErrorJson(400, "password_rejected", st.error().detail);
  auto nfkc = NormalizePassword(body->password);
  if (!nfkc.ok()) return ErrorJson(400, "password_rejected", nfkc.error().detail);
  auto redeemed = store_.RedeemResetToken(hash, now, crypto::HashPassword(*nfkc));
  if (!redeemed.ok()) {
    if (redeemed.error().code == Code::kFailedPrecondition)
      return ErrorJson(410, "link_used", "This link has already been used. Ask for a new one if you still need it.");
    return Response::FromError(redeemed.error());
  }
  const auto& [used_token, sessions_ended] = *redeemed;
  Audit(used_token.tenant_id, privacy::AuditUser(used_token.user_id), privacy::audit_action::kPasswordReset,
        privacy::AuditUser(used_token.user_id), privacy::audit_outcome::kSuccess,
        {{"sessions_ended", sessions_ended}, {"link", link}, {"source", source}});
  log::info("accounts: user {} of tenant {} reset the password; {} session(s) ended", used_token.user_id,
            used_token.tenant_id, sessions_ended);
  return NoStore(Response::Json(
      200, json::serialize(json::object{
               {"status", "password_changed"},
               {"sessions_ended", sessions_ended},
               {"detail", "Your password has been changed and you have been signed out everywhere. Sign in with "
                          "the new password."}})));
}

}  // namespace parley::portal
