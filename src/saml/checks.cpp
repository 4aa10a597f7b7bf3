// CheckResponse: the checks Lasso leaves to the application
// (saml-lasso.md §3). Pure functions over ResponseFacts, so each rule has a
// unit test (tests/unit/saml/checks_test.cpp) and the ACS fuzz target reaches
// them without a valid signature.
#include <algorithm>

#include "common/time_format.h"
#include "saml/saml.h"

namespace parley::saml {

namespace {

constexpr std::string_view kBearer = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

Refusal Refuse(std::string reason, std::string message) { return Refusal{std::move(reason), std::move(message)}; }

// "" -> nullopt (absent); a malformed value -> refusal by the caller.
struct Time {
  bool present = false;
  bool valid = false;
  int64_t value = 0;
};
Time ParseTime(const std::string& text) {
  Time t;
  if (text.empty()) return t;
  t.present = true;
  if (auto v = ParseRfc3339(text)) {
    t.valid = true;
    t.value = *v;
  }
  return t;
}

// A window [not_before, not_on_or_after) widened by the skew on both sides:
// valid from NotBefore - skew up to (excluding) NotOnOrAfter + skew.
std::optional<Refusal> CheckWindow(const std::string& not_before, const std::string& not_on_or_after,
                                   bool require_end, int64_t skew, int64_t now, std::string_view what) {
  Time nb = ParseTime(not_before);
  Time noa = ParseTime(not_on_or_after);
  if ((nb.present && !nb.valid) || (noa.present && !noa.valid))
    return Refuse("malformed_time", "The " + std::string(what) + " carries a time Parley cannot read.");
  if (require_end && !noa.present)
    return Refuse("no_expiry", "The " + std::string(what) + " has no NotOnOrAfter time; Parley accepts only "
                               "assertions that expire.");
  if (nb.present && now < nb.value - skew)
    return Refuse("not_yet_valid", "The " + std::string(what) +
                                       " is not valid yet. Check that the clocks of the identity provider and "
                                       "Parley are right.");
  if (noa.present && now >= noa.value + skew)
    return Refuse("expired", "The " + std::string(what) + " has expired. Sign in again from the start.");
  return std::nullopt;
}

}  // namespace

std::optional<Refusal> CheckResponse(const ResponseFacts& f, const Expectations& e) {
  // Shape first: these defeat XML signature wrapping (a signed assertion
  // moved or copied next to a forged one) whatever Lasso picked.
  if (f.encrypted_assertions > 0)
    return Refuse("encrypted_assertion",
                  "The identity provider encrypted the assertion; Parley expects it signed, not encrypted. "
                  "Turn assertion encryption off for Parley's relying party.");
  if (f.assertion_elements != 1 || f.top_level_assertions != 1)
    return Refuse("assertion_count", "The response must carry exactly one assertion, directly in the response.");
  if (f.duplicate_ids) return Refuse("duplicate_id", "The response repeats an element ID.");
  if (f.weak_algorithm)
    return Refuse("weak_signature_algorithm",
                  "The response is signed with SHA-1. Configure the identity provider to sign with SHA-256.");
  if (f.assertion_id.empty()) return Refuse("malformed", "The assertion has no ID.");

  // Destination: SAML requires it on a signed response; when present it must
  // be our ACS exactly.
  if (!f.destination.empty() && f.destination != e.acs_url)
    return Refuse("wrong_destination", "The response was addressed to another service (Destination).");

  // Audience.
  if (!f.has_conditions || f.audience_restrictions == 0)
    return Refuse("no_audience", "The assertion names no audience; Parley accepts only assertions meant for it.");
  if (std::find(f.audiences.begin(), f.audiences.end(), e.sp_entity_id) == f.audiences.end())
    return Refuse("wrong_audience", "The assertion was issued for another service (Audience).");

  // Validity window of the assertion.
  if (auto r = CheckWindow(f.not_before, f.not_on_or_after, true, e.clock_skew_seconds, e.now, "assertion")) return r;

  // Bearer subject confirmation, its own window and Recipient.
  if (f.subject_confirmations != 1)
    return Refuse("subject_confirmation", "The assertion must carry exactly one subject confirmation.");
  if (f.method != kBearer)
    return Refuse("not_bearer", "The assertion's subject confirmation is not of the bearer kind.");
  if (!f.has_confirmation_data)
    return Refuse("subject_confirmation", "The assertion's subject confirmation has no data (Recipient, expiry).");
  if (auto r = CheckWindow(f.scd_not_before, f.scd_not_on_or_after, true, e.clock_skew_seconds, e.now,
                           "subject confirmation"))
    return r;
  if (f.scd_recipient != e.acs_url)
    return Refuse("wrong_recipient", "The assertion was issued for another service's address (Recipient).");

  // InResponseTo: both the Response's and the confirmation's.
  if (e.request_id) {
    if (f.scd_in_response_to != *e.request_id || (!f.in_response_to.empty() && f.in_response_to != *e.request_id))
      return Refuse("wrong_in_response_to",
                    "The response does not answer the sign-in this browser started. Start again.");
  } else {
    if (!e.allow_unsolicited)
      return Refuse("unsolicited",
                    "Sign-in started at the identity provider is not enabled for this organisation, or this "
                    "browser's sign-in request expired. Start the sign-in from Parley's login page.");
    // An IdP-initiated response answers no request; one that claims to
    // answer a request we no longer hold (or never sent) is refused.
    if (!f.in_response_to.empty() || !f.scd_in_response_to.empty())
      return Refuse("wrong_in_response_to",
                    "The response answers a sign-in request this browser did not start or that expired. Start "
                    "again.");
  }
  if (f.name_id.empty() && f.attributes.empty())
    return Refuse("no_identity", "The assertion names nobody (no NameID, no attributes).");
  return std::nullopt;
}

}  // namespace parley::saml
