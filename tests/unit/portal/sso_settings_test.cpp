// SSO settings: validation of changes (CLI and API share it), the role
// mapping and the e-mail claim order (ADFS claim names out of the box), and
// the store's pending requests and replay cache.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>

#include "portal/sso_settings.h"
#include "saml/saml.h"

namespace parley::portal {
namespace {

constexpr const char* kEmailClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";
constexpr const char* kUpnClaim = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";

std::string Metadata() {
  static const saml::KeyPair k = *saml::GenerateSpKeyPair("settings idp", 10);
  std::string cert = k.cert_pem.substr(28, k.cert_pem.find("-----END") - 28);
  return "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://adfs.corp.example/"
         "adfs/services/trust\"><md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
         "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data>"
         "<ds:X509Certificate>" + cert + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
         "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
         "Location=\"https://adfs.corp.example/adfs/ls/\"/></md:IDPSSODescriptor></md:EntityDescriptor>";
}

TEST(SsoSettings, DefaultsAndValidation) {
  SsoChange c;
  auto s = ApplySsoChange(std::nullopt, "t1", c, 100);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->group_attribute, kDefaultGroupAttribute);
  EXPECT_EQ(s->default_role, "viewer");
  EXPECT_FALSE(s->enabled);
  c.enabled = true;
  EXPECT_FALSE(ApplySsoChange(std::nullopt, "t1", c, 100).ok()) << "enabling needs metadata";
  c.idp_metadata_xml = Metadata();
  s = ApplySsoChange(std::nullopt, "t1", c, 100);
  ASSERT_TRUE(s.ok()) << s.error().detail;
  EXPECT_EQ(s->idp_entity_id, "https://adfs.corp.example/adfs/services/trust");
  EXPECT_TRUE(s->enabled);
  SsoChange bad;
  bad.idp_metadata_xml = "<x/>";
  EXPECT_FALSE(ApplySsoChange(*s, "t1", bad, 100).ok());
  bad = {};
  bad.default_role = "platform_admin";
  EXPECT_FALSE(ApplySsoChange(*s, "t1", bad, 100).ok());
  bad = {};
  bad.default_role = "none";
  EXPECT_EQ(ApplySsoChange(*s, "t1", bad, 100)->default_role, "");
  EXPECT_FALSE(ParseRoleMapList("Admins=platform_admin").ok());
  EXPECT_FALSE(ParseRoleMapList("Admins").ok());
  auto m = ParseRoleMapList("Parley Admins=tenant_admin,S-1-5-21=x=analyst");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->at("Parley Admins"), "tenant_admin");
  EXPECT_EQ(m->at("S-1-5-21=x"), "analyst");  // the role follows the last '='
  EXPECT_EQ(m->size(), 2u);
  EXPECT_FALSE(ParseRoleMapJson(boost::json::parse(R"({"g":"root"})")).ok());
}

TEST(SsoSettings, RoleMappingTakesTheHighestMappedRole) {
  store::TenantSso s;
  s.group_attribute = std::string(kDefaultGroupAttribute);
  s.role_map_json = R"({"Parley Admins":"tenant_admin","Parley Analysts":"analyst"})";
  s.default_role = "viewer";
  std::map<std::string, std::vector<std::string>> a;
  EXPECT_EQ(MapRole(s, a), store::Role::kViewer);
  a[std::string(kDefaultGroupAttribute)] = {"Parley Analysts", "Other"};
  EXPECT_EQ(MapRole(s, a), store::Role::kAnalyst);
  a[std::string(kAdfsRoleClaim)] = {"Parley Admins"};  // the ADFS role claim counts too by default
  EXPECT_EQ(MapRole(s, a), store::Role::kTenantAdmin);
  s.group_attribute = "memberOf";  // a configured attribute: only it counts
  EXPECT_EQ(MapRole(s, a), store::Role::kViewer);
  a["memberOf"] = {"Parley Admins"};
  EXPECT_EQ(MapRole(s, a), store::Role::kTenantAdmin);
  s.default_role = "";
  a.clear();
  EXPECT_FALSE(MapRole(s, a).has_value()) << "default none refuses";
}

TEST(SsoSettings, EmailClaimsInOrder) {
  std::map<std::string, std::vector<std::string>> a;
  EXPECT_FALSE(SsoEmail(a, "S-1-5-21-1234").has_value());
  EXPECT_EQ(SsoEmail(a, " Alice@Corp.Example ").value_or(""), "alice@corp.example");  // NameID as a last resort
  a[kUpnClaim] = {"alice.upn@corp.example"};
  EXPECT_EQ(SsoEmail(a, "x").value_or(""), "alice.upn@corp.example");
  a["mail"] = {"alice.mail@corp.example"};
  EXPECT_EQ(SsoEmail(a, "x").value_or(""), "alice.mail@corp.example");
  a[kEmailClaim] = {"not an address", "Alice@Corp.Example"};
  EXPECT_EQ(SsoEmail(a, "x").value_or(""), "alice@corp.example");
}

class SamlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/parley-samlstore-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(store::OpenStore("sqlite:" + (dir_ / "p.db").string())).value();
    store::Tenant t;
    t.id = "t1";
    t.name = "T1";
    t.domains = {"t1.example"};
    t.wrapped_data_key = "k";
    ASSERT_TRUE(store_->CreateTenant(t).ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(SamlStoreTest, PendingRequestsWorkOnceAndExpire) {
  ASSERT_TRUE(store_->CreateSamlRequest({"t1", "h1", "_r1", "dump", 1000}, 900).ok());
  ASSERT_TRUE(store_->CreateSamlRequest({"t1", "h2", "_r2", "dump", 1000}, 900).ok());
  EXPECT_EQ(store_->ConsumeSamlRequest("t2", "h1", 950).error().code, Code::kNotFound) << "another tenant's";
  auto r = store_->ConsumeSamlRequest("t1", "h1", 950);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->request_id, "_r1");
  EXPECT_EQ(store_->ConsumeSamlRequest("t1", "h1", 950).error().code, Code::kNotFound) << "single use";
  EXPECT_EQ(store_->ConsumeSamlRequest("t1", "h2", 1000).error().code, Code::kNotFound) << "expired";
}

TEST_F(SamlStoreTest, ReplayCacheRefusesASecondUseUntilItExpires) {
  ASSERT_TRUE(store_->RecordSamlAssertion("t1", "a1", 2000, 1000).ok());
  EXPECT_EQ(store_->RecordSamlAssertion("t1", "a1", 2000, 1500).error().code, Code::kAlreadyExists);
  EXPECT_EQ(store_->RecordSamlAssertion("t1", "a1", 2000, 2000).error().code, Code::kAlreadyExists);
  // Purged only after keep_until: by then the assertion itself has expired.
  EXPECT_TRUE(store_->RecordSamlAssertion("t1", "a1", 3000, 2001).ok());
}

TEST_F(SamlStoreTest, SettingsRoundTripAndIdpLookup) {
  store::TenantSso s;
  s.tenant_id = "t1";
  s.enabled = true;
  s.idp_entity_id = "https://idp";
  s.idp_metadata_xml = "<x/>";
  s.group_attribute = "g";
  s.default_role = "";
  ASSERT_TRUE(store_->PutTenantSso(s).ok());
  auto got = store_->GetTenantSso("t1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->default_role, "");
  EXPECT_EQ(store_->FindTenantSsoByIdp("https://idp")->size(), 1u);
  s.enabled = false;
  ASSERT_TRUE(store_->PutTenantSso(s).ok());
  EXPECT_EQ(store_->FindTenantSsoByIdp("https://idp")->size(), 0u) << "disabled tenants are not routed to";
  s.tenant_id = "nope";
  EXPECT_FALSE(store_->PutTenantSso(s).ok());
}

}  // namespace
}  // namespace parley::portal
