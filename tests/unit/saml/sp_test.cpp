// ServiceProvider on real Lasso, without an IdP: metadata, the signed
// AuthnRequest, IdP metadata checks, and the refusals that need no valid
// signature (the signed cases run against pysaml2 in
// tests/integration/saml_test.py).
#include <gtest/gtest.h>

#include "crypto/crypto.h"
#include "saml/saml.h"

namespace parley::saml {
namespace {

std::string IdpMetadata(const std::string& cert_pem, const std::string& entity = "https://idp.test/adfs",
                        bool with_key = true) {
  std::string cert = cert_pem.substr(28, cert_pem.find("-----END") - 28);
  std::string key = with_key ? "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/"
                               "xmldsig#\"><ds:X509Data><ds:X509Certificate>" +
                                   cert + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
                             : "";
  return "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"" + entity +
         "\"><md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">" + key +
         "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
         "Location=\"https://idp.test/adfs/ls/\"/></md:IDPSSODescriptor></md:EntityDescriptor>";
}

// RSA-3072 generation takes a while: one pair per role for the whole binary.
const KeyPair& CachedPair(int which) {
  static const KeyPair pairs[] = {*GenerateSpKeyPair("test sp", 10), *GenerateSpKeyPair("test idp", 10)};
  return pairs[which];
}

class SpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const KeyPair* k = &CachedPair(0);
    auto sp = ServiceProvider::Create({.entity_id = "https://parley.test/saml/metadata",
                                       .acs_url = "https://parley.test/saml/acs",
                                       .key_pem = k->key_pem,
                                       .cert_pem = k->cert_pem,
                                       .clock_skew_seconds = 60});
    ASSERT_TRUE(sp.ok()) << sp.error().detail;
    sp_ = std::move(*sp);
    idp_metadata_ = IdpMetadata(CachedPair(1).cert_pem);
  }
  std::unique_ptr<ServiceProvider> sp_;
  std::string idp_metadata_;
};

TEST_F(SpTest, MetadataNamesEntityAcsAndKey) {
  const std::string& md = sp_->Metadata();
  EXPECT_NE(md.find("entityID=\"https://parley.test/saml/metadata\""), std::string::npos) << md;
  EXPECT_NE(md.find("Location=\"https://parley.test/saml/acs\""), std::string::npos);
  EXPECT_NE(md.find("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"), std::string::npos);
  EXPECT_NE(md.find("AuthnRequestsSigned=\"true\""), std::string::npos);
  EXPECT_NE(md.find("<ds:X509Certificate>"), std::string::npos);
}

TEST_F(SpTest, EntityIdIsEscapedInMetadata) {
  const KeyPair* k = &CachedPair(0);
  auto sp = ServiceProvider::Create({.entity_id = "https://p.test/?a=1&b=\"2\"",
                                     .acs_url = "https://p.test/saml/acs",
                                     .key_pem = k->key_pem,
                                     .cert_pem = k->cert_pem});
  ASSERT_TRUE(sp.ok());
  EXPECT_NE((*sp)->Metadata().find("entityID=\"https://p.test/?a=1&amp;b=&quot;2&quot;\""), std::string::npos);
}

TEST_F(SpTest, RejectsBadKeysAndUrls) {
  EXPECT_FALSE(ServiceProvider::Create({.entity_id = "e", .acs_url = "https://p/acs", .key_pem = "x", .cert_pem = "y"}).ok());
  const KeyPair* k = &CachedPair(0);
  EXPECT_FALSE(ServiceProvider::Create({.entity_id = "e", .acs_url = "http://p/acs", .key_pem = k->key_pem,
                                        .cert_pem = k->cert_pem})
                   .ok());
}

TEST_F(SpTest, AuthnRequestIsSignedWithSha256AndRestorable) {
  auto req = sp_->StartLogin(idp_metadata_);
  ASSERT_TRUE(req.ok()) << req.error().detail;
  EXPECT_EQ(req->redirect_url.rfind("https://idp.test/adfs/ls/?SAMLRequest=", 0), 0u) << req->redirect_url;
  EXPECT_NE(req->redirect_url.find("SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256"),
            std::string::npos)
      << req->redirect_url;
  EXPECT_NE(req->redirect_url.find("&Signature="), std::string::npos);
  EXPECT_FALSE(req->pending.request_id.empty());
  EXPECT_NE(req->pending.state.find(req->pending.request_id), std::string::npos);
  auto again = sp_->StartLogin(idp_metadata_);
  EXPECT_NE(again->pending.request_id, req->pending.request_id);
}

TEST(IdpMetadata, NeedsOneIdpWithSigningKeyAndRedirectEndpoint) {
  const KeyPair* idp = &CachedPair(1);
  auto ok = InspectIdpMetadata(IdpMetadata(idp->cert_pem));
  ASSERT_TRUE(ok.ok()) << ok.error().detail;
  EXPECT_EQ(ok->entity_id, "https://idp.test/adfs");
  EXPECT_EQ(ok->sso_redirect_url, "https://idp.test/adfs/ls/");
  EXPECT_FALSE(InspectIdpMetadata(IdpMetadata(idp->cert_pem, "https://idp.test/adfs", false)).ok());
  EXPECT_FALSE(InspectIdpMetadata("<not xml").ok());
  EXPECT_FALSE(InspectIdpMetadata("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]>" + IdpMetadata(idp->cert_pem)).ok());
  EXPECT_FALSE(InspectIdpMetadata("<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\"/>").ok());
}

TEST_F(SpTest, GarbageAndUnsignedInputIsRefused) {
  auto reason = [&](const std::string& b64, bool unsolicited = true) {
    auto out = sp_->ConsumeResponse(idp_metadata_, b64, std::nullopt, unsolicited, 1'800'000'000);
    return std::holds_alternative<Refusal>(out) ? std::get<Refusal>(out).reason : std::string("accepted");
  };
  EXPECT_EQ(reason("%%%"), "malformed");
  EXPECT_EQ(reason(crypto::Base64Encode("<x/>")), "malformed");
  EXPECT_EQ(reason(crypto::Base64Encode("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
                                        "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">&e;"
                                        "</samlp:Response>")),
            "malformed");
  // A well-formed, unsigned response from the configured IdP.
  std::string unsigned_response =
      "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" "
      "xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"_r\" Version=\"2.0\" "
      "IssueInstant=\"2027-01-15T08:00:00Z\" Destination=\"https://parley.test/saml/acs\">"
      "<saml:Issuer>https://idp.test/adfs</saml:Issuer><samlp:Status><samlp:StatusCode "
      "Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>"
      "<saml:Assertion ID=\"_a\" Version=\"2.0\" IssueInstant=\"2027-01-15T08:00:00Z\">"
      "<saml:Issuer>https://idp.test/adfs</saml:Issuer><saml:Subject><saml:NameID>alice@example.com</saml:NameID>"
      "</saml:Subject></saml:Assertion></samlp:Response>";
  EXPECT_EQ(reason(crypto::Base64Encode(unsigned_response)), "unsigned");
  EXPECT_EQ(PeekIssuer(crypto::Base64Encode(unsigned_response)).value_or(""), "https://idp.test/adfs");
  EXPECT_FALSE(PeekIssuer("not base64!").has_value());
}

}  // namespace
}  // namespace parley::saml
