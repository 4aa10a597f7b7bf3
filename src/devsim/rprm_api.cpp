#include "devsim/rprm_api.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include <boost/json.hpp>

#include "devsim/detail/rest.h"
#include "devsim/dma_api.h"

namespace parley::devsim {

namespace {

namespace json = boost::json;
using detail::JsonOk;
using detail::RouteContext;

// Percent with two decimals, from hundredths of a percent.
json::value Percent(int basis_points) { return json::value(static_cast<double>(basis_points) / 100.0); }

json::value StringOrNull(const std::string& s) {
  if (s.empty()) return nullptr;
  return json::value(s);
}

// "YYYY-MM-DD" and "HH:MM:SS" of a DMA-format time string.
std::string DatePart(const std::string& dma_time) { return dma_time.substr(0, 10); }
std::string TimePart(const std::string& dma_time) { return dma_time.substr(11, 8); }

json::object InventoryJson(const Workload& w, const Device& d, int64_t now) {
  const Site& site = w.SiteOf(d);
  json::object o;
  o["deviceId"] = std::to_string(d.id);
  o["name"] = d.name;
  o["deviceType"] = d.device_type;
  o["model"] = d.model;
  o["systemManufacturer"] = d.vendor;
  o["softwareVersion"] = d.version;
  o["serialNumber"] = d.serial;
  o["ipAddress"] = d.ip;
  o["macAddress"] = d.mac;
  o["site"] = site.name;
  o["timeZone"] = std::string(site.tz.iana);
  o["owner"] = StringOrNull(d.owner);
  o["status"] = d.ActiveAt(now) ? "ONLINE" : "OFFLINE";
  return o;
}

json::object EndpointCdrJson(const Workload& w, const EndpointCdr& cdr) {
  const Call& call = cdr.call;
  const Leg self = cdr.originator_side ? w.Originator(call) : w.Destination(call);
  const Leg peer = cdr.originator_side ? w.Destination(call) : w.Originator(call);
  const Device& d = *self.device;
  const Site& site = *self.site;
  const bool sip = call.signaling == Signaling::kSip;
  const std::string start = FormatZoned(call.start_unix, site.tz);
  const std::string end = FormatZoned(call.key.end_unix, site.tz);
  const int cause = Q850Cause(call);
  json::object o;
  o["cdrId"] = FormatUuid(cdr.key.id_hi, cdr.key.id_lo);
  o["callId"] = FormatUuid(call.key.id_hi, call.key.id_lo);
  if (call.type == CallType::kVmr) o["conferenceId"] = FormatUuid(call.conf_hi, call.conf_lo);
  else o["conferenceId"] = nullptr;
  o["name"] = d.name;
  o["model"] = d.model;
  o["endpointType"] = d.device_type;
  o["systemManufacturer"] = d.vendor;
  o["serialNumber"] = d.serial;
  o["ipAddress"] = d.ip;
  o["site"] = site.name;
  o["endpointAlias"] = d.number;
  o["endpointAdditionalAlias"] = d.sip_uri.substr(4);
  o["endpointTransportAddress"] = d.ip;
  o["startDate"] = DatePart(start);
  o["startTime"] = TimePart(start);
  o["endDate"] = DatePart(end);
  o["endTime"] = TimePart(end);
  o["startDateTime"] = start;
  o["endDateTime"] = end;
  o["timeZone"] = std::string(site.tz.iana);
  o["callDuration"] = FormatDuration(call.duration_s);
  o["remoteSystemName"] = peer.device->name;
  o["callNumber1"] = sip ? peer.uri.substr(4) : peer.number;
  o["transportType"] = sip ? "SIP" : "H.323";
  o["callRate"] = call.bit_rate_kbps;
  o["callDirection"] = cdr.originator_side ? "Outgoing" : "Incoming";
  if (call.failed()) {
    for (const char* k : {"audioProtocolTx", "audioProtocolRx", "videoProtocolTx", "videoProtocolRx",
                          "videoFormatTx", "videoFormatRx"})
      o[k] = nullptr;
  } else {
    const bool cisco_peer = peer.device->vendor == "Cisco";
    o["audioProtocolTx"] = cisco_peer ? "G.722" : "G.722.1C";
    o["audioProtocolRx"] = cisco_peer ? "G.722" : "G.722.1C";
    o["videoProtocolTx"] = cisco_peer ? "H.264" : "H.264 High Profile";
    o["videoProtocolRx"] = cisco_peer ? "H.264" : "H.264 High Profile";
    // Heavy loss makes the far end send a lower resolution.
    const PathQuality rx = w.Quality(call, cdr.originator_side, false);
    const PathQuality tx = w.Quality(call, cdr.originator_side, true);
    auto format = [&](int loss_bp) {
      return std::string(VideoFormat(loss_bp > 300 ? call.bit_rate_kbps / 2 : call.bit_rate_kbps));
    };
    o["videoFormatTx"] = format(tx.loss_bp);
    o["videoFormatRx"] = format(rx.loss_bp);
  }
  o["disconnectInfo"] = std::string(Q850Text(cause));
  o["q850Cause"] = cause;
  static const char* kQualityKeys[] = {
      "avgPercentPacketLossTx", "avgPercentPacketLossRx", "maxPercentPacketLossTx", "maxPercentPacketLossRx",
      "avgPacketsLostTx",       "avgPacketsLostRx",       "avgLatencyTx",           "avgLatencyRx",
      "maxLatencyTx",           "maxLatencyRx",           "avgJitterTx",            "avgJitterRx",
      "maxJitterTx",            "maxJitterRx"};
  if (call.failed()) {
    for (const char* k : kQualityKeys) o[k] = nullptr;
    return o;
  }
  const PathQuality tx = w.Quality(call, cdr.originator_side, true);
  const PathQuality rx = w.Quality(call, cdr.originator_side, false);
  o["avgPercentPacketLossTx"] = Percent(tx.loss_bp);
  o["avgPercentPacketLossRx"] = Percent(rx.loss_bp);
  o["maxPercentPacketLossTx"] = Percent(tx.max_loss_bp);
  o["maxPercentPacketLossRx"] = Percent(rx.max_loss_bp);
  o["avgPacketsLostTx"] = Workload::PacketsLost(call, tx.loss_bp);
  o["avgPacketsLostRx"] = Workload::PacketsLost(call, rx.loss_bp);
  o["avgLatencyTx"] = tx.latency_ms;
  o["avgLatencyRx"] = rx.latency_ms;
  o["maxLatencyTx"] = tx.max_latency_ms;
  o["maxLatencyRx"] = rx.max_latency_ms;
  o["avgJitterTx"] = tx.jitter_ms;
  o["avgJitterRx"] = rx.jitter_ms;
  o["maxJitterTx"] = tx.max_jitter_ms;
  o["maxJitterRx"] = rx.max_jitter_ms;
  return o;
}

int64_t Minutes(int64_t seconds) { return (seconds + 30) / 60; }

json::object ConferenceUsageJson(const Workload& w, const Meeting& m) {
  const Organisation& org = w.org();
  const Device& organiser = org.endpoints[static_cast<size_t>(m.organiser)];
  const Vmr& vmr = org.vmrs[static_cast<size_t>(m.vmr)];
  const std::string& owner = org.endpoints[static_cast<size_t>(vmr.owner)].owner;
  const TimeZone& zone = w.SiteOf(organiser).tz;
  const std::string sched_start = FormatZoned(m.sched_start, zone);
  json::object o;
  o["conferenceId"] = FormatUuid(m.key.id_hi, m.key.id_lo);
  o["conferenceName"] = MeetingSubjects()[static_cast<size_t>(m.subject)];
  o["conferenceScheduler"] = organiser.owner.empty() ? owner : organiser.owner;
  o["conferenceOwner"] = owner;
  o["conferenceAlias"] = vmr.number;
  o["conferenceMode"] = "VIDEO";
  o["date"] = DatePart(sched_start);
  o["timeZone"] = std::string(zone.iana);
  o["scheduledStart"] = sched_start;
  o["scheduledStop"] = FormatZoned(m.sched_end, zone);
  o["scheduledDuration"] = Minutes(m.sched_end - m.sched_start);
  if (m.connected()) {
    o["actualStart"] = FormatZoned(m.first_join, zone);
    o["actualStop"] = FormatZoned(m.last_leave, zone);
    o["actualDuration"] = Minutes(m.last_leave - m.first_join);
  } else {
    o["actualStart"] = nullptr;
    o["actualStop"] = nullptr;
    o["actualDuration"] = nullptr;
  }
  int attended = 0;
  json::array participants;
  for (int8_t i = 0; i < m.n_participants; ++i) {
    const Participant& p = m.participants[static_cast<size_t>(i)];
    const Device& d = org.endpoints[static_cast<size_t>(p.endpoint)];
    json::object po;
    po["name"] = d.name;
    po["endpointAlias"] = d.number;
    po["attended"] = p.connected;
    if (p.connected) {
      ++attended;
      po["joinTime"] = FormatZoned(p.join_unix, zone);
      po["leaveTime"] = FormatZoned(p.leave_unix, zone);
    } else {
      po["joinTime"] = nullptr;
      po["leaveTime"] = nullptr;
    }
    participants.push_back(std::move(po));
  }
  o["totalScheduledParticipants"] = m.n_participants;
  o["totalActualParticipants"] = attended;
  o["participants"] = std::move(participants);
  return o;
}

struct Page {
  size_t limit = 0;
  std::optional<CallKey> after;
};

Result<Page> ParsePage(const RouteContext& ctx) {
  Page page;
  PARLEY_ASSIGN_OR_RETURN(page.limit, detail::ParseLimit(ctx.request.Query("limit"), kDefaultPageLimit, kMaxPageLimit));
  if (auto token = ctx.request.Query("after")) {
    page.after = DecodePageToken(*token);
    if (!page.after) return InvalidArgument("after is not a page token from this API");
  }
  if (ctx.repeat) page.after.reset();
  return page;
}

json::object Listing(const char* list, const char* item, json::array items, json::value next) {
  json::object inner;
  inner[item] = std::move(items);
  json::object body;
  body[list] = std::move(inner);
  body["next"] = std::move(next);
  return body;
}

http::Response Inventory(Workload& w, const RouteContext& ctx) {
  Result<size_t> limit = detail::ParseLimit(ctx.request.Query("limit"), kDefaultPageLimit, kMaxPageLimit);
  if (!limit.ok()) return http::Response::FromError(limit.error());
  int after = -1;
  if (auto token = ctx.request.Query("after"); token && !ctx.repeat) {
    auto [ptr, ec] = std::from_chars(token->data(), token->data() + token->size(), after);
    if (token->empty() || ec != std::errc() || ptr != token->data() + token->size() || after < 0)
      return http::Response::FromError(InvalidArgument("after is not a deviceId from this API"));
  }
  const Organisation& org = w.org();
  std::vector<const Device*> devices = {&org.dma, &org.mcu};
  for (const Device& d : org.endpoints)
    if (d.DeployedAt(ctx.now)) devices.push_back(&d);
  std::sort(devices.begin(), devices.end(), [](const Device* a, const Device* b) { return a->id < b->id; });
  json::array items;
  std::string last;
  for (const Device* d : devices) {
    if (d->id <= after) continue;
    if (items.size() >= *limit) break;
    items.push_back(InventoryJson(w, *d, ctx.now));
    last = std::to_string(d->id);
  }
  json::value next = nullptr;
  if (!items.empty()) next = last;
  return JsonOk(Listing("plcm-device-inventory-list", "plcm-device-inventory", std::move(items), std::move(next)),
                kInventoryMediaType);
}

http::Response EndpointUsage(Workload& w, const RouteContext& ctx) {
  Result<Page> page = ParsePage(ctx);
  if (!page.ok()) return http::Response::FromError(page.error());
  std::vector<EndpointCdr> cdrs = w.ListEndpointCdrs(ctx.now, page->after, page->limit);
  json::array items;
  for (const EndpointCdr& cdr : cdrs) items.push_back(EndpointCdrJson(w, cdr));
  json::value next = nullptr;
  if (!cdrs.empty()) next = EncodePageToken(cdrs.back().key);
  return JsonOk(Listing("plcm-endpoint-usage-cdr-list", "plcm-endpoint-usage-cdr", std::move(items), std::move(next)),
                kEndpointUsageMediaType);
}

http::Response ConferenceUsage(Workload& w, const RouteContext& ctx) {
  Result<Page> page = ParsePage(ctx);
  if (!page.ok()) return http::Response::FromError(page.error());
  std::vector<Meeting> meetings = w.ListScheduledMeetings(ctx.now, page->after, page->limit);
  json::array items;
  for (const Meeting& m : meetings) items.push_back(ConferenceUsageJson(w, m));
  json::value next = nullptr;
  if (!meetings.empty()) next = EncodePageToken(meetings.back().key);
  return JsonOk(
      Listing("plcm-conference-usage-cdr-list", "plcm-conference-usage-cdr", std::move(items), std::move(next)),
      kConferenceUsageCdrMediaType);
}

}  // namespace

http::Handler MakeRprmHandler(Workload& workload, const Clock& clock, Credentials credentials, ApiOptions options) {
  Workload* w = &workload;
  auto route = [w](std::string path, std::string_view media_type, std::string item_type,
                   http::Response (*fn)(Workload&, const RouteContext&)) {
    detail::Route r;
    r.path = std::move(path);
    r.media_type = std::string(media_type);
    r.also = {std::move(item_type)};
    r.handle = [w, fn](const RouteContext& ctx) { return fn(*w, ctx); };
    return r;
  };
  std::vector<detail::Route> routes;
  routes.push_back(route("/api/rest/device-inventory", kInventoryMediaType,
                         "application/vnd.plcm.plcm-device-inventory+json", Inventory));
  routes.push_back(route("/api/rest/endpoint-usage-cdrs", kEndpointUsageMediaType,
                         "application/vnd.plcm.plcm-endpoint-usage-cdr+json", EndpointUsage));
  routes.push_back(route("/api/rest/conference-usage-cdrs", kConferenceUsageCdrMediaType,
                         "application/vnd.plcm.plcm-conference-usage-cdr+json", ConferenceUsage));
  auto service = std::make_shared<const detail::RestService>("RPRM", credentials, clock, std::move(options),
                                                             std::move(routes));
  return [service](const http::Request& request) { return service->Handle(request); };
}

}  // namespace parley::devsim
