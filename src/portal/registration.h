// Self-registration and password reset by e-mail (docs/accounts.md).
//
//   POST /api/v1/register                {email}            → 202, always the same answer
//   POST /api/v1/register/complete       {token, password}  → the account is active (role viewer)
//   POST /api/v1/password-reset          {email}            → 202, always the same answer
//   POST /api/v1/password-reset/complete {token, password}  → new password; all the user's sessions end
//   GET  /api/v1/register/info                              → how mail is delivered (the demo's outbox)
//
// No enumeration: a request's answer (status, body, and time — the request
// path does only work that is the same for every address) never depends on
// whether the domain is authorized or the address has an account; the
// look-ups, tokens and mail happen on a background worker. An address that
// has an account gets "you already have an account" instead of a link; an
// unauthorized domain or unknown address gets no mail at all.
//
// A link carries a 256-bit random token in its URL fragment (never sent to
// the server by browsers, so it lands in no access log); only its SHA-256 is
// stored (store::AccountToken). Single use, valid `link_ttl_seconds`.
//
// These routes have no session: they require a JSON body, the dispatcher
// refuses a foreign Origin (as for sign-in), and RequestLimit caps requests
// per source address and per e-mail address. Audit entries name the actor
// and target by id or blind-index prefix, never the address.
//
// Thread-safe. Store, key ring, clock and mailer outlive the object.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "http/http.h"
#include "mail/mail.h"
#include "portal/request_limit.h"
#include "privacy/audit.h"
#include "privacy/pii.h"
#include "store/store.h"

namespace parley::portal {

struct AccountMailOptions {
  std::string public_url{};                  // "https://host:port", no trailing slash
  int64_t link_ttl_seconds = 24 * 3600;
  int64_t requests_per_email_per_hour = 5;   // registration + reset requests together
  int64_t requests_per_address_per_hour = 20;
};

// The role a self-registered account gets: reports only, no personal data.
// A tenant admin promotes it (PATCH /api/v1/users/{id}/role).
inline constexpr store::Role kSelfRegisteredRole = store::Role::kViewer;

// Issues a link token: stores its hash with the sealed address and returns
// the token (43 characters, base64url). For the worker, tests and tools.
Result<std::string> IssueRegistrationToken(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id,
                                           const std::string& email, int64_t now, int64_t ttl_seconds);
Result<std::string> IssueResetToken(store::Store& store, privacy::KeyRing& keys, const store::User& user,
                                    const std::string& email, int64_t now, int64_t ttl_seconds);

// The front-end pages a mailed link opens (the token follows in "#token=").
inline constexpr std::string_view kVerifyPage = "/verify";
inline constexpr std::string_view kResetPage = "/reset-password";

class AccountFlows {
 public:
  // `mailer` may be null: the routes then answer 503 "mail is not configured".
  AccountFlows(store::Store& store, privacy::KeyRing& keys, const Clock& clock, mail::Mailer* mailer,
               AccountMailOptions options);
  ~AccountFlows();  // stops the worker; requests still queued are dropped
  AccountFlows(const AccountFlows&) = delete;
  AccountFlows& operator=(const AccountFlows&) = delete;

  http::Response RequestRegistration(const http::Request& r);
  http::Response CompleteRegistration(const http::Request& r);
  http::Response RequestReset(const http::Request& r);
  http::Response CompleteReset(const http::Request& r);
  http::Response Info(const http::Request& r);

  // Waits until every accepted request has been processed and its mail
  // handed to the mailer (tests); false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  enum class Kind { kRegister, kReset };
  struct Job {
    Kind kind;
    std::string email;   // normalized
    std::string source;  // keyed reference of the source address (audit)
  };
  http::Response Request(const http::Request& r, Kind kind);
  void Run();
  void Process(const Job& job);
  void ProcessRegistration(const Job& job, const std::string& index);
  void ProcessReset(const Job& job, const std::string& index);
  void Audit(std::string_view chain, std::string_view actor, std::string_view action, std::string_view target,
             std::string_view outcome, boost::json::object details);
  void Mail(const std::string& to, std::string subject, std::string text);

  store::Store& store_;
  privacy::KeyRing& keys_;
  const Clock& clock_;
  mail::Mailer* mailer_;
  const AccountMailOptions options_;
  privacy::AuditLog audit_;
  RequestLimit per_email_;
  RequestLimit per_address_;
  RequestLimit completions_;  // per address: each completion costs an Argon2id hash

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // guarded by mu_
  bool busy_ = false;     // guarded by mu_
  bool stop_ = false;     // guarded by mu_
  std::thread worker_;
};

}  // namespace parley::portal
