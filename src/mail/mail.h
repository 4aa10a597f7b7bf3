// Outgoing e-mail (docs/accounts.md, "Mail"): RFC 5322 messages, delivered
// over SMTP by libcurl — STARTTLS required on smtp://, implicit TLS on
// smtps://, the project's TLS policy on the connection (crypto/tls_policy.h)
// — or, in the demo, written as .eml files (mode 0600) to an outbox
// directory. Sending happens on a background thread with retries, so no
// request waits for (or can time) a mail server.
//
// Logs never carry recipients or message text: a message is named by the
// first 16 hex characters of its Message-ID's SHA-256.
//
// Thread-safe. The clock outlives the Mailer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/clock.h"
#include "common/result.h"

namespace parley::mail {

struct Message {
  std::string to;       // one bare address, "user@example.com"
  std::string subject;  // UTF-8; encoded (RFC 2047) when not ASCII
  std::string text;     // plain-text body, UTF-8, "\n" line ends
};

// The message as RFC 5322 text (CRLF line ends): Date, Message-ID (at the
// From address's domain), From, To, Subject, MIME-Version, Content-Type
// text/plain UTF-8, Auto-Submitted. kInvalidArgument when an address or the
// subject holds a line break (header injection) or an address is malformed.
Result<std::string> Compose(const Message& message, std::string_view from, int64_t now);

// "Name <addr@host>" or "addr@host" → "addr@host".
std::string BareAddress(std::string_view from);

// One delivery attempt of a composed message.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Status Deliver(const std::string& from, const std::string& to, const std::string& rfc5322) = 0;
  // For the startup log and the portal: "SMTP smtp://host:587 (STARTTLS)", "outbox /dir".
  virtual std::string Describe() const = 0;
  // The outbox directory, or empty for real delivery.
  virtual std::filesystem::path OutboxDir() const { return {}; }
};

struct SmtpOptions {
  std::string url{};                // smtp://host[:port] (STARTTLS required) or smtps://host[:port]
  std::string username{};           // empty: no authentication
  std::string password{};
  std::filesystem::path ca_file{};  // trust anchors; empty: the system's
  int64_t timeout_seconds = 30;
};
// kConfig when the URL is not smtp:// or smtps:// with a host.
Result<std::unique_ptr<Transport>> MakeSmtpTransport(SmtpOptions options);
// Creates `dir` (0700) when missing.
Result<std::unique_ptr<Transport>> MakeOutboxTransport(const std::filesystem::path& dir);

struct MailerOptions {
  std::string from{};                                  // "Parley <parley@example.com>"
  int attempts = 5;                                    // per message
  std::chrono::milliseconds first_retry_delay{2000};   // doubled after each failure
  size_t max_queued = 1000;                            // beyond: dropped, logged
};

class Mailer {
 public:
  Mailer(std::unique_ptr<Transport> transport, const Clock& clock, MailerOptions options);
  ~Mailer();  // finishes the attempt in progress; messages still queued are dropped (counted in the log)
  Mailer(const Mailer&) = delete;
  Mailer& operator=(const Mailer&) = delete;

  // Queues `message`; never blocks on the network. kInvalidArgument if it
  // cannot be composed, kResourceExhausted when the queue is full.
  Status Send(const Message& message);
  // Waits until the queue is empty and no attempt runs (tests); false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

  const Transport& transport() const { return *transport_; }
  int64_t sent() const;
  int64_t failed() const;  // messages given up on

 private:
  struct Item {
    std::string to;
    std::string text;
    std::string ref;  // log name of the message
  };
  void Run();

  std::unique_ptr<Transport> transport_;
  const Clock& clock_;
  const MailerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool busy_ = false;       // guarded by mu_
  bool stop_ = false;       // guarded by mu_
  int64_t sent_ = 0;        // guarded by mu_
  int64_t failed_ = 0;      // guarded by mu_
  std::thread worker_;
};

}  // namespace parley::mail
