#include "privacy/search_terms.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>

#include <boost/url/authority_view.hpp>

#include "privacy/pii.h"

namespace parley::privacy {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

// "sip:" / "sips:" → the rest; nullopt for any other start.
std::optional<std::string_view> AfterSipScheme(std::string_view s) {
  if (StartsWithNoCase(s, "sip:")) return s.substr(4);
  if (StartsWithNoCase(s, "sips:")) return s.substr(5);
  return std::nullopt;
}

bool IsDottedDecimal(std::string_view s) {
  int dots = 0;
  for (char c : s) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 3;
}

// The parts of a normalized SIP URI the aliases need.
struct SipParts {
  std::string user;  // decoded; "" for a URI without user part
  std::string host;  // normalized
  bool host_is_ip = false;
};

std::optional<SipParts> ParseSip(std::string_view value) {
  auto rest = AfterSipScheme(Trim(value));
  if (!rest) return std::nullopt;
  std::string_view s = *rest;
  s = s.substr(0, s.find('?'));  // headers
  std::string_view user, hostport = s;
  if (const size_t at = s.rfind('@'); at != std::string_view::npos) {
    user = s.substr(0, at);
    hostport = s.substr(at + 1);
    if (user.empty()) return std::nullopt;
  }
  hostport = hostport.substr(0, hostport.find(';'));  // uri parameters
  if (hostport.empty()) return std::nullopt;
  // The user part and host:port of a SIP URI have the grammar of a URI
  // authority (RFC 3986 userinfo covers SIP's user-unreserved but '?' and
  // '/'), so Boost.URL splits and decodes them.
  const std::string authority = user.empty() ? std::string(hostport) : std::string(user) + "@" + std::string(hostport);
  auto parsed = boost::urls::parse_authority(authority);
  if (!parsed) return std::nullopt;
  SipParts parts;
  if (!user.empty()) {
    parts.user = parsed->user();  // decoded; a password after ':' is dropped
    if (parts.user.empty()) return std::nullopt;
  }
  std::optional<std::string> ip;
  switch (parsed->host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      ip = NormalizeIp(parsed->encoded_host());
      if (!ip) return std::nullopt;
      break;
    case boost::urls::host_type::name:
      // RFC 3986 reads a zero-padded "010.1.2.3" as a name; ip does not.
      ip = NormalizeIp(parsed->host_name());
      if (!ip) parts.host = Lower(parsed->host_name());
      break;
    default:
      return std::nullopt;
  }
  if (ip) {
    parts.host = ip->find(':') != std::string::npos ? "[" + *ip + "]" : *ip;
    parts.host_is_ip = true;
  }
  if (parts.host.empty()) return std::nullopt;
  return parts;
}

std::string SipText(const SipParts& p) { return p.user.empty() ? "sip:" + p.host : "sip:" + p.user + "@" + p.host; }

// A URI scheme before the first '@' ("h323:", "mailto:"): letters first,
// then letters, digits, '+', '-', '.'; "" when there is none.
std::string SchemeOf(std::string_view s) {
  const size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > s.find('@')) return {};
  if (!std::isalpha(static_cast<unsigned char>(s[0]))) return {};
  for (char c : s.substr(0, colon))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return {};
  return Lower(s.substr(0, colon));
}

void AddValue(std::vector<SearchValue>& out, SearchKind kind, const std::optional<std::string>& normalized) {
  if (!normalized) return;
  SearchValue v{kind, *normalized};
  if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
}

void AddSip(std::vector<SearchValue>& out, const std::optional<SipParts>& sip) {
  if (!sip) return;
  AddValue(out, SearchKind::kSip, SipText(*sip));
  if (!sip->user.empty() && !sip->host_is_ip) AddValue(out, SearchKind::kEmail, NormalizeSearchEmail(sip->user + "@" + sip->host));
  if (sip->user.empty() && sip->host_is_ip) AddValue(out, SearchKind::kIp, NormalizeIp(sip->host));
}

// An address field as devices report it: "10.1.2.3", "10.1.2.3:5060",
// "[2001:db8::1]:5060".
std::optional<std::string> IpWithOptionalPort(std::string_view value) {
  value = Trim(value);
  if (auto ip = NormalizeIp(value)) return ip;
  if (!value.empty() && value.front() == '[') {
    const size_t close = value.find(']');
    if (close != std::string_view::npos) return NormalizeIp(value.substr(0, close + 1));
  }
  if (std::count(value.begin(), value.end(), ':') == 1) return NormalizeIp(value.substr(0, value.find(':')));
  return std::nullopt;
}

// The interpretations of one party field (number or uri).
void AddFieldValues(std::vector<SearchValue>& out, std::string_view field) {
  field = Trim(field);
  if (field.empty()) return;
  if (AfterSipScheme(field)) {
    AddSip(out, ParseSip(field));
    return;
  }
  if (StartsWithNoCase(field, "tel:")) {
    AddValue(out, SearchKind::kPhone, NormalizePhone(field));
    return;
  }
  if (field.find('@') != std::string_view::npos) {
    const std::string scheme = SchemeOf(field);
    if (scheme == "mailto") {
      AddValue(out, SearchKind::kEmail, NormalizeSearchEmail(field.substr(7)));
      return;
    }
    if (!scheme.empty()) return;  // h323:, an unknown scheme: not one of the kinds
    AddValue(out, SearchKind::kEmail, NormalizeSearchEmail(field));
    AddSip(out, ParseSip("sip:" + std::string(field)));
    return;
  }
  if (auto ip = NormalizeIp(field)) {
    AddValue(out, SearchKind::kIp, ip);
    return;
  }
  AddValue(out, SearchKind::kPhone, NormalizePhone(field));
}

// A record's terms are a list without repeats (a party's number and URI
// often give the same term).
void AddTermOnce(std::vector<std::string>& terms, std::string term) {
  if (std::find(terms.begin(), terms.end(), term) == terms.end()) terms.push_back(std::move(term));
}

}  // namespace

std::string_view SearchKindName(SearchKind kind) {
  switch (kind) {
    case SearchKind::kEmail:
      return "email";
    case SearchKind::kPhone:
      return "phone";
    case SearchKind::kSip:
      return "sip";
    case SearchKind::kIp:
      return "ip";
  }
  return "unknown";
}

std::optional<std::string> NormalizeSearchEmail(std::string_view value) {
  value = Trim(value);
  const size_t at = value.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == value.size()) return std::nullopt;
  for (char c : value)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) return std::nullopt;
  // The rule of users.email_index, so one address has one spelling.
  return NormalizeEmail(value);
}

std::optional<std::string> NormalizePhone(std::string_view value) {
  value = Trim(value);
  if (StartsWithNoCase(value, "tel:")) value = value.substr(4);
  value = value.substr(0, value.find(';'));  // tel: parameters (ext, phone-context)
  std::string text(Trim(value));
  // "+44 (0)20 …": the bracketed trunk digit is not dialled from abroad.
  if (!text.empty() && text.front() == '+') {
    for (size_t at; (at = text.find("(0)")) != std::string::npos;) text.erase(at, 3);
  }
  std::string out;
  bool plus = false;
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      out += c;
    } else if (c == '+') {
      if (plus || !out.empty()) return std::nullopt;  // only one, and only first
      plus = true;
    } else if (c != ' ' && c != '-' && c != '.' && c != '/' && c != '(' && c != ')' && c != '\t') {
      return std::nullopt;
    }
  }
  if (!plus && out.size() > 2 && out.starts_with("00")) {
    out.erase(0, 2);  // the ITU international prefix
    plus = true;
  }
  if (out.size() < 3 || out.size() > 20) return std::nullopt;
  return plus ? "+" + out : out;
}

std::optional<std::string> NormalizeSipUri(std::string_view value) {
  auto parts = ParseSip(value);
  if (!parts) return std::nullopt;
  return SipText(*parts);
}

std::optional<std::string> NormalizeIp(std::string_view value) {
  value = Trim(value);
  if (value.size() >= 2 && value.front() == '[' && value.back() == ']') value = value.substr(1, value.size() - 2);
  std::string text(value.substr(0, value.find('%')));  // an IPv6 zone names an interface, not a host
  if (text.empty() || text.size() > 64) return std::nullopt;
  // inet_pton refuses "10.001.2.3"; zero-padded octets are read as decimal
  // (not octal, as inet_aton would), which is what a padded listing means.
  if (IsDottedDecimal(text)) {
    std::string unpadded;
    size_t start = 0;
    for (;;) {
      const size_t dot = text.find('.', start);
      std::string_view part = std::string_view(text).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty() || part.size() > 3) return std::nullopt;
      while (part.size() > 1 && part.front() == '0') part.remove_prefix(1);
      unpadded.append(part);
      if (dot == std::string::npos) break;
      unpadded += '.';
      start = dot + 1;
    }
    text = std::move(unpadded);
  }
  std::array<unsigned char, 16> addr{};
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (inet_pton(AF_INET, text.c_str(), addr.data()) == 1) {
    if (inet_ntop(AF_INET, addr.data(), buf.data(), buf.size()) == nullptr) return std::nullopt;
    return std::string(buf.data());
  }
  if (inet_pton(AF_INET6, text.c_str(), addr.data()) != 1) return std::nullopt;
  static constexpr std::array<unsigned char, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), addr.begin())) {
    if (inet_ntop(AF_INET, addr.data() + 12, buf.data(), buf.size()) == nullptr) return std::nullopt;
    return std::string(buf.data());
  }
  if (inet_ntop(AF_INET6, addr.data(), buf.data(), buf.size()) == nullptr) return std::nullopt;
  return std::string(buf.data());
}

std::optional<SearchValue> ClassifySearchValue(std::string_view value) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  auto make = [](SearchKind kind, std::optional<std::string> normalized) -> std::optional<SearchValue> {
    if (!normalized) return std::nullopt;
    return SearchValue{kind, std::move(*normalized)};
  };
  if (AfterSipScheme(value)) return make(SearchKind::kSip, NormalizeSipUri(value));
  if (value.find('@') != std::string_view::npos) {
    if (StartsWithNoCase(value, "mailto:")) value.remove_prefix(7);
    return make(SearchKind::kEmail, NormalizeSearchEmail(value));
  }
  if (auto ip = NormalizeIp(value)) return SearchValue{SearchKind::kIp, std::move(*ip)};
  return make(SearchKind::kPhone, NormalizePhone(value));
}

std::string SearchTerm(const crypto::Key256& search_key, const SearchValue& value) {
  return SearchTerm(crypto::HmacSha256Key(search_key), value);
}

std::string SearchTerm(const crypto::HmacSha256Key& search_key, const SearchValue& value) {
  std::string input(SearchKindName(value.kind));
  input += ':';
  input += value.normalized;
  std::string term = crypto::BlindIndex(search_key, input);
  term.resize(kSearchTermHexDigits);
  return term;
}

std::vector<SearchValue> PartySearchValues(const wire::Party& party) {
  std::vector<SearchValue> out;
  AddFieldValues(out, party.number);
  AddFieldValues(out, party.uri);
  AddValue(out, SearchKind::kIp, IpWithOptionalPort(party.ip));
  return out;
}

std::vector<SearchValue> DeviceSearchValues(const wire::DeviceRecord& device) {
  std::vector<SearchValue> out;
  AddValue(out, SearchKind::kIp, IpWithOptionalPort(device.ip));
  // An owner is a name or an address; only an address is searchable.
  if (SchemeOf(device.owner).empty()) AddValue(out, SearchKind::kEmail, NormalizeSearchEmail(device.owner));
  return out;
}

void AddSearchTerms(const crypto::Key256& search_key, const std::vector<SearchValue>& values,
                    std::vector<std::string>& terms) {
  AddSearchTerms(crypto::HmacSha256Key(search_key), values, terms);
}

void AddSearchTerms(const crypto::HmacSha256Key& search_key, const std::vector<SearchValue>& values,
                    std::vector<std::string>& terms) {
  for (const SearchValue& v : values) AddTermOnce(terms, SearchTerm(search_key, v));
}

void PartyTerms::Add(const wire::Party& party, std::vector<std::string>& terms) {
  // Each field with its length first, so no two different parties share a
  // key whatever bytes (NUL included) their fields hold.
  key_.clear();
  for (const std::string* field : {&party.number, &party.uri, &party.ip}) {
    const uint32_t size = static_cast<uint32_t>(field->size());
    key_.append(reinterpret_cast<const char*>(&size), sizeof size);
    key_.append(*field);
  }
  auto it = by_party_.find(key_);
  if (it == by_party_.end()) {
    std::vector<std::string> own;
    AddSearchTerms(search_key_, PartySearchValues(party), own);
    it = by_party_.emplace(key_, std::move(own)).first;
  }
  for (const std::string& term : it->second) AddTermOnce(terms, term);
}

}  // namespace parley::privacy
