// Self-registration and password reset (portal/registration.h) over a real
// SQLite store, with the mail captured by a recording transport behind the
// real Mailer; password rules (portal/password_policy.h); mail composition
// (mail/mail.h); the request limit.
#include "portal/registration.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <regex>

#include "crypto/crypto.h"
#include "mail/mail.h"
#include "portal/accounts.h"
#include "portal/password_policy.h"
#include "portal/request_limit.h"
#include "support/fake_clock.h"
#include "support/portal_harness.h"

namespace parley::portal {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;
using namespace std::chrono_literals;

constexpr const char* kAdminPassword = "correct horse battery";
constexpr const char* kNewPassword = "violet tugboat umbrella 77";

// Keeps every delivered message.
class RecordingTransport final : public mail::Transport {
 public:
  struct Sent {
    std::string from, to, text;
  };
  Status Deliver(const std::string& from, const std::string& to, const std::string& text) override {
    std::lock_guard lock(mu_);
    sent_.push_back({from, to, text});
    return Ok();
  }
  std::string Describe() const override { return "recording"; }
  std::vector<Sent> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(sent_, {});
  }

 private:
  std::mutex mu_;
  std::vector<Sent> sent_;
};

class RegistrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = *CreateTenant(*store_, *keys_, "Tenant A", {"a.example"}, clock_.NowUnixSeconds());
    auto admin = CreateUser(*store_, *keys_, a_.id, "admin@a.example", kAdminPassword, store::Role::kTenantAdmin, 0);
    ASSERT_TRUE(admin.ok()) << admin.error().detail;
    admin_ = *admin;
    auto transport = std::make_unique<RecordingTransport>();
    transport_ = transport.get();
    mailer_ = std::make_unique<mail::Mailer>(std::move(transport), clock_,
                                             mail::MailerOptions{.from = "Parley <noreply@parley.test>"});
    flows_ = std::make_unique<AccountFlows>(*store_, *keys_, clock_, mailer_.get(),
                                            AccountMailOptions{.public_url = "https://parley.test"});
  }
  void TearDown() override {
    flows_.reset();
    mailer_.reset();
  }

  http::Request Post(const std::string& path, const json::object& body, const std::string& from = "192.0.2.7") {
    http::Request r;
    r.method = "POST";
    r.target = r.path = path;
    r.body = json::serialize(body);
    r.headers["content-type"] = "application/json";
    r.remote_address = from;
    return r;
  }
  http::Response Register(const std::string& email, const std::string& from = "192.0.2.7") {
    return flows_->RequestRegistration(Post("/api/v1/register", {{"email", email}}, from));
  }
  http::Response Reset(const std::string& email) {
    return flows_->RequestReset(Post("/api/v1/password-reset", {{"email", email}}));
  }
  http::Response CompleteRegistration(const std::string& token, const std::string& password) {
    return flows_->CompleteRegistration(Post("/api/v1/register/complete", {{"token", token}, {"password", password}}));
  }
  http::Response CompleteReset(const std::string& token, const std::string& password) {
    return flows_->CompleteReset(Post("/api/v1/password-reset/complete", {{"token", token}, {"password", password}}));
  }
  std::vector<RecordingTransport::Sent> Mail() {
    EXPECT_TRUE(flows_->WaitIdle(10s));
    return transport_->Take();
  }
  static std::string LinkToken(const std::string& text, const std::string& page) {
    std::smatch m;
    std::regex re("https://parley\\.test" + page + "#token=([A-Za-z0-9_-]{43})");
    return std::regex_search(text, m, re) ? m[1].str() : std::string();
  }
  static std::string Error(const http::Response& r) {
    return std::string(json::parse(r.body).at("error").as_string());
  }
  std::string AuditDump(const std::string& chain) {
    std::string all;
    auto entries = store_->ListAudit(chain, false, 0, 1000);
    EXPECT_TRUE(entries.ok());
    for (const auto& e : *entries) all += e.actor + " " + e.action + " " + e.target + " " + e.outcome + " " + e.details_json + "\n";
    return all;
  }

  parley::testing::PortalWorld world_{"reg"};
  const std::filesystem::path& dir_ = world_.dir;
  FakeClock& clock_ = world_.clock;
  std::unique_ptr<store::Store>& store_ = world_.store;
  std::unique_ptr<privacy::KeyRing>& keys_ = world_.keys;
  store::Tenant a_;
  store::User admin_;
  RecordingTransport* transport_ = nullptr;
  std::unique_ptr<mail::Mailer> mailer_;
  std::unique_ptr<AccountFlows> flows_;
};

TEST_F(RegistrationTest, SameAnswerForEveryAddressAndTheRightMail) {
  auto fresh = Register("New.Person@A.example");
  auto unknown_domain = Register("someone@elsewhere.example");
  auto existing = Register("admin@a.example");
  EXPECT_EQ(fresh.status, 202);
  for (const auto* r : {&unknown_domain, &existing}) {
    EXPECT_EQ(r->status, fresh.status);
    EXPECT_EQ(r->body, fresh.body);
  }
  auto mail = Mail();
  ASSERT_EQ(mail.size(), 2u) << "a link for the new address, a notice for the existing one, nothing for the unknown domain";
  std::map<std::string, std::string> by_to;
  for (const auto& m : mail) by_to[m.to] = m.text;
  ASSERT_TRUE(by_to.count("new.person@a.example"));
  ASSERT_TRUE(by_to.count("admin@a.example"));
  const std::string& link_mail = by_to["new.person@a.example"];
  EXPECT_NE(link_mail.find("Subject: Confirm your Parley account\r\n"), std::string::npos);
  EXPECT_NE(link_mail.find("From: Parley <noreply@parley.test>\r\n"), std::string::npos);
  EXPECT_NE(link_mail.find("To: new.person@a.example\r\n"), std::string::npos);
  EXPECT_NE(link_mail.find("Date: "), std::string::npos);
  EXPECT_NE(link_mail.find("Message-ID: <"), std::string::npos);
  EXPECT_NE(link_mail.find("24 hours"), std::string::npos);
  std::string token = LinkToken(link_mail, "/verify");
  ASSERT_EQ(token.size(), 43u) << link_mail;
  // Stored only as its hash.
  auto stored = store_->GetAccountToken(crypto::Sha256Hex(token));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->expires_at, clock_.NowUnixSeconds() + 24 * 3600);
  EXPECT_EQ(by_to["admin@a.example"].find("#token="), std::string::npos);
  EXPECT_NE(by_to["admin@a.example"].find("already"), std::string::npos);

  // Audit: requested (success, and the two failures), by blind index or user id, never the address.
  std::string tenant_log = AuditDump(a_.id), platform_log = AuditDump(std::string(store::kPlatformAuditChain));
  EXPECT_NE(tenant_log.find("auth.register.request email_index:"), std::string::npos) << tenant_log;
  EXPECT_NE(tenant_log.find("account_exists"), std::string::npos) << tenant_log;
  EXPECT_NE(platform_log.find("domain_not_authorized"), std::string::npos) << platform_log;
  for (const auto& log : {tenant_log, platform_log}) {
    EXPECT_EQ(log.find("@"), std::string::npos) << log;
    EXPECT_EQ(log.find(token), std::string::npos);
  }
}

TEST_F(RegistrationTest, LinkWorksOnceThenFailsAndExpires) {
  ASSERT_EQ(Register("new@a.example").status, 202);
  std::string token = LinkToken(Mail().at(0).text, "/verify");
  ASSERT_FALSE(token.empty());

  auto weak = CompleteRegistration(token, "password1234");
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(Error(weak), "password_rejected");
  EXPECT_EQ(weak.body.find("password1234"), std::string::npos) << "the detail must not echo the password";

  auto ok = CompleteRegistration(token, kNewPassword);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body).at("role").as_string(), "viewer");
  auto user = store_->FindUserByEmailIndex(keys_->EmailIndex("new@a.example"));
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->tenant_id, a_.id);
  EXPECT_EQ(user->role, store::Role::kViewer);
  EXPECT_TRUE(crypto::VerifyPassword(kNewPassword, user->password_hash));
  EXPECT_NE(AuditDump(a_.id).find("user:" + user->id + " auth.register user:" + user->id + " success"), std::string::npos);

  auto again = CompleteRegistration(token, kNewPassword);
  EXPECT_EQ(again.status, 410);
  EXPECT_EQ(Error(again), "link_used");

  ASSERT_EQ(Register("late@a.example").status, 202);
  std::string late = LinkToken(Mail().at(0).text, "/verify");
  clock_.Advance(std::chrono::seconds(24 * 3600));
  auto expired = CompleteRegistration(late, kNewPassword);
  EXPECT_EQ(expired.status, 410);
  EXPECT_EQ(Error(expired), "link_expired");
  EXPECT_FALSE(store_->FindUserByEmailIndex(keys_->EmailIndex("late@a.example")).ok());

  auto bogus = CompleteRegistration(crypto::RandomToken(), kNewPassword);
  EXPECT_EQ(bogus.status, 400);
  EXPECT_EQ(Error(bogus), "link_invalid");
}

TEST_F(RegistrationTest, ResetSetsThePasswordOnceAndEndsEverySession) {
  for (int i = 0; i < 2; ++i) {
    store::Session s;
    s.id_hash = crypto::Sha256Hex(crypto::RandomToken());
    s.user_id = admin_.id;
    s.tenant_id = a_.id;
    s.role = admin_.role;
    s.csrf_token = "x";
    s.created_at = s.last_seen_at = clock_.NowUnixSeconds();
    s.expires_at = s.created_at + 3600;
    ASSERT_TRUE(store_->CreateSession(s).ok());
  }
  auto unknown = Reset("nobody@a.example");
  auto known = Reset("ADMIN@a.example");
  EXPECT_EQ(known.status, 202);
  EXPECT_EQ(unknown.body, known.body);
  auto mail = Mail();
  ASSERT_EQ(mail.size(), 1u) << "no mail for an address without an account";
  EXPECT_EQ(mail[0].to, "admin@a.example");
  std::string token = LinkToken(mail[0].text, "/reset-password");
  ASSERT_FALSE(token.empty()) << mail[0].text;
  EXPECT_EQ(Error(CompleteRegistration(token, kNewPassword)), "link_invalid") << "a reset link is no registration link";

  auto done = CompleteReset(token, kNewPassword);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json::parse(done.body).at("sessions_ended").as_int64(), 2);
  auto user = store_->GetUser(a_.id, admin_.id);
  EXPECT_TRUE(crypto::VerifyPassword(kNewPassword, user->password_hash));
  EXPECT_FALSE(crypto::VerifyPassword(kAdminPassword, user->password_hash));
  EXPECT_EQ(Error(CompleteReset(token, "another fine passphrase")), "link_used");
  std::string log = AuditDump(a_.id);
  EXPECT_NE(log.find("auth.password_reset.request user:" + admin_.id + " success"), std::string::npos) << log;
  EXPECT_NE(log.find("auth.password_reset user:" + admin_.id + " success {\"link\""), std::string::npos) << log;
  EXPECT_EQ(log.find("@"), std::string::npos) << log;
}

TEST_F(RegistrationTest, RequestsAreLimitedAndMustBeJson) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Register("spam-target@a.example", "192.0.2." + std::to_string(i)).status, 202);
  auto limited = Register("spam-target@a.example", "192.0.2.99");
  EXPECT_EQ(limited.status, 429);
  EXPECT_FALSE(limited.Header("Retry-After").empty());
  for (int i = 0; i < 20; ++i) Register("other" + std::to_string(i) + "@b.example", "198.51.100.1");
  EXPECT_EQ(Register("one-more@b.example", "198.51.100.1").status, 429) << "20 per address and hour";
  clock_.Advance(std::chrono::seconds(3601));
  EXPECT_EQ(Register("spam-target@a.example", "192.0.2.99").status, 202) << "the window slides";

  auto form = Post("/api/v1/register", {{"email", "x@a.example"}});
  form.headers["content-type"] = "application/x-www-form-urlencoded";
  EXPECT_EQ(flows_->RequestRegistration(form).status, 415);
  EXPECT_EQ(Register("not-an-address").status, 400);
}

TEST(PasswordPolicyTest, NistRules) {
  EXPECT_GT(CommonPasswordCount(), 60000u);
  EXPECT_TRUE(IsCommonPassword("password"));
  const std::string email = "jane.doe@acme-corp.example";
  for (const char* good : {"correct horse battery", "violet tugboat umbrella 77", "Grüße aus München 1987",
                           "日本語のパスワードです十二文字", "my dog eats green tomatoes"}) {
    EXPECT_TRUE(CheckNewPassword(good, email).ok()) << good << ": " << CheckNewPassword(good, email).error().detail;
  }
  struct Bad {
    const char* password;
    const char* why;
  };
  for (const Bad& b : std::initializer_list<Bad>{
           {"short pass", "too short"},
           {"Password2024!", "common"},
           {"P@ssw0rd12345", "common"},
           {"international", "common"},
           {"1234567890123", "sequence"},
           {"abcdefghijklm", "sequence"},
           {"qwertyuiopasdf", "sequence"},
           {"aaaaaaaaaaaaaaaa", "too few"},
           {"abcabcabcabcabc", "too few"},
           {"monkeymonkeymonkey", "repeats"},
           {"myparleyaccount!", "name of this service"},
           {"jane.doe is my name", "e-mail"},
           {"Jane family rocks 12", "e-mail"},
           {"acme-corp rules ok", "e-mail"},
           {"ｐａｓｓｗｏｒｄ１２３４", "common"},  // fullwidth: NFKC makes it ASCII
           {"tab\tinside password", "control"},
       }) {
    auto st = CheckNewPassword(b.password, email);
    ASSERT_FALSE(st.ok()) << b.password;
    EXPECT_NE(st.error().detail.find(b.why), std::string::npos) << b.password << ": " << st.error().detail;
    EXPECT_EQ(st.error().detail.find(b.password), std::string::npos) << "never echoes the password";
  }
  EXPECT_FALSE(CheckNewPassword(std::string(129, 'x') + "yzabc", email).ok());
  EXPECT_NE(CheckNewPassword(std::string(100, 'q') + "wertyuiopasdfghjklzxcvbnmqwertyuiop", email).error().detail.find("too long"),
            std::string::npos);
  EXPECT_FALSE(CheckNewPassword("\xff\xfe not utf-8 at all", email).ok());
  // NFKC: the ligature "ﬁ" and "fi" are one password.
  EXPECT_EQ(*NormalizePassword("\xef\xac\x81sh tank"), "fish tank");
}

TEST(MailTest, ComposesRfc5322AndRefusesHeaderInjection) {
  auto m = mail::Compose({"user@example.com", "Hello", "line one\nline two"}, "Parley <noreply@parley.test>", 1'800'000'000);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->find("Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n"), std::string::npos) << *m;
  EXPECT_NE(m->find("@parley.test>\r\nFrom: Parley <noreply@parley.test>\r\nTo: user@example.com\r\nSubject: Hello\r\n"),
            std::string::npos);
  EXPECT_NE(m->find("\r\n\r\nline one\r\nline two\r\n"), std::string::npos);
  EXPECT_FALSE(mail::Compose({"user@example.com\r\nBcc: x@evil.example", "Hi", "x"}, "noreply@parley.test", 0).ok());
  EXPECT_FALSE(mail::Compose({"user@example.com", "Hi\r\nBcc: x@evil.example", "x"}, "noreply@parley.test", 0).ok());
  auto utf8 = mail::Compose({"user@example.com", "Grüße", "Grüße"}, "noreply@parley.test", 0);
  ASSERT_TRUE(utf8.ok());
  EXPECT_NE(utf8->find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_NE(utf8->find("Content-Transfer-Encoding: base64"), std::string::npos);
  EXPECT_EQ(mail::BareAddress("Parley <noreply@parley.test>"), "noreply@parley.test");
}

TEST(MailTest, OutboxWritesPrivateEmlFiles) {
  char tmpl[] = "/tmp/parley-outbox-XXXXXX";
  std::filesystem::path dir = mkdtemp(tmpl);
  FakeClock clock(1'800'000'000);
  {
    auto transport = mail::MakeOutboxTransport(dir / "outbox");
    ASSERT_TRUE(transport.ok());
    mail::Mailer mailer(std::move(*transport), clock, {.from = "noreply@parley.test"});
    ASSERT_TRUE(mailer.Send({"user@example.com", "Hello", "body"}).ok());
    ASSERT_TRUE(mailer.WaitIdle(10s));
    EXPECT_EQ(mailer.sent(), 1);
  }
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "outbox")) {
    ++files;
    EXPECT_EQ(e.path().extension(), ".eml");
    EXPECT_EQ(e.path().filename().string().find("user"), std::string::npos) << "named without the recipient";
    EXPECT_EQ(std::filesystem::status(e.path()).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

// A transport that fails, then works: the mailer retries.
TEST(MailTest, RetriesAFailedDelivery) {
  struct Flaky final : mail::Transport {
    std::atomic<int> calls{0};
    Status Deliver(const std::string&, const std::string&, const std::string&) override {
      return ++calls < 3 ? Status(Unavailable("connection refused")) : Ok();
    }
    std::string Describe() const override { return "flaky"; }
  };
  auto flaky = std::make_unique<Flaky>();
  Flaky* f = flaky.get();
  FakeClock clock(0);
  mail::Mailer mailer(std::move(flaky), clock, {.from = "noreply@parley.test", .attempts = 5, .first_retry_delay = 1ms});
  ASSERT_TRUE(mailer.Send({"user@example.com", "s", "t"}).ok());
  ASSERT_TRUE(mailer.WaitIdle(10s));
  EXPECT_EQ(f->calls.load(), 3);
  EXPECT_EQ(mailer.sent(), 1);
  EXPECT_EQ(mailer.failed(), 0);
}

TEST(RequestLimitTest, SlidingWindowPerKey) {
  FakeClock clock(1000);
  RequestLimit limit(clock, 2, 60);
  EXPECT_EQ(limit.Take("a"), 0);
  clock.Advance(10s);
  EXPECT_EQ(limit.Take("a"), 0);
  EXPECT_EQ(limit.Take("a"), 50);
  EXPECT_EQ(limit.Take("b"), 0);
  clock.Advance(50s);
  EXPECT_EQ(limit.Take("a"), 0);
}

}  // namespace
}  // namespace parley::portal
