// Search terms (privacy/search_terms.h): each kind's normalization, the
// classification of what an operator types, the terms of a party (with their
// aliases) and the per-tenant search key.
#include "privacy/search_terms.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "privacy/pii.h"

namespace parley::privacy {
namespace {

using Opt = std::optional<std::string>;

TEST(NormalizePhone, SpellingsOfOneNumberMeet) {
  const Opt want = "+442079460000";
  EXPECT_EQ(NormalizePhone("+44 20 7946 0000"), want);
  EXPECT_EQ(NormalizePhone("  +44-20-7946-0000 "), want);
  EXPECT_EQ(NormalizePhone("+44 (0)20 7946 0000"), want);
  EXPECT_EQ(NormalizePhone("+44.20.7946.0000"), want);
  EXPECT_EQ(NormalizePhone("0044 20 7946 0000"), want);
  EXPECT_EQ(NormalizePhone("tel:+44-20-7946-0000;ext=12"), want);
  EXPECT_EQ(NormalizePhone("TEL:+442079460000"), want);
  EXPECT_EQ(NormalizePhone("(212) 555-0100"), Opt("2125550100"));
  EXPECT_EQ(NormalizePhone("1001"), Opt("1001"));
  // A national spelling stays national: no country is assumed.
  EXPECT_EQ(NormalizePhone("020 7946 0000"), Opt("02079460000"));
}

TEST(NormalizePhone, RefusesWhatIsNotANumber) {
  EXPECT_EQ(NormalizePhone("12"), std::nullopt);            // too short
  EXPECT_EQ(NormalizePhone(std::string(21, '1')), std::nullopt);  // too long
  EXPECT_EQ(NormalizePhone("12+34"), std::nullopt);         // '+' only first
  EXPECT_EQ(NormalizePhone("++44123"), std::nullopt);
  EXPECT_EQ(NormalizePhone("alice"), std::nullopt);
  EXPECT_EQ(NormalizePhone("1234#99"), std::nullopt);       // a dial string, not a number
  EXPECT_EQ(NormalizePhone(""), std::nullopt);
}

TEST(NormalizeSipUri, SchemeAndHostFoldUserKeepsCase) {
  const Opt want = "sip:Alice@example.com";
  EXPECT_EQ(NormalizeSipUri("sip:Alice@example.com"), want);
  EXPECT_EQ(NormalizeSipUri("SIP:Alice@EXAMPLE.com"), want);
  EXPECT_EQ(NormalizeSipUri("sips:Alice@example.com"), want);
  EXPECT_EQ(NormalizeSipUri(" sip:Alice@example.com:5061;transport=tls?subject=hi "), want);
  EXPECT_EQ(NormalizeSipUri("sip:Alice:secret@example.com"), want);     // password dropped
  EXPECT_EQ(NormalizeSipUri("sip:%41lice@example.com"), want);          // percent-decoded
  EXPECT_NE(NormalizeSipUri("sip:alice@example.com"), want);            // user part is case-sensitive
  EXPECT_EQ(NormalizeSipUri("sip:example.com"), Opt("sip:example.com"));
  EXPECT_EQ(NormalizeSipUri("sip:+442079460000@gw.example.com;user=phone"), Opt("sip:+442079460000@gw.example.com"));
  EXPECT_EQ(NormalizeSipUri("sip:bob@010.1.2.3:5060"), Opt("sip:bob@10.1.2.3"));
  EXPECT_EQ(NormalizeSipUri("sip:bob@[2001:DB8:0::1]:5060"), Opt("sip:bob@[2001:db8::1]"));
}

TEST(NormalizeSipUri, RefusesOtherSchemesAndBrokenUris) {
  EXPECT_EQ(NormalizeSipUri("alice@example.com"), std::nullopt);
  EXPECT_EQ(NormalizeSipUri("h323:alice@example.com"), std::nullopt);
  EXPECT_EQ(NormalizeSipUri("sip:"), std::nullopt);
  EXPECT_EQ(NormalizeSipUri("sip:@example.com"), std::nullopt);
  EXPECT_EQ(NormalizeSipUri("sip:alice@"), std::nullopt);
  EXPECT_EQ(NormalizeSipUri("sip:al ice@example.com"), std::nullopt);
}

TEST(NormalizeIp, CanonicalTextOfOneAddress) {
  EXPECT_EQ(NormalizeIp("10.1.2.3"), Opt("10.1.2.3"));
  EXPECT_EQ(NormalizeIp(" 10.001.2.003 "), Opt("10.1.2.3"));  // padded octets are decimal, not octal
  EXPECT_EQ(NormalizeIp("010.0.0.010"), Opt("10.0.0.10"));
  EXPECT_EQ(NormalizeIp("2001:0DB8:0000:0000:0000:0000:0000:0001"), Opt("2001:db8::1"));
  EXPECT_EQ(NormalizeIp("[2001:db8::1]"), Opt("2001:db8::1"));
  EXPECT_EQ(NormalizeIp("fe80::1%eth0"), Opt("fe80::1"));
  EXPECT_EQ(NormalizeIp("::ffff:10.1.2.3"), Opt("10.1.2.3"));  // IPv4-mapped → IPv4
  EXPECT_EQ(NormalizeIp("::FFFF:0a01:0203"), Opt("10.1.2.3"));
}

TEST(NormalizeIp, RefusesWhatIsNotAnAddress) {
  EXPECT_EQ(NormalizeIp("10.1.2"), std::nullopt);
  EXPECT_EQ(NormalizeIp("10.1.2.256"), std::nullopt);
  EXPECT_EQ(NormalizeIp("10.1.2.0003"), std::nullopt);
  EXPECT_EQ(NormalizeIp("example.com"), std::nullopt);
  EXPECT_EQ(NormalizeIp("2001:db8::1::2"), std::nullopt);
  EXPECT_EQ(NormalizeIp(""), std::nullopt);
}

TEST(NormalizeSearchEmail, TrimmedAndLowerCasedAsUserEmails) {
  EXPECT_EQ(NormalizeSearchEmail("  Alice.Smith@Example.COM "), Opt("alice.smith@example.com"));
  EXPECT_EQ(NormalizeSearchEmail("Alice@Example.com"), Opt(NormalizeEmail("Alice@Example.com")));
  EXPECT_EQ(NormalizeSearchEmail("alice"), std::nullopt);
  EXPECT_EQ(NormalizeSearchEmail("@example.com"), std::nullopt);
  EXPECT_EQ(NormalizeSearchEmail("alice@"), std::nullopt);
  EXPECT_EQ(NormalizeSearchEmail("al ice@example.com"), std::nullopt);
}

TEST(ClassifySearchValue, KindFromShape) {
  EXPECT_EQ(ClassifySearchValue("sip:alice@example.com"), (SearchValue{SearchKind::kSip, "sip:alice@example.com"}));
  EXPECT_EQ(ClassifySearchValue("SIPS:alice@Example.com"), (SearchValue{SearchKind::kSip, "sip:alice@example.com"}));
  EXPECT_EQ(ClassifySearchValue("Alice@Example.com"), (SearchValue{SearchKind::kEmail, "alice@example.com"}));
  EXPECT_EQ(ClassifySearchValue("10.001.2.3"), (SearchValue{SearchKind::kIp, "10.1.2.3"}));
  EXPECT_EQ(ClassifySearchValue("2001:db8::1"), (SearchValue{SearchKind::kIp, "2001:db8::1"}));
  EXPECT_EQ(ClassifySearchValue("+44 20 7946 0000"), (SearchValue{SearchKind::kPhone, "+442079460000"}));
  EXPECT_EQ(ClassifySearchValue("tel:+442079460000"), (SearchValue{SearchKind::kPhone, "+442079460000"}));
  EXPECT_EQ(ClassifySearchValue("  "), std::nullopt);
  EXPECT_EQ(ClassifySearchValue("Alice Smith"), std::nullopt);
  EXPECT_EQ(ClassifySearchValue("12"), std::nullopt);
  EXPECT_EQ(ClassifySearchValue("sip:@x"), std::nullopt);
}

crypto::Key256 KeyOf(uint8_t fill) {
  crypto::Key256 k{};
  k.fill(fill);
  return k;
}

TEST(SearchTerm, HexHmacBoundToKindAndKey) {
  const SearchValue phone{SearchKind::kPhone, "1001"};
  const std::string term = SearchTerm(KeyOf(1), phone);
  EXPECT_EQ(term.size(), 16u);
  EXPECT_TRUE(std::all_of(term.begin(), term.end(), [](char c) { return std::isxdigit(c) && !std::isupper(c); }));
  EXPECT_EQ(term, crypto::BlindIndex(KeyOf(1), "phone:1001").substr(0, 16));
  EXPECT_EQ(term, SearchTerm(KeyOf(1), phone));
  EXPECT_NE(term, SearchTerm(KeyOf(2), phone));                                   // another tenant's key
  EXPECT_NE(SearchTerm(KeyOf(1), {SearchKind::kIp, "10.1.2.3"}),
            SearchTerm(KeyOf(1), {SearchKind::kPhone, "10.1.2.3"}));              // the kind is hashed in
  EXPECT_EQ(term.find("1001"), std::string::npos);
}

bool Has(const std::vector<SearchValue>& values, SearchKind kind, const std::string& normalized) {
  return std::find(values.begin(), values.end(), SearchValue{kind, normalized}) != values.end();
}

TEST(PartySearchValues, EveryFieldWithAliases) {
  wire::Party p;
  p.name = "Alice Smith";  // a name is never a term
  p.number = "+44 (0)20 7946 0000";
  p.uri = "sips:Alice@Example.com;transport=tls";
  p.ip = "10.1.2.3:5060";
  auto values = PartySearchValues(p);
  EXPECT_TRUE(Has(values, SearchKind::kPhone, "+442079460000"));
  EXPECT_TRUE(Has(values, SearchKind::kSip, "sip:Alice@example.com"));
  EXPECT_TRUE(Has(values, SearchKind::kEmail, "alice@example.com"));  // alias of the SIP URI
  EXPECT_TRUE(Has(values, SearchKind::kIp, "10.1.2.3"));
  EXPECT_EQ(values.size(), 4u);

  wire::Party h323;
  h323.number = "bob@example.com";  // a URI without scheme: e-mail and sip
  h323.uri = "h323:room@example.com";  // another scheme: nothing
  h323.ip = "[2001:db8::1]:1720";
  values = PartySearchValues(h323);
  EXPECT_TRUE(Has(values, SearchKind::kEmail, "bob@example.com"));
  EXPECT_TRUE(Has(values, SearchKind::kSip, "sip:bob@example.com"));
  EXPECT_TRUE(Has(values, SearchKind::kIp, "2001:db8::1"));
  EXPECT_EQ(values.size(), 3u);

  wire::Party by_ip;
  by_ip.uri = "sip:10.1.2.3";
  by_ip.number = "10.1.2.3##1234";  // a dial string: nothing
  values = PartySearchValues(by_ip);
  EXPECT_TRUE(Has(values, SearchKind::kSip, "sip:10.1.2.3"));
  EXPECT_TRUE(Has(values, SearchKind::kIp, "10.1.2.3"));
  EXPECT_EQ(values.size(), 2u);

  EXPECT_TRUE(PartySearchValues(wire::Party{}).empty());
}

TEST(DeviceSearchValues, IpAndAnOwnerAddress) {
  wire::DeviceRecord d;
  d.ip = "10.0.0.7";
  d.owner = "Bob@Example.com";
  d.serial = "82051234";  // not a party identifier
  auto values = DeviceSearchValues(d);
  EXPECT_EQ(values, (std::vector<SearchValue>{{SearchKind::kIp, "10.0.0.7"}, {SearchKind::kEmail, "bob@example.com"}}));
  d.owner = "Bob Jones";
  EXPECT_EQ(DeviceSearchValues(d).size(), 1u);
}

TEST(AddSearchTerms, NoRepeats) {
  std::vector<std::string> terms;
  AddSearchTerms(KeyOf(1), {{SearchKind::kPhone, "1001"}, {SearchKind::kPhone, "1001"}}, terms);
  AddSearchTerms(KeyOf(1), {{SearchKind::kPhone, "1001"}, {SearchKind::kIp, "10.1.2.3"}}, terms);
  EXPECT_EQ(terms.size(), 2u);
}

// The batch memo gives each call exactly what working its parties out anew
// gives: the same terms in the same order, a repeated party's from the memo,
// and parties whose fields differ only in where one ends and the next begins
// kept apart.
TEST(PartyTerms, SameTermsAsWorkedOutAnew) {
  const crypto::HmacSha256Key key(KeyOf(3));
  auto party = [](std::string number, std::string uri, std::string ip) {
    wire::Party p;
    p.number = std::move(number);
    p.uri = std::move(uri);
    p.ip = std::move(ip);
    return p;
  };
  const std::vector<std::pair<wire::Party, wire::Party>> calls = {
      {party("1001", "sip:alice@example.com", "10.1.1.10"), party("2002", "sip:bob@example.com", "10.1.1.11")},
      {party("2002", "sip:bob@example.com", "10.1.1.11"), party("1001", "sip:alice@example.com", "10.1.1.10")},
      {party("1001", "sip:alice@example.com", "10.1.1.10"), party("1001", "sip:alice@example.com", "10.1.1.10")},
      // The same bytes split differently between the fields.
      {party("10.1.1.1", "0", ""), party("10.1.1.", "10", "")},
      {party("", "10.1.1.10", ""), party("", "", "10.1.1.10")},
      {party(std::string("1001\0", 5), "", ""), party("1001", "", "")},
      {party("", "", ""), party("bob@example.com", "h323:room@example.com", "[2001:db8::1]:1720")},
  };
  PartyTerms memo(key);
  size_t terms_seen = 0;
  for (const auto& [orig, dest] : calls) {
    std::vector<std::string> anew, memoized;
    for (const wire::Party* p : {&orig, &dest}) {
      AddSearchTerms(key, PartySearchValues(*p), anew);
      memo.Add(*p, memoized);
    }
    EXPECT_EQ(memoized, anew) << orig.number << " / " << dest.number;
    terms_seen += anew.size();
  }
  EXPECT_GT(terms_seen, 20u);  // the parties above do have terms
}

TEST(KeyRingSearchKey, PerTenantAndStable) {
  const crypto::MasterKey master = crypto::MasterKey::FromBytesForTest(KeyOf(9));
  const std::string db = ::testing::TempDir() + "search_terms_test_" + std::to_string(::getpid()) + ".db";
  auto store = store::OpenStore("sqlite:" + db);
  ASSERT_TRUE(store.ok()) << store.error().detail;
  KeyRing ring(**store, master);
  const crypto::Key256 a = ring.SearchKey("tenant-a");
  EXPECT_EQ(a, ring.SearchKey("tenant-a"));
  EXPECT_NE(a, ring.SearchKey("tenant-b"));
  const std::string mac = crypto::HmacSha256(master.DeriveIndexKey(), "parley:search-key:v1:tenant-a");
  EXPECT_TRUE(std::equal(a.begin(), a.end(), reinterpret_cast<const uint8_t*>(mac.data())));
  store->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
}

}  // namespace
}  // namespace parley::privacy
