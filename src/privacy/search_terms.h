// Blind indexes for equality search of a party's e-mail address, phone
// number, SIP URI and IP address (docs/formats/storage.md, "Search terms").
//
// The store holds personal data only sealed, so it cannot compare it. Instead
// ingest computes, for every newly stored call, participant and device, the
// search terms of its parties: term = hex(HMAC-SHA-256(tenant search key,
// kind ":" normalized value)), kind one of email/phone/sip/ip. The portal
// computes the term of what an operator typed the same way and the store
// matches terms by equality. Equal values after normalization give equal
// terms; the terms of one tenant mean nothing under another tenant's key.
//
// Normalization (one function per kind, so an operator's spelling and a
// device's spelling of one party meet):
//   email  trimmed, ASCII lower-cased: the rule of users.email_index
//          (NormalizeEmail), so the same address has one spelling everywhere.
//   phone  "tel:" and ";parameters" dropped; spaces, '-', '.', '/', '(' and ')'
//          dropped; a "(0)" trunk digit after a country code dropped
//          ("+44 (0)20 …" = "+44 20 …"); a leading "00" (the ITU international
//          prefix) becomes '+'. What is left must be an optional '+' and 3 to
//          20 digits. National and international spellings of one number
//          ("020 7946 0000" vs "+44 20 7946 0000") stay different: telling them
//          apart needs the caller's country, which Parley does not know.
//   sip    sip: and sips: both become "sip:" (the index names a party, not a
//          transport); the user part is percent-decoded and keeps its case
//          (RFC 3261 compares it case-sensitively); a password, the port,
//          ";parameters" and "?headers" are dropped; the host is lower-cased
//          (an IP literal is canonical as for ip). "sip:alice@Example.COM:5061;
//          transport=tls" = "sip:alice@example.com".
//   ip     inet_pton, then inet_ntop: IPv6 is compressed and lower-cased, an
//          IPv4-mapped IPv6 address becomes its IPv4 address, brackets and a
//          zone ("%eth0") are dropped; zero-padded IPv4 octets are decimal
//          ("10.001.2.3" = "10.1.2.3", never octal as inet_aton reads them).
//
// Aliases: a party's "alice@example.com" (a URI without scheme, as H.323
// and many SIP endpoints report it) is indexed both as e-mail and as
// sip:alice@example.com, and a SIP URI with a user part also as the e-mail
// user@host, so a data-subject request by e-mail address finds the calls of
// the same address used as a SIP URI. A SIP URI whose host is an IP literal is
// also indexed as that ip.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "crypto/crypto.h"
#include "wire/wire.h"

namespace parley::privacy {

enum class SearchKind { kEmail, kPhone, kSip, kIp };
std::string_view SearchKindName(SearchKind kind);  // "email" | "phone" | "sip" | "ip"

// Each returns the canonical form, or nullopt when `value` is not one.
std::optional<std::string> NormalizeSearchEmail(std::string_view value);
std::optional<std::string> NormalizePhone(std::string_view value);
std::optional<std::string> NormalizeSipUri(std::string_view value);
std::optional<std::string> NormalizeIp(std::string_view value);

struct SearchValue {
  SearchKind kind = SearchKind::kPhone;
  std::string normalized;
  bool operator==(const SearchValue&) const = default;
};

// What an operator typed, by its shape: starts with sip:/sips: → SIP URI;
// contains '@' → e-mail; parses as an IP address → ip; else a phone number
// if it has at least 3 digits and only phone characters (or "tel:"). nullopt
// when it is none of them, or does not normalize as the kind its shape says.
std::optional<SearchValue> ClassifySearchValue(std::string_view value);

// The first 64 bits of HMAC-SHA-256(search_key, kind ":" normalized), as
// kSearchTermHexDigits hex characters. 64 bits keep a false match out of
// reach (a tenant with 10^9 terms: one chance in ~2x10^10 per search) and make
// every index entry 48 bytes shorter than the whole MAC: the term index takes
// each new term at a random place, so its size is what ingest pays for
// (docs/performance.md, "Search terms"; migration 0013).
inline constexpr size_t kSearchTermHexDigits = 16;
std::string SearchTerm(const crypto::HmacSha256Key& search_key, const SearchValue& value);
std::string SearchTerm(const crypto::Key256& search_key, const SearchValue& value);

// Every search term of a party's number, uri and ip (with the aliases above),
// without repeats, in a stable order. Fields that are none of the kinds (an
// H.323 alias, a dial string) add nothing.
std::vector<SearchValue> PartySearchValues(const wire::Party& party);
// Every search term of a device: its ip, and its owner when that is an
// e-mail address.
std::vector<SearchValue> DeviceSearchValues(const wire::DeviceRecord& device);
// Adds the terms of `values` to `terms`, skipping terms already there.
// Ingest keys the HMAC once per batch (crypto::HmacSha256Key).
void AddSearchTerms(const crypto::HmacSha256Key& search_key, const std::vector<SearchValue>& values,
                    std::vector<std::string>& terms);
void AddSearchTerms(const crypto::Key256& search_key, const std::vector<SearchValue>& values,
                    std::vector<std::string>& terms);

// The search terms of the parties of one batch, each distinct party (number,
// uri, ip) normalized and MACed once. A call server's calls are between the
// same few thousand endpoints again and again, so a batch of 20,000 calls
// names far fewer parties than its 40,000 sides; working each out anew cost
// the server an eighth of its ingest CPU (docs/performance.md, eleventh
// round). One instance per batch and search key; not thread-safe.
class PartyTerms {
 public:
  explicit PartyTerms(const crypto::HmacSha256Key& search_key) : search_key_(search_key) {}
  // As AddSearchTerms(search_key, PartySearchValues(party), terms).
  void Add(const wire::Party& party, std::vector<std::string>& terms);

 private:
  const crypto::HmacSha256Key& search_key_;
  std::unordered_map<std::string, std::vector<std::string>> by_party_;
  std::string key_;  // reused for the look-up
};

}  // namespace parley::privacy
