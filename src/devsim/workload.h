// Workload: the deterministic organisation, calls and meetings that
// parley-devsim serves. Everything derives from one 64-bit seed (and the
// origin time) through our own integer PRNG (splitmix64), never through
// <random> distributions, libm or the machine's tz database, so one seed
// yields byte-identical data on every platform and library version.
//
// The model (docs/devsim.md "Workload model"):
//   - an organisation of 4-6 sites (IANA time zone with its DST rule, number
//     range, 10.x subnet, network quality; one site has a poor WAN, one is a
//     new office opened months ago) and 40-80 endpoints (personal devices
//     named after people, meeting rooms) of several models and software
//     versions, each deployed at some date (the organisation grows: about a
//     third were added during the last year) and a few gone offline; a
//     DMA-hosted MCU with licensed ports, and VMRs;
//   - "events" start in per-(minute, site) slots with a probability that
//     follows the site's active endpoints, local business hours (peaks ~10:00
//     and ~14:00), the week (weekend ~10 % of a weekday) and holidays (fixed
//     company days plus a seeded list per site and year); an event is a
//     point-to-point call or a VMR meeting (ad hoc, or scheduled with a
//     scheduled start and stop) whose participant calls share a confUuid;
//   - media quality per call, direction and endpoint follows the sites'
//     networks, home networks, the distance between sites and congestion;
//   - the DMA's concurrent-call licence and the MCU's licensed ports are
//     sized so that the organisation as it is at origin just reaches them;
//     a call beyond either is refused (503), decided in event order;
//   - history = calls and meetings from slots before `origin_unix` that were
//     over by it; live mode adds slots at and after origin, generated lazily
//     as the caller's "now" advances (and keeps what was still running at
//     origin), so calls start and end in real time.
//
// Calls are ordered by CallKey (end time, then call id). A call is visible to
// ListEnded/CountEnded only once end <= now.
//
// Thread-safety: all member functions may be called concurrently (one
// internal mutex guards the lazily grown lists). Memory: live mode keeps at
// most `retention_days` of ended calls and meetings.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "devsim/timezone.h"

namespace parley::devsim {

struct WorkloadOptions {
  uint64_t seed = 42;
  int64_t origin_unix = 0;               // the emulated "now" at start
  int history_days = 2;                  // 0..400
  std::optional<int64_t> total_calls;    // exact history size (0..1,000,000)
  bool live = false;                     // keep generating after origin
  int retention_days = 90;               // live mode: drop calls older than this
};

struct Site {
  std::string name;            // "London HQ"
  TimeZone tz;                 // "Europe/London", DST aware
  std::string number_prefix;   // E.164 prefix, "+442079460"
  int subnet = 0;              // second octet of 10.<subnet>.x.y
  std::string territory;       // "EMEA", "AMER" or "APAC"
  int catalogue_id = 0;        // keys holidays and inter-site latency
  int loss_bp = 0;             // the site network's packet loss, 1/100 %
  int jitter_ms = 0;           // the site network's jitter
  bool poor_network = false;   // a congested WAN: worse, more so in business hours
  int64_t opened_unix = std::numeric_limits<int64_t>::min();  // a new office: when it opened

  int OffsetAt(int64_t unix_seconds) const { return UtcOffsetMinutes(tz, unix_seconds); }
};

struct Device {
  int id = 0;                // deviceIdentifier; endpoints ascend in order of deployment
  std::string name;          // "Alice Smith" or "Munich - Isar"
  std::string model;         // "RealPresence Group 500"
  std::string version;       // "6.2.2"
  std::string number;        // E.164 alias "+442079460123"
  std::string sip_uri;       // "sip:alice.smith@example.org"
  std::string ip;            // "10.10.1.23"
  int site = 0;              // index into Organisation::sites
  bool room = false;
  std::string vendor;        // "Poly" or "Cisco"
  std::string device_type;   // RPRM's device type: "Group Series", "Studio X", ...
  std::string serial;        // serial number
  std::string mac;           // "00:04:f2:12:34:56"
  std::string owner;         // user name "alice.smith"; "" for rooms and infrastructure
  std::string department;    // the user's CDR pass-through value ("Sales, EMEA"); "" for rooms
  bool supports_h323 = true;
  int access_loss_bp = 0;    // the device's own access network (home/VPN for remote workers)
  int access_jitter_ms = 0;
  int access_latency_ms = 0;
  bool remote = false;       // a personal device on a home network
  int64_t deployed_unix = std::numeric_limits<int64_t>::min();
  int64_t offline_since_unix = std::numeric_limits<int64_t>::max();

  bool DeployedAt(int64_t t) const { return deployed_unix <= t; }
  bool ActiveAt(int64_t t) const { return deployed_unix <= t && t < offline_since_unix; }
  bool RprmManaged() const { return vendor == "Poly"; }  // RPRM manages Poly endpoints only
};

struct Vmr {
  std::string number;               // "1063"
  int owner = 0;                    // endpoint index of the person who owns it
  bool local_user = false;          // owner is a local (non-AD) DMA user
  std::string class_of_service;     // "GOLD", "SILVER", "BRONZE"
};

struct Organisation {
  std::string domain;               // "example.org"
  std::string owner_domain;         // AD domain of users: "EXAMPLE"
  std::string cluster;              // the DMA cluster's name
  std::vector<Site> sites;          // sites[0] is the HQ (the DMA's and MCU's site)
  std::vector<Device> endpoints;    // grouped by site
  Device mcu;                       // destination leg of VMR calls
  Device dma;                       // the call server itself (inventory only)
  std::vector<Vmr> vmrs;
  int licensed_video_ports = 0;     // MCU ports, HD720p30 units
  int licensed_voice_ports = 0;
  int licensed_calls = 0;           // DMA concurrent-call licence
};

// Ordering key of a call: end time, then call id (the id's two halves compare
// exactly as its lowercase hex string does).
struct CallKey {
  int64_t end_unix = 0;
  uint64_t id_hi = 0;
  uint64_t id_lo = 0;
  auto operator<=>(const CallKey&) const = default;
};

enum class CallType : uint8_t { kPointToPoint, kVmr };
enum class Signaling : uint8_t { kSip, kH323 };

struct Call {
  CallKey key;                 // key.end_unix is the end time
  int64_t start_unix = 0;
  int64_t duration_s = 0;      // connected time; 0 for failed calls
  CallType type = CallType::kPointToPoint;
  Signaling signaling = Signaling::kSip;
  int32_t originator = 0;      // endpoint index
  int32_t destination = 0;     // endpoint index (PT-PT) or VMR index (VMR)
  int32_t bit_rate_kbps = 0;
  int8_t failure = -1;         // index into FailureCodes(), -1 = success
  bool chair = false;          // the meeting organiser's call (userRole chairperson)
  uint64_t conf_hi = 0, conf_lo = 0;  // VMR meeting id; 0/0 for PT-PT

  bool failed() const { return failure >= 0; }
  bool operator==(const Call&) const = default;
};

// One invited person of a meeting.
struct Participant {
  int32_t endpoint = 0;
  bool called = false;      // dialled in (has a call, connected or failed)
  bool connected = false;   // the call connected
  int64_t join_unix = 0;    // call start (0 if never called)
  int64_t leave_unix = 0;   // call end
  bool operator==(const Participant&) const = default;
};

// A VMR meeting. key.id_* is the confUuid; key.end_unix is when it was over:
// the last participant's leave time, or for a scheduled meeting nobody
// attended, its scheduled stop.
struct Meeting {
  CallKey key;
  int32_t vmr = 0;
  int32_t organiser = 0;       // endpoint index
  bool scheduled = false;      // booked in RPRM (scheduledStart/Stop); otherwise ad hoc
  bool recording = false;
  int16_t subject = 0;         // index into MeetingSubjects()
  int64_t sched_start = 0, sched_end = 0;  // scheduled meetings only
  int64_t first_join = 0, last_leave = 0;  // over connected calls; 0 if none connected
  int16_t part_count = 0;                  // most connected calls at once (partCount)
  int16_t max_video_ports = 0;             // most MCU ports at once (maxResourcesUsed)
  int8_t n_participants = 0;
  std::array<Participant, 8> participants{};  // the invited, organiser first

  bool connected() const { return part_count > 0; }
  bool operator==(const Meeting&) const = default;
};

// Media quality of one direction of a call, as an endpoint measures it.
struct PathQuality {
  int loss_bp = 0;          // average packet loss, 1/100 %
  int max_loss_bp = 0;      // worst interval
  int latency_ms = 0;       // average one-way latency
  int max_latency_ms = 0;
  int jitter_ms = 0;        // average jitter
  int max_jitter_ms = 0;
  bool operator==(const PathQuality&) const = default;
};

// One endpoint's usage record of one call (RPRM endpoint usage CDR).
struct EndpointCdr {
  CallKey key;              // call end, then the CDR's own id
  Call call;
  bool originator_side = true;
};

// "486:BUSY HERE", ... (SIP cause strings as in DMA's failureSignalingCode).
const std::vector<std::string>& FailureCodes();
// Q.850 cause and its text for a call outcome (16 "Normal call clearing"
// for a successful call; per FailureCodes() index otherwise).
int Q850Cause(const Call& call);
std::string_view Q850Text(int cause);
// Meeting subjects (conference names), indexed by Meeting::subject.
const std::vector<std::string>& MeetingSubjects();
// MCU ports a connected VMR call uses, in HD720p30 units (1080p uses two).
int PortCost(const Call& call);
// "1080p", "720p", "576p" or "CIF" for a bit rate.
std::string_view VideoFormat(int bit_rate_kbps);

// 8-4-4-4-12 lowercase hex of a 128-bit id, and back (nullopt if malformed).
std::string FormatUuid(uint64_t hi, uint64_t lo);
std::optional<std::pair<uint64_t, uint64_t>> ParseUuid(std::string_view text);

// "YYYY-MM-DDTHH:MM:SS.000+HH:MM": the DMA's local-time-with-offset format.
std::string FormatDmaTime(int64_t unix_seconds, int utc_offset_minutes);
// The same in a zone, with the offset in force at that instant.
std::string FormatZoned(int64_t unix_seconds, const TimeZone& zone);
// "HH:MM:SS" (hours may exceed 23 for very long durations).
std::string FormatDuration(int64_t seconds);

// The leg of a call as the DMA reports it (originatorDetails or
// destinationDetails); for a VMR destination this is the MCU, addressed by
// the VMR number.
struct Leg {
  const Device* device = nullptr;  // points into the Organisation
  std::string number;              // E.164 or VMR number
  std::string uri;                 // SIP URI
  const Site* site = nullptr;
};

class Workload;

// One NDJSON line (no newline) describing a call for --print-expected:
// {"id","orig_name","orig_number","orig_uri","orig_ip","dest_name",
//  "dest_number","dest_uri","dest_ip","status","duration_s","start","end"}.
// Values as the agent maps them onto the wire (docs/formats/wire-v1.md):
// status "completed"/"failed", start/end in UTC ("...Z"), *_uri = the API's
// originator/destination (SIP URI, or the E.164 number for H.323 calls).
std::string ExpectedLine(const Workload& workload, const Call& call);

class Workload {
 public:
  // Validates options and builds the organisation and the history.
  static Result<std::unique_ptr<Workload>> Create(const WorkloadOptions& options);

  const WorkloadOptions& options() const { return options_; }
  const Organisation& org() const { return org_; }

  // Up to `limit` calls with end <= now_unix and key > *after (all, if no
  // `after`), ascending by key. *more is set to whether further ended calls
  // exist beyond the returned page. In live mode this first generates any
  // slots up to now_unix.
  std::vector<Call> ListEnded(int64_t now_unix, const std::optional<CallKey>& after, size_t limit, bool* more);
  // Number of calls with end <= now_unix still retained.
  size_t CountEnded(int64_t now_unix);
  // The history: every call that ended at or before origin, ascending.
  std::vector<Call> HistoryCalls() const { return history_; }
  // Meetings over by origin (ascending by key) that are a conference on the
  // DMA (connected) or a booking in RPRM (scheduled).
  std::vector<Meeting> HistoryMeetings() const { return history_meetings_; }

  // Live mode only (empty otherwise): connected calls in progress at now
  // (start <= now < end), ascending by (start, id); meetings with at least
  // one of them, ascending by (first join, id).
  std::vector<Call> ActiveCalls(int64_t now_unix);
  std::vector<Meeting> ActiveMeetings(int64_t now_unix);

  // For the CDR export: calls with from <= end < to and end <= now, and
  // connected meetings whose last participant left in that window, both
  // ascending by key. Returns false (and nothing) if more than max_calls
  // calls fall in the window.
  bool EndedInWindow(int64_t from_unix, int64_t to_unix, int64_t now_unix, size_t max_calls,
                     std::vector<Call>* calls, std::vector<Meeting>* meetings);

  // RPRM: endpoint usage CDRs (one per call per RPRM-managed endpoint, for
  // calls ended by now) with key > *after, ascending, at most `limit`; and
  // scheduled meetings over by now with key > *after.
  std::vector<EndpointCdr> ListEndpointCdrs(int64_t now_unix, const std::optional<CallKey>& after, size_t limit);
  std::vector<Meeting> ListScheduledMeetings(int64_t now_unix, const std::optional<CallKey>& after, size_t limit);

  Leg Originator(const Call& call) const;
  Leg Destination(const Call& call) const;
  const Site& SiteOf(const Device& device) const { return org_.sites[static_cast<size_t>(device.site)]; }
  // The DMA cluster's zone (the HQ's): CDR export times are in it.
  const TimeZone& ClusterZone() const { return org_.sites[0].tz; }

  // Quality of the media `device_side` sent (tx) and received (rx) in a
  // connected call; device_side is true for the originator's endpoint.
  PathQuality Quality(const Call& call, bool originator_side, bool transmit) const;
  // Packets lost in one direction over the call, from its rate and loss.
  static int64_t PacketsLost(const Call& call, int loss_bp);
  // Holidays of a site in a year, as days since 1970-01-01, ascending.
  std::vector<int64_t> Holidays(int site, int year) const;
  // The day factor (per mille of a normal weekday) of a site's local day.
  int DayFactor(int site, int64_t local_day) const;

 private:
  struct Sink {
    std::vector<Call>* calls;
    std::vector<Meeting>* meetings;
  };
  struct Admission;
  Workload(const WorkloadOptions& options, Organisation org);
  // Appends the calls and meetings of events starting in minutes
  // [from_min, to_min), in event order. With `freeze`, the organisation is
  // taken as it was at that time (used to size the licence), else as at each
  // event's start. With `admission`, calls beyond the licences are refused.
  void GenerateMinutes(uint64_t layer, int64_t from_min, int64_t to_min, Sink out,
                       std::optional<int64_t> freeze = std::nullopt, Admission* admission = nullptr) const;
  void GenerateEvent(uint64_t event_hash, int site, int64_t start_unix, int64_t active_at, Sink out,
                     Admission* admission) const;
  int ActiveEndpoints(int site, int64_t t) const;
  PathQuality Path(const Call& call, bool forward) const;
  void SizeLicence();
  void BuildHistory();
  void AdvanceLocked(int64_t now_unix);

  WorkloadOptions options_;
  Organisation org_;
  std::vector<int> site_first_;   // index of each site's first endpoint
  std::vector<int> site_count_;   // endpoints per site
  std::vector<std::vector<int64_t>> site_deploys_;   // sorted deployment times per site
  std::vector<std::vector<int64_t>> site_offlines_;  // sorted offline times per site
  std::vector<Call> history_;                 // immutable after Create
  std::vector<Meeting> history_meetings_;     // immutable after Create

  mutable std::mutex mu_;
  std::vector<Call> calls_;          // GUARDED_BY(mu_): sorted by key
  std::vector<Meeting> meetings_;    // GUARDED_BY(mu_): sorted by key
  int64_t generated_until_min_ = 0;  // GUARDED_BY(mu_): live slots done below this minute
};

}  // namespace parley::devsim
