#include "devsim/workload.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
#include <map>
#include <set>
#include <tuple>

#include <boost/json.hpp>

#include "common/time_format.h"

namespace parley::devsim {

namespace {

// ---------------------------------------------------------------------------
// Randomness. splitmix64 (Steele, Lea, Flood 2014) as both the hash and the
// generator: integer-only, so results never depend on the C++ library or
// libm. Every decision draws from a stream keyed by what it decides (seed,
// layer, minute, site, call), which is what lets live mode generate any time
// slot on demand and still agree with a run that generated it earlier.

uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Hash(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x243f6a8885a308d3ULL;  // arbitrary non-zero start (pi)
  for (uint64_t p : parts) h = Mix64(h ^ p);
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, n). The modulo bias is below 2^-50 for our n: irrelevant.
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  int64_t Between(int64_t lo, int64_t hi) { return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1))); }
  bool PerMille(int per_mille) { return Below(1000) < static_cast<uint64_t>(per_mille); }
  template <typename T>
  const T& PickWeighted(const std::vector<std::pair<T, int>>& items) {
    int total = 0;
    for (const auto& [v, w] : items) total += w;
    int64_t x = static_cast<int64_t>(Below(static_cast<uint64_t>(total)));
    for (const auto& [v, w] : items) {
      if (x < w) return v;
      x -= w;
    }
    return items.back().first;
  }

 private:
  uint64_t state_;
};

// Sets the UUID version (4) and variant bits so ids look like RFC 4122 v4.
std::pair<uint64_t, uint64_t> UuidBits(uint64_t hi, uint64_t lo) {
  hi = (hi & ~0xF000ULL) | 0x4000ULL;
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return {hi, lo};
}

constexpr int64_t kDay = 86400;

// ---------------------------------------------------------------------------
// Catalogues. Numbers use ranges reserved for fiction where they exist
// (Ofcom 020 7946 0xxx, NANP 555-01xx, ACMA 02 5550 xxxx).

struct SiteTemplate {
  const char* name;
  TimeZone tz;
  const char* number_prefix;
  int suffix_digits;
  const char* territory;
};

constexpr std::array<SiteTemplate, 8> kSiteCatalogue = {{
    {"London HQ", {"Europe/London", 0, DstRule::kEu}, "+442079460", 3, "EMEA"},
    {"Munich", {"Europe/Berlin", 60, DstRule::kEu}, "+49899999", 4, "EMEA"},
    {"Boston", {"America/New_York", -300, DstRule::kUs}, "+161755501", 2, "AMER"},
    {"Singapore", {"Asia/Singapore", 480, DstRule::kNone}, "+6565550", 3, "APAC"},
    {"Sydney", {"Australia/Sydney", 600, DstRule::kAu}, "+6125550", 4, "APAC"},
    {"San Francisco", {"America/Los_Angeles", -480, DstRule::kUs}, "+141555501", 2, "AMER"},
    {"Toronto", {"America/Toronto", -300, DstRule::kUs}, "+141655501", 2, "AMER"},
    {"Tokyo", {"Asia/Tokyo", 540, DstRule::kNone}, "+8135550", 4, "APAC"},
}};

// Typical one-way WAN latency between the catalogue's sites, ms (half of
// usual enterprise round-trip times); same-site paths 2 ms.
constexpr std::array<std::array<int, 8>, 8> kLatencyMs = {{
    //  LON  MUC  BOS  SIN  SYD  SFO  TOR  TYO
    {2, 12, 40, 85, 135, 70, 45, 115},
    {12, 2, 48, 80, 140, 78, 52, 120},
    {40, 48, 2, 115, 105, 35, 12, 85},
    {85, 80, 115, 2, 45, 88, 115, 37},
    {135, 140, 105, 45, 2, 75, 105, 55},
    {70, 78, 35, 88, 75, 2, 35, 55},
    {45, 52, 12, 115, 105, 35, 2, 80},
    {115, 120, 85, 37, 55, 55, 80, 2},
}};

constexpr std::array<const char*, 48> kFirstNames = {
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Isabel", "Jack", "Karin", "Liam",
    "Maria", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Samuel", "Tara", "Umar", "Vera", "William", "Xenia",
    "Yusuf", "Zoe", "Aiko", "Ben", "Chloe", "Daniel", "Elena", "Felix", "Hannah", "Ivan", "Julia", "Kenji",
    "Laura", "Mateo", "Nina", "Oscar", "Priya", "Ravi", "Sofia", "Thomas", "Ursula", "Victor", "Wen", "Yara"};

constexpr std::array<const char*, 48> kLastNames = {
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
    "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke",
    "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Tan", "Lim",
    "Lee", "Ng", "Wong", "Chen", "Suzuki", "Sato", "Tanaka", "Nguyen", "Patel", "Singh",
    "Garcia", "Martinez", "Lopez", "Rossi", "Novak", "Kowalski", "Dubois", "Moreau"};

// One room name has a comma, so CDR exports exercise the CSV quoting rule.
constexpr std::array<const char*, 16> kRoomNames = {
    "Boardroom", "Atlas", "Orion", "Everest", "Kilimanjaro", "Huddle 1", "Huddle 2", "Training Room",
    "Innovation Lab", "Cedar", "Maple", "Willow", "Harbour", "Summit", "Cafe, Level 2", "Meridian"};

const std::vector<std::pair<std::string, int>> kDepartments = {
    {"Engineering", 25}, {"Sales, EMEA", 12}, {"Sales, Americas", 10}, {"Finance", 8}, {"Human Resources", 6},
    {"Marketing", 10},   {"Customer Support", 15}, {"Legal", 4}};

struct ModelInfo {
  int max_kbps;
  const char* vendor;
  const char* device_type;
  bool h323;
  std::vector<std::pair<std::string, int>> versions;  // realistic spread
};

const ModelInfo& Model(const std::string& model) {
  static const std::vector<std::pair<std::string, int>> kGroupVersions = {
      {"6.2.2", 45}, {"6.2.1.2", 25}, {"6.1.8", 15}, {"6.2.0", 10}, {"5.2.2", 5}};
  static const std::vector<std::pair<std::string, int>> kPolyOsVersions = {
      {"4.1.0", 30}, {"4.0.2", 30}, {"3.14.2", 20}, {"3.11.1", 15}, {"3.6.0", 5}};
  static const ModelInfo kGroup = {4096, "Poly", "Group Series", true, kGroupVersions};
  static const ModelInfo kGroup310 = {2048, "Poly", "Group Series", true, kGroupVersions};
  static const ModelInfo kX50 = {4096, "Poly", "Studio X", true, kPolyOsVersions};
  static const ModelInfo kX30 = {3072, "Poly", "Studio X", true, kPolyOsVersions};
  static const ModelInfo kG7500 = {4096, "Poly", "G7500", true, kPolyOsVersions};
  static const ModelInfo kCisco = {
      4096, "Cisco", "Webex Room", true, {{"RoomOS 11.5.2.4", 40}, {"RoomOS 10.19.1.2", 30}, {"ce9.15.3", 30}}};
  static const ModelInfo kTrio = {1920, "Poly", "Trio", false, {{"8.0.3", 50}, {"7.2.4", 35}, {"7.1.2", 15}}};
  if (model == "RealPresence Group 310") return kGroup310;
  if (model == "Studio X30") return kX30;
  if (model == "Studio X50") return kX50;
  if (model == "G7500") return kG7500;
  if (model == "Room Kit") return kCisco;
  if (model == "Trio C60") return kTrio;
  return kGroup;
}

const std::vector<std::pair<std::string, int>> kPersonalModels = {
    {"RealPresence Group 310", 30}, {"Studio X30", 25}, {"Studio X50", 15}, {"RealPresence Group 500", 20},
    {"Room Kit", 10}};
const std::vector<std::pair<std::string, int>> kRoomModels = {
    {"RealPresence Group 500", 25}, {"G7500", 25}, {"Studio X50", 15}, {"Room Kit", 15}, {"Trio C60", 10},
    {"Studio X30", 10}};

const std::vector<std::pair<int, int>> kBitRates = {{384, 5},   {512, 5},   {768, 10},  {1024, 15}, {1472, 10},
                                                    {1920, 25}, {2048, 15}, {3072, 8},  {4096, 7}};

struct FailureInfo {
  int weight;
  int ring_min_s, ring_max_s;  // signaling time from start to end
  int q850;
};
// Same order as FailureCodes().
constexpr std::array<FailureInfo, 6> kFailures = {{
    {35, 1, 4, 17},     // 486 busy: rejected at once
    {25, 20, 30, 19},   // 480: rang, nobody there
    {12, 3, 15, 21},    // 603 decline: user pressed reject
    {10, 0, 1, 1},      // 404: unknown alias
    {10, 32, 32, 102},  // 408: SIP timer B
    {8, 0, 2, 34},      // 503: no resources
}};
constexpr int kFailurePerMille = 60;  // ~6% of calls fail
constexpr int kH323PerMille = 200;    // ~80% SIP
constexpr int kVmrEventPerMille = 400;
constexpr int kScheduledPerMille = 400;  // of VMR meetings: booked in RPRM
constexpr int kNoShowPerMille = 60;      // of scheduled meetings: nobody joins

// Relative event rate per local hour of day, per mille of the peak. Two peaks
// (10:00 and 14:00) with a lunch dip, near zero at night.
constexpr std::array<int, 24> kHourWeight = {5,   3,    3,   3,   5,   10,  30,  120, 450, 800, 1000, 850,
                                             500, 750,  950, 850, 650, 350, 150, 70,  40,  25,  15,  8};
constexpr int kWeekendPerMille = 100;
constexpr int kHolidayPerMille = 80;
constexpr int kBetweenYearsPerMille = 400;  // 24 and 27-31 December
// Event-start probability per minute per endpoint at a weight of 1000, in
// units of 2^-32: about 1.1 events per endpoint per weekday, i.e. ~2.5 calls
// per endpoint per weekday once VMR meetings fan out.
// 1.1 / (7.637 weighted hours * 60 minutes) * 2^32.
constexpr uint64_t kBaseRate = 10310476;

// Log-normal call durations (median 25 min, sigma 0.8) as an inverse-CDF
// table at p = i/64, clamped to [1 min, 3 h]; sampled with linear
// interpolation in integers (computed offline: 1500 * exp(0.8 * probit(p))).
constexpr std::array<int, 65> kDurationQuantiles = {
    60,   268,  338,  392,  440,  483,  523,  561,  598,  633,  669,  703,  738,  772,  806,  840,  874,
    909,  944,  979,  1015, 1051, 1087, 1125, 1162, 1201, 1241, 1281, 1323, 1365, 1409, 1454, 1500, 1548,
    1597, 1648, 1701, 1756, 1813, 1873, 1936, 2001, 2069, 2142, 2218, 2298, 2384, 2475, 2573, 2678, 2792,
    2915, 3050, 3199, 3365, 3552, 3765, 4012, 4305, 4663, 5118, 5733, 6657, 8403, 10800};
constexpr int64_t kMaxDurationS = 3 * 3600;
constexpr int64_t kMinDurationS = 30;

int64_t SampleDuration(Rng& rng) {
  uint64_t u = rng.Next() >> 32;           // 32-bit uniform
  uint64_t idx = u >> 26;                  // 0..63
  uint64_t frac = u & ((1ULL << 26) - 1);  // position inside the interval
  int64_t lo = kDurationQuantiles[idx], hi = kDurationQuantiles[idx + 1];
  return lo + static_cast<int64_t>(((hi - lo) * static_cast<int64_t>(frac)) >> 26);
}

std::string Slug(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') out += static_cast<char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
    else if (!out.empty() && out.back() != '.') out += '.';
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string ZeroPad(uint64_t value, int digits) {
  std::string s = std::to_string(value);
  if (static_cast<int>(s.size()) < digits) s.insert(0, static_cast<size_t>(digits) - s.size(), '0');
  return s;
}

std::string HexDigits(Rng& rng, int n, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) out += digits[rng.Below(16)];
  return out;
}

// Serial numbers and MAC addresses shaped like the vendors' (Poly: 14
// characters starting 82..., OUI 00:04:f2 / 64:16:7f; Cisco: FOC + 8).
void Hardware(Rng& rng, Device& d) {
  if (d.vendor == "Cisco") {
    d.serial = "FOC" + ZeroPad(rng.Below(10000), 4) + HexDigits(rng, 4, true);
    d.mac = "00:1e:bd";
  } else {
    d.serial = "82" + HexDigits(rng, 12, true);
    d.mac = rng.PerMille(500) ? "00:04:f2" : "64:16:7f";
  }
  for (int i = 0; i < 3; ++i) d.mac += ":" + HexDigits(rng, 2, false);
}

int64_t RoundUp(int64_t value, int64_t step) { return (value + step - 1) / step * step; }

Organisation MakeOrganisation(uint64_t seed, int64_t origin) {
  Rng rng(Hash({seed, 0x6f7267 /* "org" */}));
  Organisation org;
  static const std::vector<std::pair<std::string, int>> kDomains = {
      {"example.org", 1}, {"example.com", 1}, {"example.net", 1}};
  org.domain = rng.PickWeighted(kDomains);
  org.owner_domain = "EXAMPLE";
  org.cluster = "dma-london";

  // Sites: the HQ plus 3-5 others drawn without replacement. The last one is
  // a new office opened 5-10 months before origin; one other has a poor WAN.
  std::vector<int> catalogue(kSiteCatalogue.size() - 1);
  for (size_t i = 0; i < catalogue.size(); ++i) catalogue[i] = static_cast<int>(i + 1);
  for (size_t i = catalogue.size() - 1; i > 0; --i) std::swap(catalogue[i], catalogue[rng.Below(i + 1)]);
  int n_sites = 4 + static_cast<int>(rng.Below(3));
  std::vector<int> chosen = {0};
  chosen.insert(chosen.end(), catalogue.begin(), catalogue.begin() + (n_sites - 1));
  const int poor_site = 1 + static_cast<int>(rng.Below(static_cast<uint64_t>(n_sites - 2)));
  const int new_site = n_sites - 1;
  for (int s = 0; s < n_sites; ++s) {
    const auto& t = kSiteCatalogue[static_cast<size_t>(chosen[static_cast<size_t>(s)])];
    Site site;
    site.name = t.name;
    site.tz = t.tz;
    site.number_prefix = t.number_prefix;
    site.subnet = 10 + 10 * chosen[static_cast<size_t>(s)];
    site.territory = t.territory;
    site.catalogue_id = chosen[static_cast<size_t>(s)];
    if (s == poor_site) {
      site.poor_network = true;
      site.loss_bp = static_cast<int>(rng.Between(60, 160));
      site.jitter_ms = static_cast<int>(rng.Between(12, 25));
    } else {
      site.loss_bp = static_cast<int>(s == 0 ? rng.Between(1, 5) : rng.Between(2, 12));
      site.jitter_ms = static_cast<int>(rng.Between(2, 5));
    }
    if (s == new_site) site.opened_unix = origin - rng.Between(150, 300) * kDay;
    org.sites.push_back(std::move(site));
  }

  // Endpoints per site: the HQ is the biggest; every site has at least 4.
  int n_endpoints = 40 + static_cast<int>(rng.Below(41));
  std::vector<int> weights = {30};
  for (int i = 1; i < n_sites; ++i) weights.push_back(10 + static_cast<int>(rng.Below(15)));
  int total_weight = 0;
  for (int w : weights) total_weight += w;
  std::vector<int> site_counts(static_cast<size_t>(n_sites), 0);
  int assigned = 0;
  for (int i = 1; i < n_sites; ++i) {
    site_counts[static_cast<size_t>(i)] = std::max(4, n_endpoints * weights[static_cast<size_t>(i)] / total_weight);
    assigned += site_counts[static_cast<size_t>(i)];
  }
  site_counts[0] = n_endpoints - assigned;

  std::set<std::string> used_names;
  for (int s = 0; s < n_sites; ++s) {
    const Site& site = org.sites[static_cast<size_t>(s)];
    const auto& tmpl = kSiteCatalogue[static_cast<size_t>(chosen[static_cast<size_t>(s)])];
    int count = site_counts[static_cast<size_t>(s)];
    int rooms = std::max(1, count * 3 / 10);
    std::vector<int> room_pool(kRoomNames.size());
    for (size_t i = 0; i < room_pool.size(); ++i) room_pool[i] = static_cast<int>(i);
    for (size_t i = room_pool.size() - 1; i > 0; --i) std::swap(room_pool[i], room_pool[rng.Below(i + 1)]);
    uint64_t number = tmpl.suffix_digits == 2 ? rng.Below(10) : 100 + rng.Below(200);
    for (int i = 0; i < count; ++i) {
      Device d;
      d.site = s;
      d.room = i < rooms;
      if (d.room) {
        d.name = site.name + " - " + kRoomNames[static_cast<size_t>(room_pool[static_cast<size_t>(i)])];
        d.model = rng.PickWeighted(kRoomModels);
      } else {
        do {
          d.name = std::string(kFirstNames[rng.Below(kFirstNames.size())]) + " " +
                   kLastNames[rng.Below(kLastNames.size())];
        } while (used_names.count(d.name));
        d.model = rng.PickWeighted(kPersonalModels);
        d.owner = Slug(d.name);
        d.department = rng.PickWeighted(kDepartments);
      }
      used_names.insert(d.name);
      const ModelInfo& info = Model(d.model);
      d.version = rng.PickWeighted(info.versions);
      d.vendor = info.vendor;
      d.device_type = info.device_type;
      d.supports_h323 = info.h323;
      d.number = site.number_prefix + ZeroPad(number, tmpl.suffix_digits);
      number += tmpl.suffix_digits == 2 ? 1 : 1 + rng.Below(3);
      d.sip_uri = "sip:" + Slug(d.name) + "@" + org.domain;
      d.ip = "10." + std::to_string(site.subnet) + "." + (d.room ? "20." : "1.") + std::to_string(10 + i);
      Hardware(rng, d);
      // A fifth of the people work from home: their own access network adds
      // loss, jitter and latency to every call.
      d.remote = !d.room && rng.PerMille(200);
      if (d.remote) {
        d.access_loss_bp = static_cast<int>(rng.Between(30, 150));
        d.access_jitter_ms = static_cast<int>(rng.Between(5, 15));
        d.access_latency_ms = static_cast<int>(rng.Between(8, 25));
      } else {
        d.access_loss_bp = static_cast<int>(rng.Between(0, 2));
        d.access_jitter_ms = static_cast<int>(rng.Between(0, 1));
        d.access_latency_ms = static_cast<int>(rng.Between(0, 1));
      }
      // Growth: the new office's devices arrive within three weeks of its
      // opening; a third of the others during the last year; the rest are
      // older than any history. About 4 % have since gone offline.
      if (s == new_site) d.deployed_unix = site.opened_unix + rng.Between(0, 21 * kDay);
      else if (rng.PerMille(330)) d.deployed_unix = origin - rng.Between(kDay, 365 * kDay);
      else d.deployed_unix = origin - rng.Between(400 * kDay, 2500 * kDay);
      if (rng.PerMille(40)) {
        int64_t off = origin - rng.Between(kDay, 45 * kDay);
        if (off > d.deployed_unix + 7 * kDay) d.offline_since_unix = off;
      }
      org.endpoints.push_back(std::move(d));
    }
  }
  // deviceIdentifier ascends in order of deployment, so a device added later
  // always has a higher id.
  std::vector<size_t> order(org.endpoints.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(org.endpoints[a].deployed_unix, a) < std::tie(org.endpoints[b].deployed_unix, b);
  });
  for (size_t rank = 0; rank < order.size(); ++rank) org.endpoints[order[rank]].id = 1001 + static_cast<int>(rank);

  const std::string hq = org.sites[0].name;
  org.dma.id = 100;
  org.dma.name = "DMA - " + hq;
  org.dma.model = "RealPresence DMA 7000";
  org.dma.version = "10.0.0.4";
  org.dma.ip = "10." + std::to_string(org.sites[0].subnet) + ".0.10";
  org.mcu.id = 101;
  org.mcu.name = "RMX 2000 - " + hq;
  org.mcu.model = "RealPresence Collaboration Server 2000";
  org.mcu.version = "8.10.2";
  org.mcu.ip = "10." + std::to_string(org.sites[0].subnet) + ".0.20";
  for (Device* d : {&org.dma, &org.mcu}) {
    d->site = 0;
    d->vendor = "Poly";
    d->device_type = d == &org.dma ? "RealPresence DMA" : "RealPresence Collaboration Server";
    d->deployed_unix = origin - 2000 * kDay;
    Hardware(rng, *d);
  }

  std::vector<int> people;
  for (size_t i = 0; i < org.endpoints.size(); ++i)
    if (!org.endpoints[i].room) people.push_back(static_cast<int>(i));
  static const std::vector<std::pair<std::string, int>> kClasses = {{"GOLD", 20}, {"SILVER", 50}, {"BRONZE", 30}};
  int n_vmrs = 8 + static_cast<int>(rng.Below(13));
  uint64_t vmr = 1000 + rng.Below(50);
  for (int i = 0; i < n_vmrs; ++i) {
    Vmr v;
    v.number = std::to_string(vmr);
    v.owner = people[rng.Below(people.size())];
    v.local_user = rng.PerMille(200);
    v.class_of_service = rng.PickWeighted(kClasses);
    org.vmrs.push_back(std::move(v));
    vmr += 1 + rng.Below(4);
  }
  return org;
}

bool ByKey(const Call& a, const Call& b) { return a.key < b.key; }

// Admitted resource use over time. Holds only intervals that may still
// overlap calls yet to come (pruned as generation moves forward).
class Usage {
 public:
  void Prune(int64_t t) {
    std::erase_if(intervals_, [t](const auto& iv) { return std::get<1>(iv) <= t; });
  }
  // Most use at any moment of [start, end).
  int MaxOver(int64_t start, int64_t end) const {
    auto at = [&](int64_t t) {
      int u = 0;
      for (const auto& [a, b, c] : intervals_)
        if (a <= t && t < b) u += c;
      return u;
    };
    int best = at(start);
    for (const auto& [a, b, c] : intervals_)
      if (a > start && a < end) best = std::max(best, at(a));
    return best;
  }
  void Add(int64_t start, int64_t end, int cost) { intervals_.emplace_back(start, end, cost); }

 private:
  std::vector<std::tuple<int64_t, int64_t, int>> intervals_;
};
bool MeetingByKey(const Meeting& a, const Meeting& b) { return a.key < b.key; }

// Sets a meeting's participants' call times and its statistics from the
// calls it has (all of them, or those kept after thinning). Participants who
// called but whose call is not among `calls` are dropped.
void FinalizeMeeting(Meeting& m, const std::vector<const Call*>& calls) {
  std::array<Participant, 8> kept{};
  int8_t n = 0;
  for (int8_t i = 0; i < m.n_participants; ++i) {
    Participant p = m.participants[static_cast<size_t>(i)];
    if (p.called) {
      auto it = std::find_if(calls.begin(), calls.end(), [&](const Call* c) { return c->originator == p.endpoint; });
      if (it == calls.end()) continue;
      p.join_unix = (*it)->start_unix;
      p.leave_unix = (*it)->key.end_unix;
      p.connected = !(*it)->failed();
    }
    kept[static_cast<size_t>(n++)] = p;
  }
  m.participants = kept;
  m.n_participants = n;
  struct Edge {
    int64_t t;
    int calls, ports;
  };
  std::vector<Edge> edges;
  m.first_join = 0;
  m.last_leave = 0;
  for (const Call* c : calls) {
    if (c->failed()) continue;
    edges.push_back({c->start_unix, 1, PortCost(*c)});
    edges.push_back({c->key.end_unix, -1, -PortCost(*c)});
    if (m.first_join == 0 || c->start_unix < m.first_join) m.first_join = c->start_unix;
    m.last_leave = std::max(m.last_leave, c->key.end_unix);
  }
  // Ends before starts at the same second: a hand-over is not an overlap.
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return std::tie(a.t, a.calls) < std::tie(b.t, b.calls);
  });
  int calls_now = 0, ports_now = 0, max_calls = 0, max_ports = 0;
  for (const Edge& e : edges) {
    calls_now += e.calls;
    ports_now += e.ports;
    max_calls = std::max(max_calls, calls_now);
    max_ports = std::max(max_ports, ports_now);
  }
  m.part_count = static_cast<int16_t>(max_calls);
  m.max_video_ports = static_cast<int16_t>(max_ports);
  m.key.end_unix = m.connected() ? m.last_leave : m.sched_end;
}

// Links each meeting to its calls (by confUuid) and finalizes it.
void FinalizeAll(std::vector<Meeting>& meetings, const std::vector<Call>& calls) {
  std::map<std::pair<uint64_t, uint64_t>, std::vector<const Call*>> by_conf;
  for (const Call& c : calls)
    if (c.type == CallType::kVmr) by_conf[{c.conf_hi, c.conf_lo}].push_back(&c);
  static const std::vector<const Call*> kNone;
  for (Meeting& m : meetings) {
    auto it = by_conf.find({m.key.id_hi, m.key.id_lo});
    FinalizeMeeting(m, it == by_conf.end() ? kNone : it->second);
  }
}

// A meeting is worth keeping if it was a conference on the DMA or a booking.
bool Keep(const Meeting& m) { return m.connected() || m.scheduled; }

constexpr int8_t kRejectedFailure = 5;  // FailureCodes()[5]: "503:SERVICE UNAVAILABLE"

}  // namespace

// Admission control: the DMA refuses a call beyond its concurrent-call
// licence, the MCU one beyond its licensed ports (503). Decided in event
// order (minute, then site), which is the same whether slots are generated
// at once or a few at a time, so live mode stays deterministic.
struct Workload::Admission {
  Usage calls;
  Usage ports;
  int max_calls = 0;
  int max_ports = 0;

  void Prune(int64_t t) {
    calls.Prune(t);
    ports.Prune(t);
  }
  void Record(const Call& c) {
    if (c.failed()) return;
    calls.Add(c.start_unix, c.key.end_unix, 1);
    if (PortCost(c) > 0) ports.Add(c.start_unix, c.key.end_unix, PortCost(c));
  }
  // Admits the call (recording its use) or turns it into a 503 refusal.
  void Admit(Call& c) {
    if (c.failed()) return;
    const int cost = PortCost(c);
    if (calls.MaxOver(c.start_unix, c.key.end_unix) + 1 > max_calls ||
        (cost > 0 && ports.MaxOver(c.start_unix, c.key.end_unix) + cost > max_ports)) {
      c.failure = kRejectedFailure;
      c.duration_s = 0;
      c.key.end_unix = c.start_unix + static_cast<int64_t>(c.key.id_lo % 3);  // refused at once
      return;
    }
    Record(c);
  }
};

// ---------------------------------------------------------------------------

const std::vector<std::string>& FailureCodes() {
  static const std::vector<std::string> kCodes = {"486:BUSY HERE",  "480:TEMPORARILY UNAVAILABLE",
                                                  "603:DECLINE",    "404:NOT FOUND",
                                                  "408:REQUEST TIMEOUT", "503:SERVICE UNAVAILABLE"};
  return kCodes;
}

int Q850Cause(const Call& call) {
  return call.failed() ? kFailures[static_cast<size_t>(call.failure)].q850 : 16;
}

std::string_view Q850Text(int cause) {
  switch (cause) {
    case 1: return "Unallocated (unassigned) number";
    case 16: return "Normal call clearing";
    case 17: return "User busy";
    case 19: return "No answer from user (user alerted)";
    case 21: return "Call rejected";
    case 34: return "No circuit/channel available";
    case 102: return "Recovery on timer expiry";
    default: return "Unspecified";
  }
}

const std::vector<std::string>& MeetingSubjects() {
  static const std::vector<std::string> kSubjects = {
      "Weekly team meeting", "Project Atlas sync", "Customer review", "Quarterly business review",
      "Architecture board", "Sales pipeline, EMEA", "Interview panel", "All hands",
      "Vendor call", "Release planning", "Budget review", "Training: \"Video etiquette\""};
  return kSubjects;
}

std::string_view VideoFormat(int bit_rate_kbps) {
  if (bit_rate_kbps >= 1920) return "1080p";
  if (bit_rate_kbps >= 1024) return "720p";
  if (bit_rate_kbps >= 512) return "576p";
  return "CIF";
}

int PortCost(const Call& call) {
  if (call.type != CallType::kVmr || call.failed()) return 0;
  return VideoFormat(call.bit_rate_kbps) == "1080p" ? 2 : 1;
}

std::string FormatUuid(uint64_t hi, uint64_t lo) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF), static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

std::optional<std::pair<uint64_t, uint64_t>> ParseUuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  uint64_t hi = 0, lo = 0;
  int nibbles = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      continue;
    }
    uint64_t v;
    if (c >= '0' && c <= '9') v = static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v = static_cast<uint64_t>(c - 'a' + 10);
    else return std::nullopt;  // lowercase only: ids are compared as we print them
    if (nibbles < 16) hi = (hi << 4) | v;
    else lo = (lo << 4) | v;
    ++nibbles;
  }
  return std::make_pair(hi, lo);
}

std::string FormatDmaTime(int64_t unix_seconds, int utc_offset_minutes) {
  int64_t local = unix_seconds + int64_t{utc_offset_minutes} * 60;
  int64_t days = FloorDiv(local, 86400);
  int64_t secs = local - days * 86400;
  int y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  int off = utc_offset_minutes < 0 ? -utc_offset_minutes : utc_offset_minutes;
  char buf[96];  // roomy: GCC cannot bound every field and warns otherwise
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.000%c%02d:%02d", y, m, d,
                static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60),
                utc_offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
  return buf;
}

std::string FormatZoned(int64_t unix_seconds, const TimeZone& zone) {
  return FormatDmaTime(unix_seconds, UtcOffsetMinutes(zone, unix_seconds));
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buf;
}

std::string ExpectedLine(const Workload& workload, const Call& call) {
  Leg orig = workload.Originator(call);
  Leg dest = workload.Destination(call);
  // The uri fields hold what the API's originator/destination carry (the SIP
  // URI, or the E.164 number for H.323), and status/times follow the wire
  // format, so a test compares what the server stored field by field.
  const bool sip = call.signaling == Signaling::kSip;
  boost::json::object o;
  o["id"] = FormatUuid(call.key.id_hi, call.key.id_lo);
  o["orig_name"] = orig.device->name;
  o["orig_number"] = orig.number;
  o["orig_uri"] = sip ? orig.uri : orig.number;
  o["orig_ip"] = orig.device->ip;
  o["dest_name"] = dest.device->name;
  o["dest_number"] = dest.number;
  o["dest_uri"] = sip ? dest.uri : dest.number;
  o["dest_ip"] = dest.device->ip;
  o["status"] = call.failed() ? "failed" : "completed";
  o["duration_s"] = call.duration_s;
  o["start"] = FormatUtc(call.start_unix);
  o["end"] = FormatUtc(call.key.end_unix);
  return boost::json::serialize(o);
}

// ---------------------------------------------------------------------------

Result<std::unique_ptr<Workload>> Workload::Create(const WorkloadOptions& options) {
  if (options.history_days < 0 || options.history_days > 400)
    return InvalidArgument("history_days must be between 0 and 400");
  if (options.total_calls && (*options.total_calls < 0 || *options.total_calls > 1000000))
    return InvalidArgument("total_calls must be between 0 and 1000000");
  if (options.retention_days < 1) return InvalidArgument("retention_days must be at least 1");
  if (options.origin_unix < 0) return InvalidArgument("origin must not be before 1970");
  std::unique_ptr<Workload> w(new Workload(options, MakeOrganisation(options.seed, options.origin_unix)));
  w->SizeLicence();
  w->BuildHistory();
  return w;
}

Workload::Workload(const WorkloadOptions& options, Organisation org) : options_(options), org_(std::move(org)) {
  const size_t n_sites = org_.sites.size();
  site_first_.assign(n_sites, 0);
  site_count_.assign(n_sites, 0);
  site_deploys_.assign(n_sites, {});
  site_offlines_.assign(n_sites, {});
  for (size_t i = org_.endpoints.size(); i-- > 0;)
    site_first_[static_cast<size_t>(org_.endpoints[i].site)] = static_cast<int>(i);
  for (const Device& d : org_.endpoints) {
    const auto s = static_cast<size_t>(d.site);
    ++site_count_[s];
    site_deploys_[s].push_back(d.deployed_unix);
    if (d.offline_since_unix != std::numeric_limits<int64_t>::max()) site_offlines_[s].push_back(d.offline_since_unix);
  }
  for (auto& v : site_deploys_) std::sort(v.begin(), v.end());
  for (auto& v : site_offlines_) std::sort(v.begin(), v.end());
}

int Workload::ActiveEndpoints(int site, int64_t t) const {
  const auto& deploys = site_deploys_[static_cast<size_t>(site)];
  const auto& offlines = site_offlines_[static_cast<size_t>(site)];
  auto deployed = std::upper_bound(deploys.begin(), deploys.end(), t) - deploys.begin();
  auto gone = std::upper_bound(offlines.begin(), offlines.end(), t) - offlines.begin();
  return static_cast<int>(deployed - gone);
}

std::vector<int64_t> Workload::Holidays(int site, int year) const {
  std::vector<int64_t> days = {DaysFromCivil(year, 1, 1), DaysFromCivil(year, 12, 25), DaysFromCivil(year, 12, 26)};
  // Six public holidays per site and year, drawn from the seed; one that
  // falls on a weekend is observed on the Monday after.
  const int64_t jan1 = DaysFromCivil(year, 1, 1);
  for (uint64_t i = 0; i < 6; ++i) {
    uint64_t h = Hash({options_.seed, 0x686f6c /* "hol" */,
                       static_cast<uint64_t>(org_.sites[static_cast<size_t>(site)].catalogue_id),
                       static_cast<uint64_t>(year), i});
    int64_t day = jan1 + 1 + static_cast<int64_t>(h % 355);
    int wd = Weekday(day);
    if (wd == 6) day += 2;
    else if (wd == 0) day += 1;
    days.push_back(day);
  }
  std::sort(days.begin(), days.end());
  days.erase(std::unique(days.begin(), days.end()), days.end());
  return days;
}

int Workload::DayFactor(int site, int64_t local_day) const {
  int y;
  unsigned m, d;
  CivilFromDays(local_day, y, m, d);
  std::vector<int64_t> holidays = Holidays(site, y);
  if (std::binary_search(holidays.begin(), holidays.end(), local_day)) return kHolidayPerMille;
  int wd = Weekday(local_day);
  if (wd == 0 || wd == 6) return kWeekendPerMille;
  if (m == 12 && (d == 24 || d >= 27)) return kBetweenYearsPerMille;
  return 1000;
}

Leg Workload::Originator(const Call& call) const {
  const Device& d = org_.endpoints[static_cast<size_t>(call.originator)];
  return {&d, d.number, d.sip_uri, &org_.sites[static_cast<size_t>(d.site)]};
}

Leg Workload::Destination(const Call& call) const {
  if (call.type == CallType::kVmr) {
    const std::string& vmr = org_.vmrs[static_cast<size_t>(call.destination)].number;
    return {&org_.mcu, vmr, "sip:" + vmr + "@" + org_.domain, &org_.sites[0]};
  }
  const Device& d = org_.endpoints[static_cast<size_t>(call.destination)];
  return {&d, d.number, d.sip_uri, &org_.sites[static_cast<size_t>(d.site)]};
}

void Workload::GenerateMinutes(uint64_t layer, int64_t from_min, int64_t to_min, Sink out,
                               std::optional<int64_t> freeze, Admission* admission) const {
  struct Cache {
    int64_t hour = std::numeric_limits<int64_t>::min();
    int64_t day = std::numeric_limits<int64_t>::min();
    int offset = 0, active = 0, day_factor = 1000;
  };
  std::vector<Cache> cache(org_.sites.size());
  // Minute by minute, then site by site: the order admission control sees.
  for (int64_t m = from_min; m < to_min; ++m) {
    const int64_t hour = FloorDiv(m, 60);
    for (size_t s = 0; s < org_.sites.size(); ++s) {
      Cache& c = cache[s];
      if (hour != c.hour) {
        // Our zones change offset only on whole UTC hours.
        c.hour = hour;
        c.offset = org_.sites[s].OffsetAt(hour * 3600);
        c.active = ActiveEndpoints(static_cast<int>(s), freeze.value_or(hour * 3600));
      }
      if (c.active == 0) continue;
      const int64_t local_min = m + c.offset;
      const int64_t local_day = FloorDiv(local_min, 1440);
      if (local_day != c.day) {
        c.day = local_day;
        c.day_factor = DayFactor(static_cast<int>(s), local_day);
      }
      const auto hour_of_day = static_cast<size_t>((local_min - local_day * 1440) / 60);
      const uint64_t p = static_cast<uint64_t>(c.active) * kBaseRate *
                         static_cast<uint64_t>(kHourWeight[hour_of_day]) / 1000 *
                         static_cast<uint64_t>(c.day_factor) / 1000;
      const uint64_t h = Hash({options_.seed, layer, static_cast<uint64_t>(m), s});
      if ((h & 0xFFFFFFFFULL) >= p) continue;
      const int64_t start = m * 60 + static_cast<int64_t>((h >> 32) % 60);
      GenerateEvent(Mix64(h), static_cast<int>(s), start, freeze.value_or(start), out, admission);
    }
  }
}

void Workload::GenerateEvent(uint64_t event_hash, int site, int64_t start_unix, int64_t active_at, Sink out,
                             Admission* admission) const {
  Rng rng(event_hash);
  const int first = site_first_[static_cast<size_t>(site)];
  const int count = site_count_[static_cast<size_t>(site)];
  const int n_all = static_cast<int>(org_.endpoints.size());
  auto device = [&](int e) -> const Device& { return org_.endpoints[static_cast<size_t>(e)]; };
  // Only deployed, online devices take part; rejection sampling keeps the
  // stream of draws independent of how many there are.
  auto pick = [&](int same_site_per_mille, const std::vector<int>& exclude) {
    for (int attempt = 0; attempt < 32; ++attempt) {
      int e = rng.PerMille(same_site_per_mille) ? first + static_cast<int>(rng.Below(static_cast<uint64_t>(count)))
                                                : static_cast<int>(rng.Below(static_cast<uint64_t>(n_all)));
      if (device(e).ActiveAt(active_at) && std::find(exclude.begin(), exclude.end(), e) == exclude.end()) return e;
    }
    return -1;
  };
  auto max_rate = [&](int endpoint) { return Model(device(endpoint).model).max_kbps; };
  auto make_call = [&](CallType type, int orig, int dest, int64_t start, int64_t duration, int cap_kbps, bool h323_ok) {
    Call c;
    auto [hi, lo] = UuidBits(rng.Next(), rng.Next());
    c.key.id_hi = hi;
    c.key.id_lo = lo;
    c.type = type;
    c.originator = orig;
    c.destination = dest;
    c.start_unix = start;
    const bool h323 = rng.PerMille(kH323PerMille);
    c.signaling = h323 && h323_ok ? Signaling::kH323 : Signaling::kSip;
    int rate = rng.PickWeighted(kBitRates);
    if (rate > cap_kbps) {
      for (const auto& [r, w] : kBitRates)
        if (r <= cap_kbps) rate = r;
    }
    c.bit_rate_kbps = rate;
    if (rng.PerMille(kFailurePerMille)) {
      std::vector<std::pair<int, int>> causes;
      for (size_t i = 0; i < kFailures.size(); ++i) causes.emplace_back(static_cast<int>(i), kFailures[i].weight);
      int cause = rng.PickWeighted(causes);
      c.failure = static_cast<int8_t>(cause);
      c.duration_s = 0;
      c.key.end_unix = start + rng.Between(kFailures[static_cast<size_t>(cause)].ring_min_s,
                                           kFailures[static_cast<size_t>(cause)].ring_max_s);
    } else {
      c.duration_s = std::clamp(duration, kMinDurationS, kMaxDurationS);
      c.key.end_unix = start + c.duration_s;
    }
    return c;
  };

  int organiser = -1;
  for (int attempt = 0; attempt < 16 && organiser < 0; ++attempt) {
    int e = first + static_cast<int>(rng.Below(static_cast<uint64_t>(count)));
    if (device(e).ActiveAt(active_at)) organiser = e;
  }
  if (organiser < 0) return;
  if (admission) admission->Prune(start_unix);  // no later call starts before this event

  if (!rng.PerMille(kVmrEventPerMille)) {
    int dest = pick(550, {organiser});
    if (dest < 0) return;
    int64_t duration = SampleDuration(rng);
    Call c = make_call(CallType::kPointToPoint, organiser, dest, start_unix, duration,
                       std::min(max_rate(organiser), max_rate(dest)),
                       device(organiser).supports_h323 && device(dest).supports_h323);
    if (admission) admission->Admit(c);
    out.calls->push_back(c);
    return;
  }

  // A VMR meeting: 2-6 distinct participants dial the same VMR around the
  // start; most stay to the end, some leave early. Some meetings are booked
  // in RPRM with a scheduled start on the quarter hour and a length of
  // 30-120 minutes; people join between 5 minutes early and 10 late, a few
  // invited never join, and some bookings nobody attends.
  static const std::vector<std::pair<int, int>> kParticipants = {{2, 30}, {3, 30}, {4, 20}, {5, 12}, {6, 8}};
  static const std::vector<std::pair<int64_t, int>> kBookedLength = {{1800, 35}, {3600, 45}, {5400, 12}, {7200, 8}};
  int n = rng.PickWeighted(kParticipants);
  std::vector<int> people = {organiser};
  for (int guard = 0; static_cast<int>(people.size()) < n && guard < 8; ++guard) {
    int p = pick(600, people);
    if (p >= 0) people.push_back(p);
  }
  Meeting meeting;
  auto [conf_hi, conf_lo] = UuidBits(rng.Next(), rng.Next());
  meeting.key.id_hi = conf_hi;
  meeting.key.id_lo = conf_lo;
  meeting.vmr = static_cast<int32_t>(rng.Below(org_.vmrs.size()));
  meeting.organiser = organiser;
  meeting.subject = static_cast<int16_t>(rng.Below(MeetingSubjects().size()));
  meeting.recording = rng.PerMille(80);
  meeting.scheduled = rng.PerMille(kScheduledPerMille);
  int64_t meeting_end;
  bool no_show = false;
  int absentees = 0;
  if (meeting.scheduled) {
    meeting.sched_start = FloorDiv(start_unix + 300, 900) * 900;
    const int64_t length = rng.PickWeighted(kBookedLength);
    meeting.sched_end = meeting.sched_start + length;
    meeting_end = meeting.sched_end + rng.Between(-length / 4, length / 10);
    no_show = rng.PerMille(kNoShowPerMille);
    absentees = static_cast<int>(rng.Below(3));
  } else {
    meeting_end = start_unix + SampleDuration(rng);
  }
  std::vector<int> invited = people;
  for (int i = 0; i < absentees; ++i) {
    int p = pick(600, invited);
    if (p >= 0) invited.push_back(p);
  }
  for (int e : invited) {
    Participant p;
    p.endpoint = e;
    p.called = !no_show && std::find(people.begin(), people.end(), e) != people.end();
    meeting.participants[static_cast<size_t>(meeting.n_participants++)] = p;
  }
  std::vector<Call> calls;
  if (!no_show) {
    for (int person : people) {
      int64_t join = start_unix + rng.Between(0, 240);
      int64_t leave = rng.PerMille(250) ? join + (meeting_end - join) * rng.Between(30, 90) / 100
                                        : meeting_end + rng.Between(-300, 120);
      Call c = make_call(CallType::kVmr, person, meeting.vmr, join, leave - join, max_rate(person),
                         device(person).supports_h323);
      c.conf_hi = conf_hi;
      c.conf_lo = conf_lo;
      c.chair = person == organiser;
      if (admission) admission->Admit(c);
      calls.push_back(c);
    }
  }
  std::vector<const Call*> refs;
  for (const Call& c : calls) refs.push_back(&c);
  FinalizeMeeting(meeting, refs);
  out.calls->insert(out.calls->end(), calls.begin(), calls.end());
  if (Keep(meeting)) out.meetings->push_back(meeting);
}

PathQuality Workload::Path(const Call& call, bool forward) const {
  const Device& orig = org_.endpoints[static_cast<size_t>(call.originator)];
  const Device& dest =
      call.type == CallType::kVmr ? org_.mcu : org_.endpoints[static_cast<size_t>(call.destination)];
  const Device& from = forward ? orig : dest;
  const Device& to = forward ? dest : orig;
  const Site& sf = SiteOf(from);
  const Site& st = SiteOf(to);
  Rng rng(Hash({options_.seed, 0x716f73 /* "qos" */, call.key.id_hi, call.key.id_lo, forward ? 1ULL : 0ULL}));
  int64_t loss = sf.loss_bp + st.loss_bp + from.access_loss_bp + to.access_loss_bp;
  int64_t jitter = sf.jitter_ms + st.jitter_ms + from.access_jitter_ms + to.access_jitter_ms;
  // A poor WAN is congested in its local business hours: twice the loss.
  for (const Site* s : {&sf, &st}) {
    if (!s->poor_network) continue;
    int64_t local = call.start_unix + int64_t{s->OffsetAt(call.start_unix)} * 60;
    int64_t day = FloorDiv(local, kDay);
    int64_t hour = (local - day * kDay) / 3600;
    int wd = Weekday(day);
    if (wd != 0 && wd != 6 && hour >= 9 && hour < 17) {
      loss += s->loss_bp;
      jitter += s->jitter_ms / 2;
    }
  }
  loss = loss * rng.Between(60, 140) / 100;
  jitter = jitter * rng.Between(70, 130) / 100;
  if (rng.PerMille(30)) {  // a bad episode: Wi-Fi, a saturated uplink, ...
    loss += rng.Between(250, 1200);
    jitter += rng.Between(8, 40);
  }
  loss = std::min<int64_t>(loss, 4000);
  PathQuality q;
  q.loss_bp = static_cast<int>(loss);
  q.max_loss_bp = static_cast<int>(std::min<int64_t>(10000, loss * rng.Between(200, 600) / 100 + rng.Between(0, 30)));
  q.jitter_ms = static_cast<int>(jitter);
  q.max_jitter_ms = static_cast<int>(jitter * rng.Between(200, 400) / 100 + rng.Between(1, 5));
  q.latency_ms = kLatencyMs[static_cast<size_t>(sf.catalogue_id)][static_cast<size_t>(st.catalogue_id)] +
                 from.access_latency_ms + to.access_latency_ms + static_cast<int>(rng.Between(2, 8)) +
                 q.jitter_ms / 2;
  q.max_latency_ms =
      q.latency_ms + q.jitter_ms * static_cast<int>(rng.Between(2, 4)) + static_cast<int>(rng.Between(1, 10));
  return q;
}

PathQuality Workload::Quality(const Call& call, bool originator_side, bool transmit) const {
  // What the originator sends travels forward; what it receives, backward.
  return Path(call, originator_side == transmit);
}

int64_t Workload::PacketsLost(const Call& call, int loss_bp) {
  // ~1200-byte packets: packets = duration * rate / 9600.
  return call.duration_s * call.bit_rate_kbps * 1000 / 9600 * loss_bp / 10000;
}

void Workload::SizeLicence() {
  // The licence a growing organisation bought a while ago and is now close
  // to using up: 10 % above the busiest moment of the two weeks before
  // origin, with the organisation as it is at origin.
  std::vector<Call> calls;
  std::vector<Meeting> meetings;
  const int64_t origin_min = FloorDiv(options_.origin_unix + 59, 60);
  GenerateMinutes(0x6c6963 /* "lic" */, origin_min - 14 * 1440, origin_min, {&calls, &meetings},
                  options_.origin_unix);
  std::vector<std::tuple<int64_t, int, int>> edges;  // time, calls delta, ports delta
  for (const Call& c : calls) {
    if (c.failed()) continue;
    edges.emplace_back(c.start_unix, 1, PortCost(c));
    edges.emplace_back(c.key.end_unix, -1, -PortCost(c));
  }
  std::sort(edges.begin(), edges.end());
  int now_calls = 0, now_ports = 0, peak_calls = 0, peak_ports = 0;
  for (const auto& [t, dc, dp] : edges) {
    now_calls += dc;
    now_ports += dp;
    peak_calls = std::max(peak_calls, now_calls);
    peak_ports = std::max(peak_ports, now_ports);
  }
  org_.licensed_video_ports = static_cast<int>(RoundUp(std::max(peak_ports + 1, 10), 5));
  org_.licensed_voice_ports = static_cast<int>(RoundUp(org_.licensed_video_ports / 2, 5));
  org_.licensed_calls = static_cast<int>(RoundUp(std::max(peak_calls * 125 / 100 + 1, 20), 10));
}

void Workload::BuildHistory() {
  const int64_t origin = options_.origin_unix;
  const int64_t origin_min = FloorDiv(origin + 59, 60);
  std::vector<Call> all;
  std::vector<Meeting> meetings;
  std::vector<Call> pending;              // live: still running at origin
  std::vector<Meeting> pending_meetings;
  if (!options_.total_calls) {
    Admission admission;
    admission.max_calls = org_.licensed_calls;
    admission.max_ports = org_.licensed_video_ports;
    GenerateMinutes(0, origin_min - int64_t{options_.history_days} * 1440, origin_min, {&all, &meetings},
                    std::nullopt, &admission);
    for (Call& c : all) (c.key.end_unix <= origin ? history_ : pending).push_back(c);
    for (Meeting& m : meetings) (m.key.end_unix <= origin ? history_meetings_ : pending_meetings).push_back(m);
    if (!options_.live) {
      pending.clear();
      pending_meetings.clear();
    }
  } else if (*options_.total_calls > 0) {
    // An exact count: draw independent layers of the same process over the
    // window until there are enough, then keep the N calls with the smallest
    // ids. Ids are uniform hashes, so this is an unbiased thinning that keeps
    // the diurnal and weekly shape. Meetings follow their kept calls (a
    // booking nobody attended is kept if its id passes the same threshold).
    const size_t n = static_cast<size_t>(*options_.total_calls);
    const int64_t from_min = origin_min - int64_t{std::max(options_.history_days, 1)} * 1440;
    for (uint64_t layer = 0; history_.size() < n && layer < 1000000; ++layer) {
      all.clear();
      GenerateMinutes(layer, from_min, origin_min, {&all, &meetings});
      for (const Call& c : all)
        if (c.key.end_unix <= origin) history_.push_back(c);
    }
    all = std::vector<Call>();
    auto by_id = [](const Call& a, const Call& b) {
      return std::tie(a.key.id_hi, a.key.id_lo) < std::tie(b.key.id_hi, b.key.id_lo);
    };
    if (history_.size() > n) {
      std::nth_element(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(n), history_.end(), by_id);
      history_.resize(n);
    }
    std::pair<uint64_t, uint64_t> threshold{0, 0};
    for (const Call& c : history_) threshold = std::max(threshold, std::make_pair(c.key.id_hi, c.key.id_lo));
    std::vector<Meeting> kept;
    for (Meeting& m : meetings) {
      bool had_calls = false;
      for (int8_t i = 0; i < m.n_participants; ++i) had_calls |= m.participants[static_cast<size_t>(i)].called;
      if (!had_calls && std::make_pair(m.key.id_hi, m.key.id_lo) > threshold) continue;
      kept.push_back(m);
    }
    FinalizeAll(kept, history_);
    for (Meeting& m : kept) {
      bool has_participants = m.n_participants > 0;
      if (Keep(m) && has_participants && m.key.end_unix <= origin) history_meetings_.push_back(m);
    }
  }
  std::sort(history_.begin(), history_.end(), ByKey);
  std::sort(history_meetings_.begin(), history_meetings_.end(), MeetingByKey);
  calls_ = history_;
  meetings_ = history_meetings_;
  std::sort(pending.begin(), pending.end(), ByKey);
  std::sort(pending_meetings.begin(), pending_meetings.end(), MeetingByKey);
  calls_.insert(calls_.end(), pending.begin(), pending.end());
  meetings_.insert(meetings_.end(), pending_meetings.begin(), pending_meetings.end());
  generated_until_min_ = origin_min;
}

void Workload::AdvanceLocked(int64_t now_unix) {
  if (!options_.live) return;
  // Never drop the configured history itself.
  const int64_t retention_s = int64_t{std::max(options_.retention_days, options_.history_days + 1)} * kDay;
  const int64_t to_min = FloorDiv(now_unix, 60) + 1;
  if (to_min > generated_until_min_) {
    // Slots older than the retention window would be dropped at once: skip
    // them, so a clock jump cannot make us generate (or hold) years of calls.
    int64_t from_min = std::max(generated_until_min_, to_min - retention_s / 60 - 1440);
    std::vector<Call> fresh;
    std::vector<Meeting> fresh_meetings;
    Admission admission;
    admission.max_calls = org_.licensed_calls;
    admission.max_ports = org_.licensed_video_ports;
    if (!options_.total_calls) {
      // What is still admitted when the new slots begin: calls ending later.
      auto running = std::partition_point(calls_.begin(), calls_.end(),
                                          [&](const Call& c) { return c.key.end_unix <= from_min * 60; });
      for (; running != calls_.end(); ++running) admission.Record(*running);
    }
    GenerateMinutes(0, from_min, to_min, {&fresh, &fresh_meetings}, std::nullopt,
                    options_.total_calls ? nullptr : &admission);
    std::sort(fresh.begin(), fresh.end(), ByKey);
    size_t mid = calls_.size();
    calls_.insert(calls_.end(), fresh.begin(), fresh.end());
    std::inplace_merge(calls_.begin(), calls_.begin() + static_cast<std::ptrdiff_t>(mid), calls_.end(), ByKey);
    std::sort(fresh_meetings.begin(), fresh_meetings.end(), MeetingByKey);
    mid = meetings_.size();
    meetings_.insert(meetings_.end(), fresh_meetings.begin(), fresh_meetings.end());
    std::inplace_merge(meetings_.begin(), meetings_.begin() + static_cast<std::ptrdiff_t>(mid), meetings_.end(),
                       MeetingByKey);
    generated_until_min_ = to_min;
  }
  auto keep_from = std::partition_point(calls_.begin(), calls_.end(), [&](const Call& c) {
    return c.key.end_unix < now_unix - retention_s;
  });
  calls_.erase(calls_.begin(), keep_from);
  auto keep_meetings_from = std::partition_point(meetings_.begin(), meetings_.end(), [&](const Meeting& m) {
    return m.key.end_unix < now_unix - retention_s;
  });
  meetings_.erase(meetings_.begin(), keep_meetings_from);
}

std::vector<Call> Workload::ListEnded(int64_t now_unix, const std::optional<CallKey>& after, size_t limit,
                                      bool* more) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  auto it = calls_.begin();
  if (after) it = std::upper_bound(calls_.begin(), calls_.end(), *after, [](const CallKey& k, const Call& c) {
    return k < c.key;
  });
  std::vector<Call> page;
  for (; it != calls_.end() && page.size() < limit && it->key.end_unix <= now_unix; ++it) page.push_back(*it);
  if (more) *more = it != calls_.end() && it->key.end_unix <= now_unix;
  return page;
}

size_t Workload::CountEnded(int64_t now_unix) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  auto end = std::partition_point(calls_.begin(), calls_.end(),
                                  [&](const Call& c) { return c.key.end_unix <= now_unix; });
  return static_cast<size_t>(end - calls_.begin());
}

std::vector<Call> Workload::ActiveCalls(int64_t now_unix) {
  std::vector<Call> out;
  if (!options_.live) return out;
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  auto it = std::partition_point(calls_.begin(), calls_.end(),
                                 [&](const Call& c) { return c.key.end_unix <= now_unix; });
  for (; it != calls_.end(); ++it)
    if (!it->failed() && it->start_unix <= now_unix) out.push_back(*it);
  std::sort(out.begin(), out.end(), [](const Call& a, const Call& b) {
    return std::tie(a.start_unix, a.key.id_hi, a.key.id_lo) < std::tie(b.start_unix, b.key.id_hi, b.key.id_lo);
  });
  return out;
}

std::vector<Meeting> Workload::ActiveMeetings(int64_t now_unix) {
  std::vector<Meeting> out;
  if (!options_.live) return out;
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  auto it = std::partition_point(meetings_.begin(), meetings_.end(),
                                 [&](const Meeting& m) { return m.key.end_unix <= now_unix; });
  for (; it != meetings_.end(); ++it) {
    if (!it->connected()) continue;
    bool live_now = false;
    for (int8_t i = 0; i < it->n_participants; ++i) {
      const Participant& p = it->participants[static_cast<size_t>(i)];
      live_now |= p.connected && p.join_unix <= now_unix && now_unix < p.leave_unix;
    }
    if (live_now) out.push_back(*it);
  }
  std::sort(out.begin(), out.end(), [](const Meeting& a, const Meeting& b) {
    return std::tie(a.first_join, a.key.id_hi, a.key.id_lo) < std::tie(b.first_join, b.key.id_hi, b.key.id_lo);
  });
  return out;
}

bool Workload::EndedInWindow(int64_t from_unix, int64_t to_unix, int64_t now_unix, size_t max_calls,
                             std::vector<Call>* calls, std::vector<Meeting>* meetings) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  const int64_t upper = std::min(to_unix, now_unix + 1);  // end < upper
  auto lo =
      std::partition_point(calls_.begin(), calls_.end(), [&](const Call& c) { return c.key.end_unix < from_unix; });
  auto hi = std::partition_point(lo, calls_.end(), [&](const Call& c) { return c.key.end_unix < upper; });
  if (static_cast<size_t>(hi - lo) > max_calls) return false;
  calls->assign(lo, hi);
  meetings->clear();
  auto mlo = std::partition_point(meetings_.begin(), meetings_.end(),
                                  [&](const Meeting& m) { return m.key.end_unix < from_unix; });
  for (; mlo != meetings_.end() && mlo->key.end_unix < upper; ++mlo)
    if (mlo->connected()) meetings->push_back(*mlo);
  return true;
}

std::vector<EndpointCdr> Workload::ListEndpointCdrs(int64_t now_unix, const std::optional<CallKey>& after,
                                                    size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  auto it = calls_.begin();
  if (after)
    it = std::partition_point(calls_.begin(), calls_.end(),
                              [&](const Call& c) { return c.key.end_unix < after->end_unix; });
  // CDRs of one call share its end time but have ids of their own, so the
  // order within one second differs from the calls'; collect whole seconds.
  std::vector<EndpointCdr> out;
  int64_t last_end = std::numeric_limits<int64_t>::min();
  for (; it != calls_.end() && it->key.end_unix <= now_unix; ++it) {
    if (out.size() >= limit && it->key.end_unix != last_end) break;
    for (bool orig_side : {true, false}) {
      if (!orig_side && it->type == CallType::kVmr) continue;  // the MCU is not an RPRM endpoint
      const Device& d = org_.endpoints[static_cast<size_t>(orig_side ? it->originator : it->destination)];
      if (!d.RprmManaged()) continue;
      auto [hi, lo] = UuidBits(Hash({0x636472 /* "cdr" */, it->key.id_hi, it->key.id_lo, orig_side ? 1ULL : 2ULL}),
                               Hash({0x636473, it->key.id_hi, it->key.id_lo, orig_side ? 1ULL : 2ULL}));
      CallKey key{it->key.end_unix, hi, lo};
      if (after && !(*after < key)) continue;
      out.push_back({key, *it, orig_side});
      last_end = it->key.end_unix;
    }
  }
  std::sort(out.begin(), out.end(), [](const EndpointCdr& a, const EndpointCdr& b) { return a.key < b.key; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::vector<Meeting> Workload::ListScheduledMeetings(int64_t now_unix, const std::optional<CallKey>& after,
                                                     size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceLocked(now_unix);
  auto it = meetings_.begin();
  if (after)
    it = std::partition_point(meetings_.begin(), meetings_.end(), [&](const Meeting& m) { return !(*after < m.key); });
  std::vector<Meeting> out;
  for (; it != meetings_.end() && out.size() < limit && it->key.end_unix <= now_unix; ++it)
    if (it->scheduled) out.push_back(*it);
  return out;
}

}  // namespace parley::devsim
