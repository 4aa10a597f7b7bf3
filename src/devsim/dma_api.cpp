#include "devsim/dma_api.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <mutex>

#include <boost/json.hpp>

#include "common/time_format.h"
#include "devsim/cdr_export.h"
#include "devsim/detail/rest.h"

namespace parley::devsim {

namespace {

namespace json = boost::json;
using detail::JsonOk;
using detail::RouteContext;

constexpr std::string_view kCallMediaType = "application/vnd.plcm.plcm-call+json";

// The call history's legs: unchanged since the first release (the agent's
// dma collector maps exactly these).
json::object LegJson(const Leg& leg, const json::storage_ptr& sp) {
  json::object o(sp);
  o["deviceName"] = leg.device->name;
  o["deviceModel"] = leg.device->model;
  o["deviceVersion"] = leg.device->version;
  o["ipAddress"] = leg.device->ip;
  o["site"] = leg.site->name;
  json::array aliases(sp);
  aliases.emplace_back(leg.number);
  aliases.emplace_back(leg.uri);
  o["aliases"] = std::move(aliases);
  return o;
}

json::object CallJson(const Workload& workload, const Call& call, const json::storage_ptr& sp) {
  Leg orig = workload.Originator(call);
  Leg dest = workload.Destination(call);
  const bool sip = call.signaling == Signaling::kSip;
  // Times are rendered in the originator site's zone with milliseconds,
  // the way the DMA's CDRs carry local time (domain.md 3.2).
  const TimeZone& zone = orig.site->tz;
  json::object o(sp);
  o["callIdentifier"] = FormatUuid(call.key.id_hi, call.key.id_lo);
  o["callType"] = call.type == CallType::kVmr ? "VMR" : "PT-PT";
  o["callSignaling"] = sip ? "SIP" : "H323";
  o["originator"] = sip ? orig.uri : orig.number;
  o["originatorRegisteredName"] = orig.device->name;
  o["destination"] = sip ? dest.uri : dest.number;
  // What the user dialled: the SIP address without the scheme, or the number.
  o["dialString"] = sip ? dest.uri.substr(4) : dest.number;
  o["startTime"] = FormatZoned(call.start_unix, zone);
  o["endTime"] = FormatZoned(call.key.end_unix, zone);
  o["callDuration"] = FormatDuration(call.duration_s);
  o["callStatus"] = "ENDED";
  if (call.type == CallType::kVmr) o["confUuid"] = FormatUuid(call.conf_hi, call.conf_lo);
  else o["confUuid"] = nullptr;
  o["bitRate"] = call.bit_rate_kbps;
  o["failureSignalingCode"] = call.failed() ? FailureCodes()[static_cast<size_t>(call.failure)] : std::string();
  o["originatorDetails"] = LegJson(orig, sp);
  o["destinationDetails"] = LegJson(dest, sp);
  return o;
}

// A 16-hex-digit entity tag of a record, from its identity and its state.
std::string RecordTag(std::string_view identity) {
  return detail::EntityTag(identity).substr(1, 16);
}

std::pair<std::string, std::string> SplitName(const std::string& name) {
  size_t space = name.find(' ');
  if (space == std::string::npos) return {name, ""};
  return {name.substr(0, space), name.substr(space + 1)};
}

// PlcmCallLegV2 of an active call.
json::object ActiveLegJson(const Workload& w, const Leg& leg, bool sip) {
  const Device& d = *leg.device;
  const bool mcu = &d == &w.org().mcu;
  json::object o;
  o["deviceIdentifier"] = std::to_string(d.id);
  if (sip && !mcu) o["sipContactIdentifier"] = "<" + d.sip_uri + ";transport=tls>";
  else o["sipContactIdentifier"] = nullptr;
  o["ipAddress"] = d.ip;
  o["deviceName"] = d.name;
  o["deviceModel"] = d.model;
  o["deviceVersion"] = d.version;
  o["aliases"] = json::array{json::string(leg.number), json::string(leg.uri)};
  o["registrationStatus"] = mcu ? "MCU" : "ACTIVE";
  o["site"] = leg.site->name;
  o["territory"] = leg.site->territory;
  if (d.owner.empty()) o["authenticationName"] = nullptr;
  else o["authenticationName"] = d.owner;
  o["authenticationStatus"] = mcu ? "NOT_APPLICABLE" : "AUTHENTICATED";
  return o;
}

json::object ActiveCallJson(const Workload& w, const Call& call) {
  Leg orig = w.Originator(call);
  Leg dest = w.Destination(call);
  const bool sip = call.signaling == Signaling::kSip;
  const std::string id = FormatUuid(call.key.id_hi, call.key.id_lo);
  // What the endpoints negotiated down to: loss makes them lower the rate.
  const int loss = w.Quality(call, true, true).loss_bp;
  const int current = call.bit_rate_kbps - call.bit_rate_kbps * std::min(loss, 3000) / 10000;
  json::object o;
  o["callIdentifier"] = id;
  o["signalingType"] = sip ? "SIP" : "H323";
  o["requestedBitrate"] = call.bit_rate_kbps;
  o["currentBitrate"] = current;
  o["originalDialString"] = sip ? dest.uri.substr(4) : dest.number;
  o["resolvedDialString"] = sip ? dest.uri : dest.number;
  o["sourceCallLeg"] = ActiveLegJson(w, orig, sip);
  o["destinationCallLeg"] = ActiveLegJson(w, dest, sip);
  o["passback"] = nullptr;
  o["passthru"] = nullptr;
  o["clusters"] = json::array{json::string(w.org().cluster)};
  o["callType"] = "dialin";
  o["originator"] = sip ? orig.uri : orig.number;
  o["mediaEncryptionAlgorithm"] = (call.key.id_lo >> 8) % 10 == 0 ? "NONE" : "AES_128";
  o["sharedLicense"] = false;
  o["entityTag"] = RecordTag(id);
  o["startTime"] = FormatZoned(call.start_unix, orig.site->tz);
  if (call.type == CallType::kVmr) o["confUuid"] = FormatUuid(call.conf_hi, call.conf_lo);
  else o["confUuid"] = nullptr;
  return o;
}

json::object ConferenceJson(const Workload& w, const Meeting& m, const std::vector<Call>& active) {
  const Organisation& org = w.org();
  const Vmr& vmr = org.vmrs[static_cast<size_t>(m.vmr)];
  auto [first, last] = SplitName(org.endpoints[static_cast<size_t>(vmr.owner)].name);
  const std::string id = FormatUuid(m.key.id_hi, m.key.id_lo);
  json::array call_ids;
  int in_progress = 0;
  for (const Call& c : active)
    if (c.type == CallType::kVmr && c.conf_hi == m.key.id_hi && c.conf_lo == m.key.id_lo) {
      call_ids.push_back(json::string(FormatUuid(c.key.id_hi, c.key.id_lo)));
      ++in_progress;
    }
  json::object o;
  o["conferenceIdentifier"] = id;
  o["svcCascadePartnerConferenceIdentifier"] = nullptr;
  o["dialInNumber"] = vmr.number;
  o["conferenceRoomIdentifier"] = vmr.number;
  o["mcuName"] = org.mcu.name;
  o["cascadeMcuName"] = json::array();
  o["plcmCascadeLinkList"] = json::array();
  o["ownerFirstName"] = first;
  o["ownerLastName"] = last;
  o["hostName"] = nullptr;
  o["recordingActive"] = m.recording;
  o["displayText"] = nullptr;
  o["aJam"] = false;
  o["passback"] = nullptr;
  o["passthru"] = nullptr;
  o["entityTag"] = RecordTag(id + "/" + std::to_string(in_progress));
  // Ours (not in PlcmConferenceV3): when it started, who is in it now.
  o["startTime"] = FormatZoned(m.first_join, w.ClusterZone());
  o["scheduled"] = m.scheduled;
  o["participantCount"] = in_progress;
  o["callIdentifiers"] = std::move(call_ids);
  return o;
}

json::object DeviceJson(const Workload& w, const Device& d, int64_t now) {
  const Organisation& org = w.org();
  const bool mcu = &d == &org.mcu;
  json::object o;
  o["deviceIdentifier"] = std::to_string(d.id);
  o["deviceName"] = d.name;
  if (d.owner.empty()) {
    o["deviceOwner"] = nullptr;
    o["ownerDomain"] = nullptr;
  } else {
    o["deviceOwner"] = d.owner;
    o["ownerDomain"] = org.owner_domain;
  }
  o["deviceModel"] = d.model;
  o["deviceVersion"] = d.version;
  o["registrationIdentifier"] = mcu ? d.name : d.sip_uri.substr(4);
  o["allowInactivityDeletion"] = false;
  o["registrationDirection"] = "INBOUND";
  o["supportsH323"] = d.supports_h323;
  const bool active = d.ActiveAt(now);
  o["plcmDeviceStatus"] = json::object{{"registrationStatus", active ? "ACTIVE" : "INACTIVE"}};
  if (mcu) {
    o["plcmSipIdentity"] = nullptr;
    o["plcmH323Identity"] = nullptr;
    o["plcmMcuIdentity"] = json::object{{"mcuName", d.name}, {"ipAddress", d.ip}};
  } else {
    o["plcmSipIdentity"] = json::object{{"sipUri", d.sip_uri}};
    if (d.supports_h323) o["plcmH323Identity"] = json::object{{"h323Id", d.name}, {"e164Number", d.number}};
    else o["plcmH323Identity"] = nullptr;
    o["plcmMcuIdentity"] = nullptr;
  }
  o["entityTag"] = RecordTag(std::to_string(d.id) + (active ? "/a" : "/i"));
  return o;
}

std::optional<int64_t> TimeParam(const http::Request& request, const std::string& name, Error* error) {
  auto text = request.Query(name);
  if (!text) return std::nullopt;
  auto t = ParseRfc3339(*text);
  if (!t) *error = InvalidArgument(name + " must be an RFC 3339 time such as 2026-12-04T16:00:00Z");
  return t;
}

// A call's entry of the call list, serialized. Its document lives only
// until then, so it is built in an arena on the stack: node by node,
// allocating and freeing it was a third of devsim's CPU.
std::string CallText(const Workload& workload, const Call& call) {
  unsigned char buffer[4096];
  json::monotonic_resource arena(buffer, sizeof buffer);
  return json::serialize(CallJson(workload, call, json::storage_ptr(&arena)));
}

struct DmaState {
  explicit DmaState(Workload& w) : workload(w) {}
  Workload& workload;
  std::mutex export_mu;  // "only one CDR export at a time" (domain.md 3.2)
  // With prerender_history: every history call's entry (CallText), made at
  // start and ascending by key (read-only once serving starts, so unlocked).
  std::vector<std::pair<CallKey, std::string>> rendered;

  // Appends a call's entry: the prerendered one, else serialized now (no
  // prerendering, or a call that ended after the start).
  void AppendEntry(const Call& call, std::string& out) const {
    auto it = std::lower_bound(rendered.begin(), rendered.end(), call.key,
                               [](const auto& entry, const CallKey& k) { return entry.first < k; });
    if (it != rendered.end() && it->first == call.key) out += it->second;
    else out += CallText(workload, call);
  }
};

http::Response ListCalls(DmaState& s, const RouteContext& ctx) {
  Result<size_t> limit = detail::ParseLimit(ctx.request.Query("limit"), kDefaultPageLimit, kMaxPageLimit);
  if (!limit.ok()) return http::Response::FromError(limit.error());
  std::optional<CallKey> after;
  if (auto token = ctx.request.Query("after")) {
    after = DecodePageToken(*token);
    if (!after) return http::Response::FromError(InvalidArgument("after is not a page token from this API"));
  }
  if (ctx.repeat) after.reset();  // fault: the cursor is ignored, the first page comes again
  std::vector<Call> page = s.workload.ListEnded(ctx.now, after, *limit, nullptr);
  // {"plcm-call-list":{"plcm-call":[<entries>]},"next":<token>}, written
  // around the entries serialized one by one, so that a prerendered history
  // serves the same bytes.
  std::string body = R"({"plcm-call-list":{"plcm-call":[)";
  for (size_t i = 0; i < page.size(); ++i) {
    if (i > 0) body += ',';
    s.AppendEntry(page[i], body);
  }
  // `next` resumes after the page's last call, also on the last page, so a
  // client can always continue from where it is once more calls end; null
  // only for an empty page (docs/agent.md "Cursor semantics" relies on it).
  body += R"(]},"next":)";
  body += page.empty() ? json::serialize(json::value(nullptr))
                       : json::serialize(json::value(EncodePageToken(page.back().key)));
  body += '}';
  return detail::SerializedJsonOk(std::move(body), kCallListMediaType);
}

http::Response CountCalls(DmaState& s, const RouteContext& ctx) {
  json::object body;
  body["count"] = s.workload.CountEnded(ctx.now);
  return http::Response::Json(200, detail::SerializeJson(body));
}

http::Response ActiveCalls(DmaState& s, const RouteContext& ctx) {
  std::vector<Call> calls = s.workload.ActiveCalls(ctx.now);
  const Workload& w = s.workload;
  if (auto site = ctx.request.Query("site")) {
    std::erase_if(calls, [&](const Call& c) {
      return w.Originator(c).site->name != *site && w.Destination(c).site->name != *site;
    });
  }
  if (auto protocol = ctx.request.Query("protocol")) {
    std::optional<Signaling> want;
    if (*protocol == "SIP" || *protocol == "sip") want = Signaling::kSip;
    if (*protocol == "H323" || *protocol == "h323" || *protocol == "H.323") want = Signaling::kH323;
    if (!want) return http::Response::FromError(InvalidArgument("protocol must be SIP or H323"));
    std::erase_if(calls, [&](const Call& c) { return c.signaling != *want; });
  }
  json::array items;
  for (const Call& c : calls) items.push_back(ActiveCallJson(w, c));
  if (auto key = ctx.request.Query("sort-key"); key && *key != "start-time") {
    std::string field;
    if (*key == "originator") field = "originator";
    else if (*key == "destination") field = "resolvedDialString";
    else if (*key == "dial-string") field = "originalDialString";
    else
      return http::Response::FromError(
          InvalidArgument("sort-key must be start-time, originator, destination or dial-string"));
    std::stable_sort(items.begin(), items.end(), [&](const json::value& a, const json::value& b) {
      return a.at(field).as_string() < b.at(field).as_string();
    });
  }
  json::object list;
  list["plcm-active-call"] = std::move(items);
  return JsonOk(json::object{{"plcm-active-call-list", std::move(list)}}, kActiveCallListMediaType);
}

http::Response Conferences(DmaState& s, const RouteContext& ctx) {
  std::vector<Meeting> meetings = s.workload.ActiveMeetings(ctx.now);
  std::vector<Call> active = s.workload.ActiveCalls(ctx.now);
  json::array items;
  for (const Meeting& m : meetings) items.push_back(ConferenceJson(s.workload, m, active));
  json::object list;
  list["plcm-conference"] = std::move(items);
  return JsonOk(json::object{{"plcm-conference-list", std::move(list)}}, kConferenceListMediaType);
}

http::Response ConferenceUsage(DmaState& s, const RouteContext& ctx) {
  const Organisation& org = s.workload.org();
  std::vector<Call> active = s.workload.ActiveCalls(ctx.now);
  std::vector<Meeting> meetings = s.workload.ActiveMeetings(ctx.now);
  int ports = 0;
  for (const Call& c : active) ports += PortCost(c);
  json::object mcu;
  mcu["mcuName"] = org.mcu.name;
  mcu["portUnit"] = "HD720p30";
  mcu["videoPortsLicensed"] = org.licensed_video_ports;
  mcu["videoPortsInUse"] = ports;
  mcu["voicePortsLicensed"] = org.licensed_voice_ports;
  mcu["voicePortsInUse"] = 0;
  json::object usage;
  usage["timestamp"] = FormatZoned(ctx.now, s.workload.ClusterZone());
  usage["cluster"] = org.cluster;
  usage["activeConferences"] = meetings.size();
  usage["activeCalls"] = active.size();
  usage["licensedCalls"] = org.licensed_calls;
  usage["mcuUsage"] = json::array{std::move(mcu)};
  return JsonOk(json::object{{"plcm-conference-usage", std::move(usage)}}, kConferenceUsageMediaType);
}

http::Response Devices(DmaState& s, const RouteContext& ctx) {
  const Organisation& org = s.workload.org();
  std::vector<const Device*> devices = {&org.mcu};
  for (const Device& d : org.endpoints)
    if (d.DeployedAt(ctx.now)) devices.push_back(&d);
  std::sort(devices.begin(), devices.end(), [](const Device* a, const Device* b) { return a->id < b->id; });
  json::array items;
  for (const Device* d : devices) items.push_back(DeviceJson(s.workload, *d, ctx.now));
  json::object list;
  list["plcm-device"] = std::move(items);
  return JsonOk(json::object{{"plcm-device-list", std::move(list)}}, kDeviceListMediaType);
}

http::Response CdrExport(DmaState& s, const RouteContext& ctx) {
  Error error;
  error.code = Code::kOk;
  std::optional<int64_t> after = TimeParam(ctx.request, "ended-after", &error);
  std::optional<int64_t> before = TimeParam(ctx.request, "ended-before", &error);
  if (error.code != Code::kOk) return http::Response::FromError(error);
  const int64_t from = after.value_or(0);
  const int64_t to = before.value_or(ctx.now);
  if (from > to) return http::Response::FromError(InvalidArgument("ended-after must not be later than ended-before"));
  std::unique_lock<std::mutex> lock(s.export_mu, std::try_to_lock);
  if (!lock.owns_lock()) {
    http::Response r = http::Response::FromError(
        Unavailable("a CDR export is already running; the DMA generates one at a time"));
    r.SetHeader("Retry-After", std::to_string(kExportBusyRetryAfterS));
    return r;
  }
  std::vector<Call> calls;
  std::vector<Meeting> meetings;
  if (!s.workload.EndedInWindow(from, to, ctx.now, kMaxExportCalls, &calls, &meetings))
    return http::Response::FromError(InvalidArgument(
        "more than " + std::to_string(kMaxExportCalls) +
        " calls ended in this window; export it in parts (narrow ended-after/ended-before)"));
  CdrFiles files = RenderCdrFiles(s.workload, calls, meetings, from, to);
  Result<std::string> zip = ZipCdrFiles(files, std::min(to, ctx.now), s.workload.ClusterZone());
  if (!zip.ok()) return http::Response::FromError(zip.error());
  ctx.SleepIfSlow();  // a slow export keeps the one-at-a-time lock meanwhile
  http::Response r;
  r.status = 200;
  r.body = std::move(*zip);
  r.SetHeader("Content-Type", std::string(kZipMediaType));
  r.SetHeader("Content-Disposition", "attachment; filename=\"" + std::string(kCdrZipName) + "\"");
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

}  // namespace

std::string EncodePageToken(const CallKey& key) {
  return std::to_string(key.end_unix) + "." + FormatUuid(key.id_hi, key.id_lo);
}

std::optional<CallKey> DecodePageToken(std::string_view token) {
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 12) return std::nullopt;
  CallKey key;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + dot, key.end_unix);
  if (ec != std::errc() || ptr != token.data() + dot || key.end_unix < 0) return std::nullopt;
  auto id = ParseUuid(token.substr(dot + 1));
  if (!id) return std::nullopt;
  key.id_hi = id->first;
  key.id_lo = id->second;
  return key;
}

http::Handler MakeDmaHandler(Workload& workload, const Clock& clock, Credentials credentials, ApiOptions options,
                             bool prerender_history) {
  auto state = std::make_shared<DmaState>(workload);
  if (prerender_history) {
    const std::vector<Call> history = workload.HistoryCalls();  // ascending by key
    state->rendered.reserve(history.size());
    for (const Call& call : history) state->rendered.emplace_back(call.key, CallText(workload, call));
  }
  auto route = [state](std::string path, std::string_view media_type, std::vector<std::string> also, bool json_ok,
                       http::Response (*fn)(DmaState&, const RouteContext&)) {
    detail::Route r;
    r.path = std::move(path);
    r.media_type = std::string(media_type);
    r.also = std::move(also);
    r.json_ok = json_ok;
    r.handle = [state, fn](const RouteContext& ctx) { return fn(*state, ctx); };
    return r;
  };
  std::vector<detail::Route> routes;
  routes.push_back(route("/api/rest/calls", kCallListMediaType, {std::string(kCallMediaType)}, true, ListCalls));
  routes.push_back(route("/api/rest/calls/count", "application/json", {std::string(kCallListMediaType)}, true,
                         CountCalls));
  routes.push_back(route("/api/rest/active-calls", kActiveCallListMediaType,
                         {"application/vnd.plcm.plcm-active-call+json"}, true, ActiveCalls));
  routes.push_back(route("/api/rest/conferences", kConferenceListMediaType,
                         {"application/vnd.plcm.plcm-conference+json"}, true, Conferences));
  routes.push_back(route("/api/rest/conferences/usage", kConferenceUsageMediaType, {}, true, ConferenceUsage));
  routes.push_back(route("/api/rest/devices", kDeviceListMediaType, {"application/vnd.plcm.plcm-device+json"}, true,
                         Devices));
  routes.push_back(route("/api/rest/cdr-export", kZipMediaType, {"application/octet-stream"}, false, CdrExport));
  auto service = std::make_shared<const detail::RestService>("DMA", credentials, clock, std::move(options),
                                                             std::move(routes));
  return [service, state](const http::Request& request) { return service->Handle(request); };
}

}  // namespace parley::devsim
