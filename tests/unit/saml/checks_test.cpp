// The application checks Lasso leaves to us (saml-lasso.md §3), one rule at a
// time, with their boundaries: each test starts from facts that pass and
// breaks exactly one thing.
#include <gtest/gtest.h>

#include "common/time_format.h"
#include "saml/saml.h"

namespace parley::saml {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr const char* kSp = "https://parley.test/saml/metadata";
constexpr const char* kAcs = "https://parley.test/saml/acs";

ResponseFacts Good() {
  ResponseFacts f;
  f.assertion_elements = 1;
  f.top_level_assertions = 1;
  f.subject_confirmations = 1;
  f.destination = kAcs;
  f.in_response_to = "_req1";
  f.assertion_id = "_a1";
  f.issuer = "https://idp.test/adfs/services/trust";
  f.has_conditions = true;
  f.not_before = FormatUtc(kNow - 60);
  f.not_on_or_after = FormatUtc(kNow + 300);
  f.audience_restrictions = 1;
  f.audiences = {kSp};
  f.method = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
  f.has_confirmation_data = true;
  f.scd_not_on_or_after = FormatUtc(kNow + 300);
  f.scd_recipient = kAcs;
  f.scd_in_response_to = "_req1";
  f.name_id = "alice@example.com";
  return f;
}

Expectations Expect() {
  return Expectations{.sp_entity_id = kSp, .acs_url = kAcs, .request_id = std::string("_req1"),
                      .allow_unsolicited = false, .clock_skew_seconds = 60, .now = kNow};
}

std::string Reason(const ResponseFacts& f, const Expectations& e = Expect()) {
  auto r = CheckResponse(f, e);
  return r ? r->reason : "ok";
}

TEST(SamlChecks, GoodResponsePasses) { EXPECT_EQ(Reason(Good()), "ok"); }

TEST(SamlChecks, ExactlyOneTopLevelPlainAssertion) {
  auto f = Good();
  f.assertion_elements = 2;  // an extra or nested assertion anywhere (XSW)
  EXPECT_EQ(Reason(f), "assertion_count");
  f = Good();
  f.top_level_assertions = 0;  // the assertion moved into Extensions/Advice
  EXPECT_EQ(Reason(f), "assertion_count");
  f = Good();
  f.encrypted_assertions = 1;
  EXPECT_EQ(Reason(f), "encrypted_assertion");
  f = Good();
  f.duplicate_ids = true;
  EXPECT_EQ(Reason(f), "duplicate_id");
  f = Good();
  f.weak_algorithm = true;
  EXPECT_EQ(Reason(f), "weak_signature_algorithm");
}

TEST(SamlChecks, Destination) {
  auto f = Good();
  f.destination = "https://parley.test/saml/acs/";
  EXPECT_EQ(Reason(f), "wrong_destination");
  f.destination = "";  // absent: allowed (Recipient still binds it)
  EXPECT_EQ(Reason(f), "ok");
}

TEST(SamlChecks, Audience) {
  auto f = Good();
  f.audiences = {"https://other.test/saml/metadata"};
  EXPECT_EQ(Reason(f), "wrong_audience");
  f.audiences = {"https://other.test/saml/metadata", kSp};  // one of several
  EXPECT_EQ(Reason(f), "ok");
  f = Good();
  f.audience_restrictions = 0;
  f.audiences.clear();
  EXPECT_EQ(Reason(f), "no_audience") << "Lasso's helper would call this valid";
  f = Good();
  f.has_conditions = false;
  EXPECT_EQ(Reason(f), "no_audience");
}

TEST(SamlChecks, ValidityWindowWithSkew) {
  auto f = Good();
  f.not_on_or_after = FormatUtc(kNow - 59);  // ended 59 s ago: inside the 60 s skew
  f.scd_not_on_or_after = f.not_on_or_after;
  EXPECT_EQ(Reason(f), "ok");
  f.not_on_or_after = FormatUtc(kNow - 60);  // NotOnOrAfter + skew == now: expired
  EXPECT_EQ(Reason(f), "expired");
  f = Good();
  f.not_before = FormatUtc(kNow + 60);  // starts in 60 s: inside the skew
  EXPECT_EQ(Reason(f), "ok");
  f.not_before = FormatUtc(kNow + 61);
  EXPECT_EQ(Reason(f), "not_yet_valid");
  f = Good();
  f.not_on_or_after = "";
  EXPECT_EQ(Reason(f), "no_expiry");
  f = Good();
  f.not_on_or_after = "tomorrow";
  EXPECT_EQ(Reason(f), "malformed_time");
}

TEST(SamlChecks, SubjectConfirmation) {
  auto f = Good();
  f.method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";
  EXPECT_EQ(Reason(f), "not_bearer");
  f = Good();
  f.subject_confirmations = 2;
  EXPECT_EQ(Reason(f), "subject_confirmation");
  f = Good();
  f.has_confirmation_data = false;
  EXPECT_EQ(Reason(f), "subject_confirmation");
  f = Good();
  f.scd_not_on_or_after = FormatUtc(kNow - 61);  // the confirmation's own window
  EXPECT_EQ(Reason(f), "expired");
  f = Good();
  f.scd_not_on_or_after = "";
  EXPECT_EQ(Reason(f), "no_expiry");
  f = Good();
  f.scd_not_before = FormatUtc(kNow + 3600);
  EXPECT_EQ(Reason(f), "not_yet_valid");
  f = Good();
  f.scd_recipient = "https://other.test/saml/acs";
  EXPECT_EQ(Reason(f), "wrong_recipient");
  f.scd_recipient = "";
  EXPECT_EQ(Reason(f), "wrong_recipient");
}

TEST(SamlChecks, InResponseToSpInitiated) {
  auto f = Good();
  f.scd_in_response_to = "_other";
  EXPECT_EQ(Reason(f), "wrong_in_response_to");
  f = Good();
  f.in_response_to = "_other";  // Lasso ignores Response@InResponseTo; we do not
  EXPECT_EQ(Reason(f), "wrong_in_response_to");
  f = Good();
  f.scd_in_response_to = "";
  f.in_response_to = "";
  EXPECT_EQ(Reason(f), "wrong_in_response_to");
  f = Good();
  f.in_response_to = "";  // Response@InResponseTo absent, confirmation right: fine
  EXPECT_EQ(Reason(f), "ok");
}

TEST(SamlChecks, IdpInitiated) {
  auto e = Expect();
  e.request_id.reset();
  auto f = Good();
  f.in_response_to = "";
  f.scd_in_response_to = "";
  EXPECT_EQ(Reason(f, e), "unsolicited");
  e.allow_unsolicited = true;
  EXPECT_EQ(Reason(f, e), "ok");
  f.scd_in_response_to = "_req_we_do_not_hold";
  EXPECT_EQ(Reason(f, e), "wrong_in_response_to");
  f = Good();
  f.scd_in_response_to = "";
  f.in_response_to = "_req_we_do_not_hold";
  EXPECT_EQ(Reason(f, e), "wrong_in_response_to");
}

TEST(SamlChecks, NoIdentity) {
  auto f = Good();
  f.name_id.clear();
  EXPECT_EQ(Reason(f), "no_identity");
  f.attributes["mail"] = {"alice@example.com"};
  EXPECT_EQ(Reason(f), "ok");
}

TEST(SamlChecks, RefusalsCarryNoPersonalData) {
  auto f = Good();
  f.scd_recipient = "https://alice@example.com/";
  auto r = CheckResponse(f, Expect());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message.find("alice"), std::string::npos);
}

}  // namespace
}  // namespace parley::saml
