#include "agent/dma_json.h"

#include <boost/json.hpp>

#include <cctype>
#include <charconv>
#include <memory>
#include <variant>

#include "agent/device_json.h"
#include "common/time_format.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

std::string_view View(const json::string& s) { return {s.data(), s.size()}; }

// The string at `key`, or "" when absent, null or not a string.
std::string StringAt(const json::object* obj, std::string_view key) {
  if (!obj) return {};
  const json::value* v = obj->if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string(View(v->get_string()));
}

const json::object* ObjectAt(const json::object* obj, std::string_view key) {
  if (!obj) return nullptr;
  const json::value* v = obj->if_contains(key);
  return v ? v->if_object() : nullptr;
}

bool IsAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

Result<std::unique_ptr<DeviceItemList>> ParseList(std::string_view text, std::string_view list_key,
                                                  std::string_view item_key) {
  return ParseDeviceItemList(text, list_key, item_key, /*paged=*/false);
}

// First alias that is a phone number: "+..." or all digits.
std::string FirstNumber(const json::object* details) {
  if (!details) return {};
  const json::value* aliases = details->if_contains("aliases");
  if (!aliases || !aliases->is_array()) return {};
  for (const json::value& a : aliases->get_array()) {
    if (!a.is_string()) continue;
    std::string_view s = View(a.get_string());
    if ((!s.empty() && s.front() == '+') || IsAllDigits(s)) return std::string(s);
  }
  return {};
}

wire::Party MapParty(const json::object& call, std::string_view side) {
  std::string prefix(side);  // "originator" or "destination"
  const json::object* details = ObjectAt(&call, prefix + "Details");
  wire::Party p;
  p.name = StringAt(details, "deviceName");
  if (p.name.empty()) p.name = StringAt(&call, prefix + "RegisteredName");
  p.uri = StringAt(&call, prefix);
  p.number = FirstNumber(details);
  p.ip = StringAt(details, "ipAddress");
  p.model = StringAt(details, "deviceModel");
  p.version = StringAt(details, "deviceVersion");
  p.site = StringAt(details, "site");
  return p;
}

std::optional<int64_t> IntegerAt(const json::object& obj, std::string_view key) {
  const json::value* v = obj.if_contains(key);
  if (!v || v->is_null()) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double() && v->get_double() >= 0 && v->get_double() < 1e15) return static_cast<int64_t>(v->get_double());
  return std::nullopt;
}

// Maps one call, or returns the reason it cannot be mapped.
std::variant<wire::CallRecord, std::string> MapCall(const json::object& call, const std::string& source) {
  wire::CallRecord r;
  r.source = source;
  r.id = StringAt(&call, "callIdentifier");
  if (r.id.empty()) return std::string("missing callIdentifier");
  std::string start = StringAt(&call, "startTime");
  std::string end = StringAt(&call, "endTime");
  auto start_s = ParseRfc3339(start);
  if (!start_s) return std::string(start.empty() ? "missing startTime" : "startTime is not an RFC 3339 time");
  auto end_s = ParseRfc3339(end);
  if (!end_s) return std::string(end.empty() ? "missing endTime" : "endTime is not an RFC 3339 time");
  if (*end_s < *start_s) return std::string("endTime is before startTime");
  r.start = *start_s;
  r.end = *end_s;
  if (call.contains("callDuration") && !call.at("callDuration").is_null()) {
    auto d = ParseDmaDuration(StringAt(&call, "callDuration"));
    if (!d) return std::string("callDuration is not HH:MM:SS");
    r.duration_s = *d;
  } else {
    r.duration_s = r.end - r.start;
  }
  r.cause = StringAt(&call, "failureSignalingCode");
  r.status = r.cause.empty() ? wire::CallStatus::kCompleted : wire::CallStatus::kFailed;
  r.protocol = StringAt(&call, "callSignaling");
  if (r.protocol == "H323") r.protocol = "H.323";
  r.call_type = StringAt(&call, "callType");
  auto bitrate = IntegerAt(call, "bitRate");
  if (!bitrate || *bitrate < 0) return std::string("bitRate is not a non-negative number");
  r.bitrate_kbps = *bitrate;
  r.conference_id = StringAt(&call, "confUuid");
  r.orig = MapParty(call, "originator");
  r.dest = MapParty(call, "destination");
  return r;
}

// PlcmDevice's status: plcmDeviceStatus may be a string or an object; its
// registration status is one of PlcmCallLegV2's values (ACTIVE, INACTIVE, ...).
std::string RegistrationOf(const json::object& device) {
  if (std::string s = StringAt(&device, "registrationStatus"); !s.empty()) return s;
  const json::value* status = device.if_contains("plcmDeviceStatus");
  if (!status) return {};
  if (status->is_string()) return std::string(View(status->get_string()));
  const json::object* o = status->if_object();
  for (std::string_view key : {"registrationStatus", "deviceStatus", "status"})
    if (std::string s = StringAt(o, key); !s.empty()) return s;
  return {};
}

std::string StatusOf(std::string_view registration) {
  if (registration == "ACTIVE" || registration == "MCU") return "online";
  if (registration == "INACTIVE" || registration == "INACTIVE_ROGUE") return "offline";
  return "unknown";
}

std::string TypeOf(const json::object& device) {
  std::string t = StringAt(&device, "deviceType");
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t.find("mcu") != std::string::npos || t.find("rmx") != std::string::npos) return "mcu";
  if (t.find("gateway") != std::string::npos) return "gateway";
  if (t.find("phone") != std::string::npos) return "phone";
  const json::value* mcu = device.if_contains("plcmMcuIdentity");
  if (mcu && !mcu->is_null()) return "mcu";
  return "endpoint";
}

}  // namespace

std::optional<int64_t> ParseDmaDuration(std::string_view text) {
  int64_t parts[3] = {0, 0, 0};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    size_t colon = i < 2 ? text.find(':', pos) : text.size();
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view field = text.substr(pos, colon - pos);
    if (field.empty() || field.size() > 9 || !IsAllDigits(field)) return std::nullopt;
    std::from_chars(field.data(), field.data() + field.size(), parts[i]);
    if (i > 0 && (field.size() != 2 || parts[i] > 59)) return std::nullopt;
    pos = colon + 1;
  }
  return parts[0] * 3600 + parts[1] * 60 + parts[2];
}

Result<DmaPage> ParseDmaCallList(std::string_view text, const std::string& source) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParseList(text, "plcm-call-list", "plcm-call"));
  DmaPage page;
  const json::value* next = list->root.get_object().if_contains("next");
  if (next && next->is_string()) {
    page.next = std::string(View(next->get_string()));
  } else if (next && !next->is_null()) {
    return InvalidArgument("device answer: \"next\" is neither a string nor null");
  }
  page.items = list->items->size();
  for (const json::value& item : *list->items) {
    const json::object* call = item.if_object();
    if (!call) {
      page.skipped.push_back({"", "call is not a JSON object"});
      continue;
    }
    auto mapped = MapCall(*call, source);
    if (auto* reason = std::get_if<std::string>(&mapped)) {
      page.skipped.push_back({StringAt(call, "callIdentifier"), std::move(*reason)});
    } else {
      page.records.push_back(std::move(std::get<wire::CallRecord>(mapped)));
    }
  }
  return page;
}

Result<DmaDeviceList> ParseDmaDeviceList(std::string_view text, const std::string& source, int64_t observed_at) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParseList(text, "plcm-device-list", "plcm-device"));
  DmaDeviceList out;
  out.items = list->items->size();
  for (const json::value& item : *list->items) {
    const json::object* d = item.if_object();
    if (!d) {
      out.skipped.push_back({"", "device is not a JSON object"});
      continue;
    }
    wire::DeviceRecord r;
    r.source = source;
    r.id = StringAt(d, "deviceIdentifier");
    if (r.id.empty()) {
      out.skipped.push_back({"", "missing deviceIdentifier"});
      continue;
    }
    r.observed_at = observed_at;
    r.name = StringAt(d, "deviceName");
    r.type = TypeOf(*d);
    r.model = StringAt(d, "deviceModel");
    r.version = StringAt(d, "deviceVersion");
    r.site = StringAt(d, "site");             // our assumption: not in PlcmDevice
    r.ip = StringAt(d, "ipAddress");          // our assumption: not in PlcmDevice
    r.owner = StringAt(d, "deviceOwner");
    r.registration = RegistrationOf(*d);
    r.status = StatusOf(r.registration);
    out.devices.push_back(std::move(r));
  }
  return out;
}

Result<DmaActiveCalls> ParseDmaActiveCalls(std::string_view text) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParseList(text, "plcm-active-call-list", "plcm-active-call"));
  DmaActiveCalls out;
  out.calls = list->items->size();
  for (const json::value& item : *list->items) {
    const json::object* c = item.if_object();
    if (!c || StringAt(c, "callIdentifier").empty()) ++out.malformed;
  }
  return out;
}

Result<DmaConferences> ParseDmaConferences(std::string_view text) {
  PARLEY_ASSIGN_OR_RETURN(auto list, ParseList(text, "plcm-conference-list", "plcm-conference"));
  DmaConferences out;
  for (const json::value& item : *list->items) {
    const json::object* c = item.if_object();
    std::string id = StringAt(c, "conferenceIdentifier");
    if (id.empty()) {
      ++out.malformed;
      continue;
    }
    DmaLiveConference conf;
    conf.id = std::move(id);
    conf.mcu = StringAt(c, "mcuName");
    conf.room = StringAt(c, "conferenceRoomIdentifier");
    if (conf.room.empty()) conf.room = StringAt(c, "dialInNumber");
    out.conferences.push_back(std::move(conf));
  }
  return out;
}

}  // namespace parley::agent
