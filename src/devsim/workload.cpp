#include "devsim/workload.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
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
// layer, minute, site), which is what lets live mode generate any time slot
// on demand and still agree with a run that generated it earlier.

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

// ---------------------------------------------------------------------------
// Catalogues. Numbers use ranges reserved for fiction where they exist
// (Ofcom 020 7946 0xxx, NANP 555-01xx, ACMA 02 5550 xxxx).

struct SiteTemplate {
  const char* name;
  int utc_offset_minutes;
  const char* number_prefix;
  int suffix_digits;
};

constexpr std::array<SiteTemplate, 8> kSiteCatalogue = {{
    {"London HQ", 0, "+442079460", 3},
    {"Munich", 60, "+49899999", 4},
    {"Boston", -300, "+161755501", 2},
    {"Singapore", 480, "+6565550", 3},
    {"Sydney", 600, "+6125550", 4},
    {"San Francisco", -480, "+141555501", 2},
    {"Toronto", -300, "+141655501", 2},
    {"Tokyo", 540, "+8135550", 4},
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

constexpr std::array<const char*, 16> kRoomNames = {
    "Boardroom", "Atlas", "Orion", "Everest", "Kilimanjaro", "Huddle 1", "Huddle 2", "Training Room",
    "Innovation Lab", "Cedar", "Maple", "Willow", "Harbour", "Summit", "Aurora", "Meridian"};

struct ModelInfo {
  int max_kbps;
  std::vector<std::pair<std::string, int>> versions;  // realistic spread
};

const ModelInfo& Model(const std::string& model) {
  static const ModelInfo kGroup = {4096, {{"6.2.2", 45}, {"6.2.1.2", 25}, {"6.1.8", 15}, {"6.2.0", 10}, {"5.2.2", 5}}};
  static const ModelInfo kGroup310 = {2048, kGroup.versions};
  static const ModelInfo kPolyOs = {4096, {{"4.1.0", 30}, {"4.0.2", 30}, {"3.14.2", 20}, {"3.11.1", 15}, {"3.6.0", 5}}};
  static const ModelInfo kX30 = {3072, kPolyOs.versions};
  static const ModelInfo kCisco = {4096, {{"RoomOS 11.5.2.4", 40}, {"RoomOS 10.19.1.2", 30}, {"ce9.15.3", 30}}};
  static const ModelInfo kTrio = {1920, {{"8.0.3", 50}, {"7.2.4", 35}, {"7.1.2", 15}}};
  if (model == "RealPresence Group 310") return kGroup310;
  if (model == "Studio X30") return kX30;
  if (model == "G7500" || model == "Studio X50") return kPolyOs;
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
};
// Same order as FailureCodes().
constexpr std::array<FailureInfo, 6> kFailures = {{
    {35, 1, 4},    // 486 busy: rejected at once
    {25, 20, 30},  // 480: rang, nobody there
    {12, 3, 15},   // 603 decline: user pressed reject
    {10, 0, 1},    // 404: unknown alias
    {10, 32, 32},  // 408: SIP timer B
    {8, 0, 2},     // 503: no resources
}};
constexpr int kFailurePerMille = 60;  // ~6% of calls fail
constexpr int kH323PerMille = 200;    // ~80% SIP
constexpr int kVmrEventPerMille = 400;

// Relative event rate per local hour of day, per mille of the peak. Two peaks
// (10:00 and 14:00) with a lunch dip, near zero at night.
constexpr std::array<int, 24> kHourWeight = {5,   3,    3,   3,   5,   10,  30,  120, 450, 800, 1000, 850,
                                             500, 750,  950, 850, 650, 350, 150, 70,  40,  25,  15,  8};
constexpr int kWeekendPerMille = 100;
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

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's
// civil_from_days), so formatting needs no time-zone database.
void CivilFromDays(int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
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

Organisation MakeOrganisation(uint64_t seed, std::vector<int>& site_counts) {
  Rng rng(Hash({seed, 0x6f7267 /* "org" */}));
  Organisation org;
  static const std::vector<std::pair<std::string, int>> kDomains = {
      {"example.org", 1}, {"example.com", 1}, {"example.net", 1}};
  org.domain = rng.PickWeighted(kDomains);

  // Sites: the HQ plus 3-5 others drawn without replacement.
  std::vector<int> catalogue(kSiteCatalogue.size() - 1);
  for (size_t i = 0; i < catalogue.size(); ++i) catalogue[i] = static_cast<int>(i + 1);
  for (size_t i = catalogue.size() - 1; i > 0; --i) std::swap(catalogue[i], catalogue[rng.Below(i + 1)]);
  int n_sites = 4 + static_cast<int>(rng.Below(3));
  std::vector<int> chosen = {0};
  chosen.insert(chosen.end(), catalogue.begin(), catalogue.begin() + (n_sites - 1));
  for (int c : chosen) {
    const auto& t = kSiteCatalogue[static_cast<size_t>(c)];
    org.sites.push_back({t.name, t.utc_offset_minutes, t.number_prefix, 10 + 10 * c});
  }

  // Endpoints per site: the HQ is the biggest; every site has at least 4.
  int n_endpoints = 40 + static_cast<int>(rng.Below(41));
  std::vector<int> weights = {30};
  for (int i = 1; i < n_sites; ++i) weights.push_back(10 + static_cast<int>(rng.Below(15)));
  int total_weight = 0;
  for (int w : weights) total_weight += w;
  site_counts.assign(static_cast<size_t>(n_sites), 0);
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
      }
      used_names.insert(d.name);
      d.version = rng.PickWeighted(Model(d.model).versions);
      d.number = site.number_prefix + ZeroPad(number, tmpl.suffix_digits);
      number += tmpl.suffix_digits == 2 ? 1 : 1 + rng.Below(3);
      d.sip_uri = "sip:" + Slug(d.name) + "@" + org.domain;
      d.ip = "10." + std::to_string(site.subnet) + "." + (d.room ? "20." : "1.") + std::to_string(10 + i);
      org.endpoints.push_back(std::move(d));
    }
  }

  org.mcu.name = "RMX 2000 - " + org.sites[0].name;
  org.mcu.model = "RealPresence Collaboration Server 2000";
  org.mcu.version = "8.10.2";
  org.mcu.ip = "10." + std::to_string(org.sites[0].subnet) + ".0.20";
  org.mcu.site = 0;
  int n_vmrs = 8 + static_cast<int>(rng.Below(13));
  uint64_t vmr = 1000 + rng.Below(50);
  for (int i = 0; i < n_vmrs; ++i) {
    org.vmrs.push_back(std::to_string(vmr));
    vmr += 1 + rng.Below(4);
  }
  return org;
}

}  // namespace

// ---------------------------------------------------------------------------

const std::vector<std::string>& FailureCodes() {
  static const std::vector<std::string> kCodes = {"486:BUSY HERE",  "480:TEMPORARILY UNAVAILABLE",
                                                  "603:DECLINE",    "404:NOT FOUND",
                                                  "408:REQUEST TIMEOUT", "503:SERVICE UNAVAILABLE"};
  return kCodes;
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
  std::vector<int> counts;
  Organisation org = MakeOrganisation(options.seed, counts);
  std::unique_ptr<Workload> w(new Workload(options, std::move(org)));
  w->site_endpoint_counts_ = std::move(counts);
  w->BuildHistory();
  return w;
}

Workload::Workload(const WorkloadOptions& options, Organisation org) : options_(options), org_(std::move(org)) {}

Leg Workload::Originator(const Call& call) const {
  const Device& d = org_.endpoints[static_cast<size_t>(call.originator)];
  return {&d, d.number, d.sip_uri, &org_.sites[static_cast<size_t>(d.site)]};
}

Leg Workload::Destination(const Call& call) const {
  if (call.type == CallType::kVmr) {
    const std::string& vmr = org_.vmrs[static_cast<size_t>(call.destination)];
    return {&org_.mcu, vmr, "sip:" + vmr + "@" + org_.domain, &org_.sites[0]};
  }
  const Device& d = org_.endpoints[static_cast<size_t>(call.destination)];
  return {&d, d.number, d.sip_uri, &org_.sites[static_cast<size_t>(d.site)]};
}

void Workload::GenerateMinutes(uint64_t layer, int64_t from_min, int64_t to_min, std::vector<Call>& out) const {
  // Probability table per site and local hour of the week (0 = Sunday 00:00).
  std::vector<std::array<uint64_t, 168>> p(org_.sites.size());
  for (size_t s = 0; s < org_.sites.size(); ++s)
    for (int h = 0; h < 168; ++h) {
      int day = h / 24;
      uint64_t weekly = (day == 0 || day == 6) ? kWeekendPerMille : 1000;
      p[s][static_cast<size_t>(h)] = static_cast<uint64_t>(site_endpoint_counts_[s]) * kBaseRate *
                                     static_cast<uint64_t>(kHourWeight[static_cast<size_t>(h % 24)]) / 1000 *
                                     weekly / 1000;
    }
  for (int64_t m = from_min; m < to_min; ++m) {
    for (size_t s = 0; s < org_.sites.size(); ++s) {
      uint64_t h = Hash({options_.seed, layer, static_cast<uint64_t>(m), s});
      int64_t local_min = m + org_.sites[s].utc_offset_minutes;
      // 1970-01-01 was a Thursday (4 with Sunday = 0).
      int64_t day = FloorDiv(local_min, 1440);
      int64_t hour_of_week = ((day + 4) % 7 + 7) % 7 * 24 + (local_min - day * 1440) / 60;
      if ((h & 0xFFFFFFFFULL) >= p[s][static_cast<size_t>(hour_of_week)]) continue;
      GenerateEvent(Mix64(h), static_cast<int>(s), m * 60 + static_cast<int64_t>((h >> 32) % 60), out);
    }
  }
}

void Workload::GenerateEvent(uint64_t event_hash, int site, int64_t start_unix, std::vector<Call>& out) const {
  Rng rng(event_hash);
  // Endpoints of this site are contiguous in org_.endpoints.
  int first = 0;
  for (int s = 0; s < site; ++s) first += site_endpoint_counts_[static_cast<size_t>(s)];
  int count = site_endpoint_counts_[static_cast<size_t>(site)];
  int n_all = static_cast<int>(org_.endpoints.size());
  auto pick_peer = [&](int same_site_per_mille) {
    if (rng.PerMille(same_site_per_mille)) return first + static_cast<int>(rng.Below(static_cast<uint64_t>(count)));
    return static_cast<int>(rng.Below(static_cast<uint64_t>(n_all)));
  };
  auto max_rate = [&](int endpoint) { return Model(org_.endpoints[static_cast<size_t>(endpoint)].model).max_kbps; };
  auto make_call = [&](CallType type, int orig, int dest, int64_t start, int64_t duration, int cap_kbps) {
    Call c;
    auto [hi, lo] = UuidBits(rng.Next(), rng.Next());
    c.key.id_hi = hi;
    c.key.id_lo = lo;
    c.type = type;
    c.originator = orig;
    c.destination = dest;
    c.start_unix = start;
    c.signaling = rng.PerMille(kH323PerMille) ? Signaling::kH323 : Signaling::kSip;
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

  int organiser = first + static_cast<int>(rng.Below(static_cast<uint64_t>(count)));
  if (!rng.PerMille(kVmrEventPerMille)) {
    int dest = organiser;
    while (dest == organiser) dest = pick_peer(550);
    int64_t duration = SampleDuration(rng);
    out.push_back(make_call(CallType::kPointToPoint, organiser, dest, start_unix, duration,
                            std::min(max_rate(organiser), max_rate(dest))));
    return;
  }

  // A VMR meeting: 2-6 distinct participants dial the same VMR around the
  // start; most stay to the end, some leave early.
  static const std::vector<std::pair<int, int>> kParticipants = {{2, 30}, {3, 30}, {4, 20}, {5, 12}, {6, 8}};
  int n = rng.PickWeighted(kParticipants);
  std::vector<int> people = {organiser};
  for (int guard = 0; static_cast<int>(people.size()) < n && guard < 100; ++guard) {
    int p = pick_peer(600);
    if (std::find(people.begin(), people.end(), p) == people.end()) people.push_back(p);
  }
  int vmr = static_cast<int>(rng.Below(org_.vmrs.size()));
  auto [conf_hi, conf_lo] = UuidBits(rng.Next(), rng.Next());
  int64_t meeting = SampleDuration(rng);
  for (int person : people) {
    int64_t join = start_unix + rng.Between(0, 240);
    int64_t leave = rng.PerMille(250) ? start_unix + meeting * rng.Between(30, 90) / 100
                                      : start_unix + meeting + rng.Between(-300, 120);
    Call c = make_call(CallType::kVmr, person, vmr, join, leave - join, max_rate(person));
    c.conf_hi = conf_hi;
    c.conf_lo = conf_lo;
    out.push_back(c);
  }
}

void Workload::BuildHistory() {
  const int64_t origin = options_.origin_unix;
  const int64_t origin_min = FloorDiv(origin + 59, 60);
  auto ends_after_origin = [origin](const Call& c) { return c.key.end_unix > origin; };
  if (!options_.total_calls) {
    GenerateMinutes(0, origin_min - int64_t{options_.history_days} * 1440, origin_min, history_);
    history_.erase(std::remove_if(history_.begin(), history_.end(), ends_after_origin), history_.end());
  } else if (*options_.total_calls > 0) {
    // An exact count: draw independent layers of the same process over the
    // window until there are enough, then keep the N calls with the smallest
    // ids. Ids are uniform hashes, so this is an unbiased thinning that keeps
    // the diurnal and weekly shape.
    const size_t n = static_cast<size_t>(*options_.total_calls);
    const int64_t from_min = origin_min - int64_t{std::max(options_.history_days, 1)} * 1440;
    for (uint64_t layer = 0; history_.size() < n && layer < 1000000; ++layer) {
      size_t before = history_.size();
      GenerateMinutes(layer, from_min, origin_min, history_);
      history_.erase(std::remove_if(history_.begin() + static_cast<std::ptrdiff_t>(before), history_.end(),
                                    ends_after_origin),
                     history_.end());
    }
    auto by_id = [](const Call& a, const Call& b) {
      return std::tie(a.key.id_hi, a.key.id_lo) < std::tie(b.key.id_hi, b.key.id_lo);
    };
    if (history_.size() > n) {
      std::nth_element(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(n), history_.end(), by_id);
      history_.resize(n);
    }
  }
  std::sort(history_.begin(), history_.end(), [](const Call& a, const Call& b) { return a.key < b.key; });
  calls_ = history_;
  generated_until_min_ = origin_min;
}

void Workload::AdvanceLocked(int64_t now_unix) {
  if (!options_.live) return;
  // Never drop the configured history itself.
  const int64_t retention_s = int64_t{std::max(options_.retention_days, options_.history_days + 1)} * 86400;
  const int64_t to_min = FloorDiv(now_unix, 60) + 1;
  if (to_min > generated_until_min_) {
    // Slots older than the retention window would be dropped at once: skip
    // them, so a clock jump cannot make us generate (or hold) years of calls.
    int64_t from_min = std::max(generated_until_min_, to_min - retention_s / 60 - 1440);
    std::vector<Call> fresh;
    GenerateMinutes(0, from_min, to_min, fresh);
    std::sort(fresh.begin(), fresh.end(), [](const Call& a, const Call& b) { return a.key < b.key; });
    size_t mid = calls_.size();
    calls_.insert(calls_.end(), fresh.begin(), fresh.end());
    std::inplace_merge(calls_.begin(), calls_.begin() + static_cast<std::ptrdiff_t>(mid), calls_.end(),
                       [](const Call& a, const Call& b) { return a.key < b.key; });
    generated_until_min_ = to_min;
  }
  auto keep_from = std::partition_point(calls_.begin(), calls_.end(), [&](const Call& c) {
    return c.key.end_unix < now_unix - retention_s;
  });
  calls_.erase(calls_.begin(), keep_from);
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

}  // namespace parley::devsim
