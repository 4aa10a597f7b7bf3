// SAML 2.0 service provider on Lasso (docs/sso.md; what Lasso checks and
// what it leaves to us: /work/shared/saml-lasso.md, summarised in
// docs/sso.md "Security checks").
//
// Lasso parses the messages and verifies XML signatures with the key from the
// IdP metadata (never the KeyInfo of the message), the Issuer, the status and
// — when the login was restored from our request — SubjectConfirmationData@
// InResponseTo. Everything else a signed response must satisfy is checked
// here, after Lasso returned 0, in CheckResponse: exactly one plain
// assertion, audience, validity window with a small clock skew, bearer
// confirmation with its own window and Recipient, Destination, both
// InResponseTo values, SHA-256 or stronger signatures, and a document shape
// that leaves no room for signature wrapping. The replay cache lives in the
// store (the caller records VerifiedAssertion::replay_key until keep_until).
//
// ServiceProvider is immutable after Create and thread-safe: every call builds
// its own LassoServer and LassoLogin (Lasso's objects are not shared between
// threads). Lasso and libxml2 are initialised once per process, on first use.
// Nothing here sees the portal's store or sessions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"

namespace parley::saml {

// Why a response was refused: `reason` is a stable code for the audit log
// and tests ("wrong_audience", "expired", ...); `message` is a sentence for
// the person signing in. Neither ever contains personal data.
struct Refusal {
  std::string reason;
  std::string message;
};

struct SpSettings {
  std::string entity_id;           // "https://parley.example/saml/metadata"
  std::string acs_url;             // "https://parley.example/saml/acs"
  std::string key_pem;             // RSA private key that signs AuthnRequests
  std::string cert_pem;            // its certificate, published in the metadata
  int64_t clock_skew_seconds = 90; // tolerance on every NotBefore/NotOnOrAfter
};

// What Parley needs from an IdP's metadata (checked at upload time).
struct IdpInfo {
  std::string entity_id;
  std::string sso_redirect_url;    // SingleSignOnService, HTTP-Redirect binding
};

// Parses an IdP metadata document (ADFS FederationMetadata.xml, pysaml2,
// Keycloak, ...): one EntityDescriptor with an IDPSSODescriptor that has a
// signing key and an HTTP-Redirect SingleSignOnService, and that Lasso loads.
// kInvalidArgument says what is missing.
Result<IdpInfo> InspectIdpMetadata(std::string_view xml);

// An SP-initiated request: send the browser to redirect_url; keep state
// (server side, single use, bound to the browser) for the response.
struct PendingRequest {
  std::string request_id;          // the AuthnRequest's ID
  std::string state;               // lasso_login_dump: restores the request at the ACS
};
struct AuthnRequest {
  std::string redirect_url;        // IdP URL with SAMLRequest, SigAlg, Signature
  PendingRequest pending;
};

// What CheckResponse reads from a response that passed Lasso's checks. Plain
// data so the checks are unit-tested without XML or keys.
struct ResponseFacts {
  // Document shape (libxml2 over the decoded XML).
  int assertion_elements = 0;          // saml:Assertion anywhere in the document
  int top_level_assertions = 0;        // Response/Assertion children
  int encrypted_assertions = 0;
  int subject_confirmations = 0;       // in the one assertion
  bool weak_algorithm = false;         // a SHA-1 (or MD5) SignatureMethod/DigestMethod
  bool duplicate_ids = false;          // two elements with the same ID attribute
  // Response.
  std::string destination;             // "" when absent
  std::string in_response_to;          // Response@InResponseTo, "" when absent
  // The assertion (as Lasso parsed it).
  std::string assertion_id;
  std::string issuer;
  bool has_conditions = false;
  std::string not_before, not_on_or_after;           // Conditions, ISO 8601 or ""
  int audience_restrictions = 0;
  std::vector<std::string> audiences;                // every Audience of every restriction
  std::string method;                                // SubjectConfirmation@Method
  bool has_confirmation_data = false;
  std::string scd_not_before, scd_not_on_or_after, scd_recipient, scd_in_response_to;
  std::string name_id, name_id_format;
  std::map<std::string, std::vector<std::string>> attributes;  // claim URI -> values
};

struct Expectations {
  std::string sp_entity_id;
  std::string acs_url;
  std::optional<std::string> request_id;  // set for SP-initiated logins
  bool allow_unsolicited = false;         // the tenant allows IdP-initiated logins
  int64_t clock_skew_seconds = 90;
  int64_t now = 0;
};

// The application checks of saml-lasso.md §3 (2-7, 10 and the XSW shape
// rules), in a fixed order; the first failure is returned. nullopt = pass.
std::optional<Refusal> CheckResponse(const ResponseFacts& facts, const Expectations& expect);

// A response that passed Lasso and every check.
struct VerifiedAssertion {
  std::string issuer;
  std::string assertion_id;
  std::string name_id, name_id_format;
  std::map<std::string, std::vector<std::string>> attributes;
  bool sp_initiated = false;
  // Replay cache entry: SHA-256 hex of issuer + NUL + assertion id, to keep
  // at least until keep_until (assertion NotOnOrAfter + skew).
  std::string replay_key;
  int64_t keep_until = 0;
};

using Outcome = std::variant<VerifiedAssertion, Refusal>;

class ServiceProvider {
 public:
  // Validates the key and certificate (Lasso loads them) and builds the SP
  // metadata. kInvalidArgument names what is wrong (the caller maps it to
  // the config key).
  static Result<std::unique_ptr<ServiceProvider>> Create(SpSettings settings);
  ~ServiceProvider();

  const SpSettings& settings() const { return settings_; }
  // The SP metadata XML served at /saml/metadata.
  const std::string& Metadata() const { return metadata_; }

  // Builds a signed (RSA-SHA256) HTTP-Redirect AuthnRequest to the IdP.
  Result<AuthnRequest> StartLogin(std::string_view idp_metadata_xml) const;

  // Processes the SAMLResponse form value (base64) of an HTTP-POST.
  // `pending` is AuthnRequest::pending of an SP-initiated login, nullopt for
  // an unsolicited (IdP-initiated) one.
  Outcome ConsumeResponse(std::string_view idp_metadata_xml, std::string_view saml_response_b64,
                          const std::optional<PendingRequest>& pending, bool allow_unsolicited, int64_t now) const;

 private:
  explicit ServiceProvider(SpSettings settings) : settings_(std::move(settings)) {}
  SpSettings settings_;
  std::string metadata_;
};

// The Issuer of a base64 SAMLResponse, unverified: only to route an
// IdP-initiated response to the tenant whose IdP metadata then verifies it.
// nullopt when the input is not a SAML response.
std::optional<std::string> PeekIssuer(std::string_view saml_response_b64);

// Signing key and certificate for a new SP: RSA-3072, self-signed, SHA-256,
// `days` valid (IdPs trust the certificate from our metadata, not a CA).
struct KeyPair {
  std::string key_pem;
  std::string cert_pem;
};
Result<KeyPair> GenerateSpKeyPair(std::string_view common_name, int days);

}  // namespace parley::saml
