#include "mail/mail.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <array>
#include <cstring>
#include <ctime>
#include <mutex>

#include "common/files.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "crypto/tls_policy.h"

namespace parley::mail {
namespace {

bool IsAscii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// A bare address fit for a header and the SMTP envelope: one '@', both
// sides non-empty, no white space, angle brackets or control characters.
bool IsPlainAddress(std::string_view a) {
  if (a.empty() || a.size() > 254) return false;
  size_t at = a.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= a.size() || a.find('@', at + 1) != std::string_view::npos)
    return false;
  for (unsigned char c : a)
    if (c <= 0x20 || c == 0x7F || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == '"')
      return false;
  return true;
}

// RFC 5322 date-time in UTC; names spelled here so the process locale cannot change them.
std::string RfcDate(int64_t now) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[static_cast<size_t>(tm.tm_wday)],
                tm.tm_mday, kMonths[static_cast<size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string Crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') continue;
    if (text[i] == '\n') out += "\r\n";
    else out += text[i];
  }
  if (out.size() < 2 || out.substr(out.size() - 2) != "\r\n") out += "\r\n";
  return out;
}

// Base64 in lines of 76 characters (RFC 2045).
std::string Base64Lines(std::string_view bytes) {
  std::string b64 = crypto::Base64Encode(bytes);
  std::string out;
  for (size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
  return out;
}

std::once_flag curl_once;

CURLcode ApplyPolicy(CURL*, void* ssl_ctx, void*) {
  return crypto::ApplyTlsPolicy(static_cast<SSL_CTX*>(ssl_ctx)).ok() ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t nitems, void* user) {
  auto* up = static_cast<Upload*>(user);
  size_t n = std::min(size * nitems, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

class SmtpTransport final : public Transport {
 public:
  explicit SmtpTransport(SmtpOptions o) : o_(std::move(o)) {}

  std::string Describe() const override {
    return "SMTP " + o_.url + (o_.url.rfind("smtps://", 0) == 0 ? " (implicit TLS)" : " (STARTTLS required)");
  }

  Status Deliver(const std::string& from, const std::string& to, const std::string& rfc5322) override {
    std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    CURL* c = curl_easy_init();
    if (!c) return Internal("libcurl cannot create a handle");
    char errbuf[CURL_ERROR_SIZE] = {0};
    Upload up{&rfc5322};
    std::string mail_from = "<" + from + ">";
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + to + ">").c_str());
    curl_easy_setopt(c, CURLOPT_URL, o_.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o_.timeout_seconds));
    curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(o_.timeout_seconds));
    // TLS or nothing: on smtp:// a server that does not offer STARTTLS fails
    // the transfer instead of receiving the message in clear.
    curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!o_.ca_file.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, o_.ca_file.c_str());
      curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
    }
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, &ApplyPolicy);
    if (!o_.username.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, o_.username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, o_.password.c_str());
    }
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &ReadUpload);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(rfc5322.size()));
    CURLcode rc = curl_easy_perform(c);
    long response = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK) return Ok();
    // libcurl's text can quote the server, which can quote the recipient:
    // keep it out of the log then.
    std::string why = curl_easy_strerror(rc);
    if (errbuf[0] && !std::strchr(errbuf, '@')) why += std::string(": ") + errbuf;
    if (response) why += " (last SMTP reply " + std::to_string(response) + ")";
    return Unavailable(why);
  }

 private:
  SmtpOptions o_;
};

class OutboxTransport final : public Transport {
 public:
  explicit OutboxTransport(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::string Describe() const override { return "outbox " + dir_.string(); }
  std::filesystem::path OutboxDir() const override { return dir_; }

  Status Deliver(const std::string&, const std::string&, const std::string& rfc5322) override {
    // Named by time and randomness, never by the recipient. WriteFileAtomic
    // renames into place, so a reader never sees half a message.
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    auto file = dir_ / (std::string(stamp) + "-" + crypto::ToHex(crypto::RandomBytes(6)) + ".eml");
    return WriteFileAtomic(file, rfc5322, 0600);
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace

std::string BareAddress(std::string_view from) {
  size_t lt = from.rfind('<');
  size_t gt = from.rfind('>');
  if (lt != std::string_view::npos && gt != std::string_view::npos && gt > lt) return std::string(from.substr(lt + 1, gt - lt - 1));
  while (!from.empty() && from.front() == ' ') from.remove_prefix(1);
  while (!from.empty() && from.back() == ' ') from.remove_suffix(1);
  return std::string(from);
}

Result<std::string> Compose(const Message& message, std::string_view from, int64_t now) {
  std::string sender = BareAddress(from);
  if (HasLineBreak(from) || !IsPlainAddress(sender) || !IsAscii(from))
    return InvalidArgument("mail.from must be an address (optionally \"Name <address>\"), ASCII only");
  if (!IsPlainAddress(message.to) || !IsAscii(message.to)) return InvalidArgument("the recipient is not an e-mail address");
  if (HasLineBreak(message.subject)) return InvalidArgument("the subject holds a line break");
  std::string domain = sender.substr(sender.find('@') + 1);
  std::string subject = IsAscii(message.subject)
                            ? message.subject
                            : "=?UTF-8?B?" + crypto::Base64Encode(message.subject) + "?=";
  std::string out;
  out += "Date: " + RfcDate(now) + "\r\n";
  out += "Message-ID: <" + crypto::ToHex(crypto::RandomBytes(16)) + "@" + domain + ">\r\n";
  out += "From: " + std::string(from) + "\r\n";
  out += "To: " + message.to + "\r\n";
  out += "Subject: " + subject + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Auto-Submitted: auto-generated\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  if (IsAscii(message.text)) {
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += Crlf(message.text);
  } else {
    out += "Content-Transfer-Encoding: base64\r\n\r\n";
    out += Base64Lines(Crlf(message.text));
  }
  return out;
}

Result<std::unique_ptr<Transport>> MakeSmtpTransport(SmtpOptions options) {
  const std::string& u = options.url;
  size_t scheme_end = u.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : u.substr(0, scheme_end);
  if ((scheme != "smtp" && scheme != "smtps") || u.size() <= scheme_end + 3)
    return ConfigError("mail.smtp_url: must be smtp://host[:port] (STARTTLS) or smtps://host[:port] (implicit TLS)");
  if (options.timeout_seconds <= 0) options.timeout_seconds = 30;
  return std::unique_ptr<Transport>(std::make_unique<SmtpTransport>(std::move(options)));
}

Result<std::unique_ptr<Transport>> MakeOutboxTransport(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ConfigError("mail.outbox_dir: cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);  // messages carry sign-up links: owner only
  return std::unique_ptr<Transport>(std::make_unique<OutboxTransport>(dir));
}

Mailer::Mailer(std::unique_ptr<Transport> transport, const Clock& clock, MailerOptions options)
    : transport_(std::move(transport)), clock_(clock), options_(std::move(options)) {
  worker_ = std::thread([this] { Run(); });
}

Mailer::~Mailer() {
  size_t dropped = 0;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    dropped = queue_.size();
  }
  cv_.notify_all();
  worker_.join();
  if (dropped) log::warn("mail: {} queued message(s) dropped at shutdown", dropped);
}

Status Mailer::Send(const Message& message) {
  PARLEY_ASSIGN_OR_RETURN(std::string text, Compose(message, options_.from, clock_.NowUnixSeconds()));
  // The log's name for the message: a hash of its Message-ID line.
  std::string ref = crypto::Sha256Hex(text.substr(0, text.find("\r\n", text.find("Message-ID")))).substr(0, 16);
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.max_queued) {
      log::error("mail: queue full ({} messages); message {} dropped", queue_.size(), ref);
      return ResourceExhausted("the mail queue is full");
    }
    queue_.push_back({message.to, std::move(text), ref});
  }
  cv_.notify_all();
  return Ok();
}

bool Mailer::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

int64_t Mailer::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

int64_t Mailer::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

void Mailer::Run() {
  const std::string from = BareAddress(options_.from);
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    auto delay = options_.first_retry_delay;
    bool delivered = false;
    for (int attempt = 1; attempt <= options_.attempts && !stop_; ++attempt) {
      lock.unlock();
      Status st = transport_->Deliver(from, item.to, item.text);
      lock.lock();
      if (st.ok()) {
        delivered = true;
        log::info("mail: message {} delivered ({})", item.ref, transport_->Describe());
        break;
      }
      log::warn("mail: message {} not delivered, attempt {} of {}: {}", item.ref, attempt, options_.attempts,
                st.error().detail);
      if (attempt < options_.attempts) {
        cv_.wait_for(lock, delay, [this] { return stop_; });
        delay *= 2;
      }
    }
    if (delivered) {
      ++sent_;
    } else {
      ++failed_;
      log::error("mail: message {} given up", item.ref);
    }
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace parley::mail
