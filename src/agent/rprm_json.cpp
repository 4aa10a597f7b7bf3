#include "agent/rprm_json.h"

#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <cmath>
#include <memory>

#include "agent/dma_cdr.h"
#include "agent/device_json.h"
#include "agent/dma_json.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

std::string_view View(const json::string& s) { return {s.data(), s.size()}; }

std::string StringAt(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(View(v->get_string()));
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return {};
}

std::string FirstString(const json::object& obj, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys)
    if (std::string s = StringAt(obj, k); !s.empty()) return s;
  return {};
}

// A number given as a JSON number or a numeric string; nullopt when absent,
// empty or unreadable.
std::optional<double> NumberAt(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  double d = 0;
  if (v->is_double()) {
    d = v->get_double();
  } else if (v->is_int64()) {
    d = static_cast<double>(v->get_int64());
  } else if (v->is_uint64()) {
    d = static_cast<double>(v->get_uint64());
  } else if (v->is_string()) {
    std::string_view s = View(v->get_string());
    if (s.empty() || s.size() > 32) return std::nullopt;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<int64_t> IntAt(const json::object& obj, std::string_view key) {
  auto d = NumberAt(obj, key);
  if (!d || *d < 0 || *d > 1e15 || std::floor(*d) != *d) return std::nullopt;
  return static_cast<int64_t>(*d);
}

// A metric within [lo, hi]; out of range means the device sent garbage: absent.
std::optional<double> Metric(const json::object& obj, std::string_view key, double lo, double hi) {
  auto d = NumberAt(obj, key);
  if (!d || *d < lo || *d > hi) return std::nullopt;
  return d;
}

Result<std::unique_ptr<DeviceItemList>> ParsePage(std::string_view text, std::string_view list_key,
                                                  std::string_view item_key) {
  return ParseDeviceItemList(text, list_key, item_key, /*paged=*/true);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string DeviceType(std::string_view raw) {
  std::string t = Lower(std::string(raw));
  if (t.empty()) return {};
  if (t.find("mcu") != std::string::npos || t.find("rmx") != std::string::npos ||
      t.find("collaboration server") != std::string::npos)
    return "mcu";
  if (t.find("gateway") != std::string::npos) return "gateway";
  if (t.find("dma") != std::string::npos || t.find("resource manager") != std::string::npos) return "call_server";
  if (t.find("phone") != std::string::npos || t.find("vvx") != std::string::npos ||
      t.find("trio") != std::string::npos)
    return "phone";
  return "endpoint";
}

std::string DeviceStatus(const json::object& d) {
  const json::value* online = d.if_contains("online");
  if (online && online->is_bool()) return online->get_bool() ? "online" : "offline";
  std::string s = Lower(FirstString(d, {"status", "deviceStatus", "connectionStatus"}));
  if (s == "online" || s == "up" || s == "registered" || s == "active" || s == "in_call" || s == "in a call")
    return "online";
  if (s == "offline" || s == "down" || s == "unregistered" || s == "inactive") return "offline";
  return "unknown";
}

std::optional<int64_t> Duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) && s.size() <= 12) {
    int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  return ParseDmaDuration(s);
}

// The quality an endpoint measured in one direction ("Tx" or "Rx").
std::optional<wire::QualitySample> Quality(const json::object& cdr, std::string_view dir) {
  std::string d(dir);
  wire::QualitySample q;
  q.party = "participant";
  q.direction = dir == "Tx" ? "tx" : "rx";
  q.packet_loss_pct_avg = Metric(cdr, "avgPercentPacketLoss" + d, 0, 100);
  q.packet_loss_pct_max = Metric(cdr, "maxPercentPacketLoss" + d, 0, 100);
  q.latency_ms_avg = Metric(cdr, "avgLatency" + d, 0, 1e7);
  q.latency_ms_max = Metric(cdr, "maxLatency" + d, 0, 1e7);
  q.jitter_ms_avg = Metric(cdr, "avgJitter" + d, 0, 1e7);
  q.jitter_ms_max = Metric(cdr, "maxJitter" + d, 0, 1e7);
  if (!q.packet_loss_pct_avg && !q.packet_loss_pct_max && !q.latency_ms_avg && !q.latency_ms_max &&
      !q.jitter_ms_avg && !q.jitter_ms_max)
    return std::nullopt;
  // RPRM reports one set of figures per direction for the call: we file it
  // under video when the call carried video, else audio.
  std::string video = StringAt(cdr, "videoProtocol" + d);
  std::string lv = Lower(video);
  bool has_video = !video.empty() && lv != "none" && lv != "off" && lv != "n/a";
  q.media = has_video ? "video" : "audio";
  q.codec = has_video ? video : StringAt(cdr, "audioProtocol" + d);
  if (q.codec.size() > 64) q.codec.resize(64);
  return q;
}

}  // namespace

std::optional<int64_t> ParseRprmTime(std::string_view date, std::string_view time) {
  if (auto ms = ParseDmaTimeMs(time)) return *ms >= 0 ? *ms / 1000 : -((-*ms + 999) / 1000);
  if (date.size() != 10 || time.size() < 8) return std::nullopt;
  std::string combined = std::string(date) + "T" + std::string(time);
  bool has_zone = time.find_first_of("Zz+-", 8) != std::string_view::npos;
  if (!has_zone) combined += "Z";
  auto ms = ParseDmaTimeMs(combined);
  if (!ms) return std::nullopt;
  return *ms >= 0 ? *ms / 1000 : -((-*ms + 999) / 1000);
}

Result<RprmPage<wire::DeviceRecord>> ParseRprmDevices(std::string_view text, const std::string& source,
                                                      int64_t observed_at) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParsePage(text, kRprmDevices.list_key, kRprmDevices.item_key));
  RprmPage<wire::DeviceRecord> out;
  out.next = list->next;
  out.items = list->items->size();
  for (const json::value& item : *list->items) {
    const json::object* d = item.if_object();
    if (!d) {
      out.skipped.push_back({"", "device is not a JSON object"});
      continue;
    }
    wire::DeviceRecord r;
    r.source = source;
    r.id = FirstString(*d, {"deviceIdentifier", "deviceId", "id"});
    if (r.id.empty()) {
      out.skipped.push_back({"", "missing deviceIdentifier"});
      continue;
    }
    r.observed_at = observed_at;
    r.name = FirstString(*d, {"deviceName", "systemName", "name"});
    std::string raw_type = FirstString(*d, {"deviceType", "type"});
    r.model = FirstString(*d, {"deviceModel", "model", "productId"});
    r.type = DeviceType(raw_type.empty() ? r.model : raw_type);
    r.version = FirstString(*d, {"softwareVersion", "deviceVersion", "version"});
    r.serial = FirstString(*d, {"serialNumber", "serial"});
    r.ip = FirstString(*d, {"ipAddress", "ip"});
    r.site = FirstString(*d, {"site", "siteName"});
    r.owner = FirstString(*d, {"owner", "deviceOwner"});
    r.mac = FirstString(*d, {"macAddress", "mac"});            // our assumption
    r.timezone = FirstString(*d, {"timeZone", "timezone"});     // our assumption
    r.registration = FirstString(*d, {"registrationStatus"});
    r.status = DeviceStatus(*d);
    out.records.push_back(std::move(r));
  }
  return out;
}

Result<RprmPage<wire::ParticipantRecord>> ParseRprmEndpointCdrs(std::string_view text, const std::string& source) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParsePage(text, kRprmEndpointCdrs.list_key, kRprmEndpointCdrs.item_key));
  RprmPage<wire::ParticipantRecord> out;
  out.next = list->next;
  out.items = list->items->size();
  for (const json::value& item : *list->items) {
    const json::object* c = item.if_object();
    if (!c) {
      out.skipped.push_back({"", "CDR is not a JSON object"});
      continue;
    }
    wire::ParticipantRecord r;
    r.source = source;
    r.call_id = StringAt(*c, "callId");
    std::string endpoint = FirstString(*c, {"serialNumber", "name", "ipAddress"});
    r.id = FirstString(*c, {"cdrId", "id"});
    if (r.id.empty() && !r.call_id.empty() && !endpoint.empty()) r.id = r.call_id + "|" + endpoint;
    auto skip = [&](std::string reason) { out.skipped.push_back({r.id.empty() ? r.call_id : r.id, std::move(reason)}); };
    if (r.id.empty()) {
      skip("missing callId (or the endpoint's serialNumber/name)");
      continue;
    }
    // A point-to-point call has no conference: its call id groups both ends.
    r.conference_id = StringAt(*c, "conferenceId");
    if (r.conference_id.empty()) r.conference_id = r.call_id;
    if (r.conference_id.empty()) {
      skip("missing conferenceId and callId");
      continue;
    }
    // startDateTime/endDateTime carry the offset; the separate date and
    // time-of-day fields are local time without one.
    std::string start_full = StringAt(*c, "startDateTime");
    std::string end_full = StringAt(*c, "endDateTime");
    auto start = !start_full.empty() ? ParseRprmTime("", start_full)
                                     : ParseRprmTime(StringAt(*c, "startDate"), StringAt(*c, "startTime"));
    auto end = !end_full.empty() ? ParseRprmTime("", end_full)
                                 : ParseRprmTime(StringAt(*c, "endDate"), StringAt(*c, "endTime"));
    if (!start) {
      skip("startDate/startTime is not a time");
      continue;
    }
    if (!end) {
      skip("endDate/endTime is not a time");
      continue;
    }
    if (*end < *start) {
      skip("end is before start");
      continue;
    }
    r.start = *start;
    r.end = *end;
    std::string duration = StringAt(*c, "callDuration");
    if (duration.empty()) {
      r.duration_s = r.end - r.start;
    } else {
      auto d = Duration(duration);
      if (!d) {
        skip("callDuration is neither seconds nor HH:MM:SS");
        continue;
      }
      r.duration_s = std::min(*d, r.end - r.start + 1);
    }
    std::string transport = StringAt(*c, "transportType");
    std::string lt = Lower(transport);
    r.protocol = lt == "h323" || lt == "h.323" ? "H.323" : lt == "sip" ? "SIP" : transport;
    std::string disconnect = StringAt(*c, "disconnectInfo");
    std::string q850 = StringAt(*c, "q850Cause");
    r.disconnect_reason = disconnect;
    if (!q850.empty()) r.disconnect_reason += (disconnect.empty() ? "" : " ") + std::string("(Q.850 ") + q850 + ")";
    r.party.name = StringAt(*c, "name");
    r.party.model = StringAt(*c, "model");
    r.party.ip = StringAt(*c, "ipAddress");
    r.party.number = FirstString(*c, {"endpointAlias", "endpointAdditionalAlias"});
    r.party.uri = StringAt(*c, "endpointTransportAddress");
    r.party.site = FirstString(*c, {"site", "area"});
    r.party.version = FirstString(*c, {"softwareVersion"});
    for (std::string_view dir : {"Tx", "Rx"})
      if (auto q = Quality(*c, dir)) r.quality.push_back(std::move(*q));
    out.records.push_back(std::move(r));
  }
  return out;
}

Result<RprmPage<wire::ConferenceRecord>> ParseRprmConferenceCdrs(std::string_view text, const std::string& source) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParsePage(text, kRprmConferenceCdrs.list_key, kRprmConferenceCdrs.item_key));
  RprmPage<wire::ConferenceRecord> out;
  out.next = list->next;
  out.items = list->items->size();
  for (const json::value& item : *list->items) {
    const json::object* c = item.if_object();
    if (!c) {
      out.skipped.push_back({"", "CDR is not a JSON object"});
      continue;
    }
    wire::ConferenceRecord r;
    r.source = source;
    r.id = FirstString(*c, {"conferenceId", "conferenceIdentifier", "id"});
    auto skip = [&](std::string reason) { out.skipped.push_back({r.id, std::move(reason)}); };
    if (r.id.empty()) {
      skip("missing conferenceId");
      continue;
    }
    std::string date = StringAt(*c, "date");
    std::string actual_start = StringAt(*c, "actualStart");
    std::string actual_stop = StringAt(*c, "actualStop");
    std::string sched_start = StringAt(*c, "scheduledStart");
    const bool no_show = actual_start.empty() && actual_stop.empty();
    if (!no_show) {
      auto start = ParseRprmTime(date, actual_start);
      auto end = ParseRprmTime(date, actual_stop);
      if (!start || !end) {
        skip("actualStart/actualStop is not a time");
        continue;
      }
      if (*end < *start) {
        skip("actualStop is before actualStart");
        continue;
      }
      r.start = *start;
      r.end = *end;
    }
    std::string sched_stop = StringAt(*c, "scheduledStop");
    if (!sched_start.empty() || !sched_stop.empty()) {
      auto ss = ParseRprmTime(date, sched_start);
      auto se = ParseRprmTime(date, sched_stop);
      if (!ss || !se || *se < *ss) {
        skip("scheduledStart/scheduledStop is not a time range");
        continue;
      }
      r.scheduled_start = ss;
      r.scheduled_end = se;
    }
    if (no_show) {
      // Scheduled, and nobody joined: a zero-length conference at its
      // scheduled start with no participants (scheduled vs actual: a no-show).
      if (!r.scheduled_start) {
        skip("neither actual nor scheduled times");
        continue;
      }
      r.start = r.end = *r.scheduled_start;
    }
    r.name = StringAt(*c, "conferenceName");
    r.room = StringAt(*c, "conferenceAlias");
    r.mcu = FirstString(*c, {"mcuName", "mcu"});
    if (const json::value* p = c->if_contains("totalActualParticipants"); p && !p->is_null()) {
      auto n = IntAt(*c, "totalActualParticipants");
      if (!n) {
        skip("totalActualParticipants is not a non-negative integer");
        continue;
      }
      r.participant_count = *n;
    } else if (const json::value* parts = c->if_contains("participants"); parts && parts->is_array()) {
      r.participant_count = static_cast<int64_t>(parts->get_array().size());
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

}  // namespace parley::agent
