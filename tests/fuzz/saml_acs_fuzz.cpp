// Fuzzes the SAML ACS input path (src/saml): base64 decoding, our libxml2
// shape pass (DOCTYPE refusal, XPath counts), Lasso's parsing and signature
// checks of a SAMLResponse, and PeekIssuer (the routing of IdP-initiated
// responses). First input byte: 0 = the rest is the XML (we base64 it, so
// Lasso parses it), 1 = the rest is the form value as posted.
// Seed with XML responses, e.g. from tests/support/saml_idp.py:
//   /usr/bin/python3 -c 'import base64,sys; ...' > corpus/valid.xml
#include <cstdint>
#include <memory>
#include <string>

#include "crypto/crypto.h"
#include "saml/saml.h"

namespace {

struct World {
  World() {
    auto sp_keys = parley::saml::GenerateSpKeyPair("fuzz sp", 10);
    auto idp_keys = parley::saml::GenerateSpKeyPair("fuzz idp", 10);
    auto created = parley::saml::ServiceProvider::Create({.entity_id = "https://fuzz.test/saml/metadata",
                                                          .acs_url = "https://fuzz.test/saml/acs",
                                                          .key_pem = sp_keys->key_pem,
                                                          .cert_pem = sp_keys->cert_pem});
    sp = std::move(created.value());
    std::string cert = idp_keys->cert_pem.substr(28, idp_keys->cert_pem.find("-----END") - 28);
    idp_metadata =
        "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://idp.test\">"
        "<md:IDPSSODescriptor protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">"
        "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data>"
        "<ds:X509Certificate>" + cert + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        "<md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" "
        "Location=\"https://idp.test/sso\"/></md:IDPSSODescriptor></md:EntityDescriptor>";
  }
  std::unique_ptr<parley::saml::ServiceProvider> sp;
  std::string idp_metadata;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size < 1) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string b64 = data[0] == 0 ? parley::crypto::Base64Encode(rest) : rest;
  (void)parley::saml::PeekIssuer(b64);
  auto outcome = world.sp->ConsumeResponse(world.idp_metadata, b64, std::nullopt, true, 1'800'000'000);
  // Nothing unsigned by the IdP's key can pass.
  if (std::holds_alternative<parley::saml::VerifiedAssertion>(outcome)) __builtin_trap();
  return 0;
}
