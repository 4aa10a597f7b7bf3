#include "agent/rprm_collector.h"

#include <algorithm>

#include "common/log.h"

namespace parley::agent {

namespace {

std::vector<std::string> RprmOrder(const std::vector<std::string>& collect) {
  std::vector<std::string> out;
  for (std::string_view sub : {"conference_cdrs", "endpoint_cdrs", "devices"})
    if (std::find(collect.begin(), collect.end(), sub) != collect.end()) out.emplace_back(sub);
  return out;
}

template <typename T>
void LogSkips(const std::string& source, std::string_view what, const RprmPage<T>& page) {
  for (const RprmSkip& s : page.skipped) log::warn("{}: skipped {} {}: {}", source, what, IdForLog(s.id), s.reason);
}

Result<RprmPage<wire::ParticipantRecord>> ParseEndpoint(std::string_view text, const std::string& source) {
  return ParseRprmEndpointCdrs(text, source);
}
Result<RprmPage<wire::ConferenceRecord>> ParseConference(std::string_view text, const std::string& source) {
  return ParseRprmConferenceCdrs(text, source);
}

}  // namespace

Result<std::unique_ptr<RprmCollector>> RprmCollector::Create(const SourceConfig& source,
                                                             const std::atomic<bool>* abort) {
  PARLEY_ASSIGN_OR_RETURN(auto transport, MakeDeviceTransport(source, abort));
  RprmSettings settings;
  settings.collect = source.collect.empty()
                         ? std::vector<std::string>{"conference_cdrs", "endpoint_cdrs", "devices"}
                         : source.collect;
  settings.inventory_interval_seconds = source.inventory_interval_seconds;
  return std::make_unique<RprmCollector>(source.name, source.url, std::move(settings), std::move(transport),
                                         SystemClock::Instance());
}

RprmCollector::RprmCollector(std::string name, std::string url, RprmSettings settings,
                             std::unique_ptr<DeviceTransport> transport, const Clock& clock)
    : SubResourceCollector(std::move(name), RprmOrder(settings.collect), "endpoint_cdrs"),
      url_(std::move(url)),
      settings_(std::move(settings)),
      transport_(std::move(transport)),
      clock_(clock) {}

void RprmCollector::OnCursorReset() {
  inventory_.Forget();
  devices_after_.reset();
  devices_next_due_ = 0;
}

Result<SubResourceCollector::SubResult> RprmCollector::RunSub(const std::string& sub, SubCursors& cursors,
                                                              size_t max_records) {
  if (sub == "conference_cdrs") return Feed(sub, kRprmConferenceCdrs, cursors, max_records, &ParseConference);
  if (sub == "endpoint_cdrs") return Feed(sub, kRprmEndpointCdrs, cursors, max_records, &ParseEndpoint);
  if (sub == "devices") return Devices(max_records);
  return Internal("unknown sub-resource " + sub);
}

Result<std::string> RprmCollector::GetPage(const RprmResource& resource, const std::string& after, size_t limit) {
  HttpRequest request;
  request.url = url_ + std::string(resource.path) + "?limit=" + std::to_string(limit);
  if (!after.empty()) request.url += "&after=" + UrlEncode(after);
  request.headers.emplace_back("Accept", std::string(resource.media_type));
  auto response = transport_->Send(request);
  if (!response.ok()) return Unavailable("device unreachable: " + response.error().detail);
  if (response->status != 200) return FailedPrecondition(DescribeDeviceStatus(response->status));
  return std::move(response->body);
}

// Checks the paging rule on a parsed page; the reason it is refused, if so.
template <typename T>
std::optional<std::string> PagingProblem(const RprmPage<T>& page, size_t max_records) {
  if (page.items > max_records)
    return "device returned " + std::to_string(page.items) + " items for limit " + std::to_string(max_records);
  if (page.items > 0 && !page.next) return std::string("device page with items has no next token");
  return std::nullopt;
}

template <typename Page>
Result<SubResourceCollector::SubResult> RprmCollector::Feed(const std::string& key, const RprmResource& resource,
                                                            SubCursors& cursors, size_t max_records,
                                                            Page (*parse)(std::string_view, const std::string&)) {
  const std::string_view what = key == "endpoint_cdrs" ? "endpoint CDR" : "conference CDR";
  return ReadFeedPages(
      key, cursors, max_records, kRprmPageLimit,
      [&](const std::string& after, size_t limit) -> Page {
        PARLEY_ASSIGN_OR_RETURN(std::string body, GetPage(resource, after, limit));
        auto page = parse(body, name_);
        if (!page.ok()) return page.error();
        if (auto problem = PagingProblem(*page, limit)) return FailedPrecondition(*problem);
        if (page->items > 0) PARLEY_TRY(CheckNextToken(key, after, *page->next));
        return page;
      },
      [&](const auto& page) { LogSkips(name_, what, page); });
}

Result<SubResourceCollector::SubResult> RprmCollector::Devices(size_t max_records) {
  const int64_t now = clock_.NowUnixSeconds();
  SubResult out;
  if (!devices_after_) {
    if (now < devices_next_due_) return out;
    inventory_.BeginSweep(now);
    ForgetTokens("devices");
    devices_after_ = std::string();
    devices_observed_at_ = now;
    devices_next_due_ = now + settings_.inventory_interval_seconds;
  }
  const std::string after = *devices_after_;
  const size_t limit = std::min(kRprmPageLimit, max_records);
  auto body = GetPage(kRprmDevices, after, limit);
  if (!body.ok()) {
    devices_after_.reset();  // start over next time
    return body.error();
  }
  auto page = ParseRprmDevices(*body, name_, devices_observed_at_);
  if (page.ok()) {
    if (auto problem = PagingProblem(*page, limit)) {
      page = FailedPrecondition(*problem);
    } else if (page->items > 0) {
      if (Status s = CheckNextToken("devices", after, *page->next); !s.ok()) page = s.error();
    }
  }
  if (!page.ok()) {
    devices_after_.reset();
    return page.error();
  }
  LogSkips(name_, "device", *page);
  out.skipped = page->skipped.size();
  for (auto& d : page->records) {
    if (!inventory_.Changed(d)) continue;
    inventory_.MarkSent(d);
    out.records.emplace_back(std::move(d));
  }
  bool last = !(page->next && page->items >= limit);
  if (last) {
    devices_after_.reset();
  } else {
    devices_after_ = *page->next;
    RememberToken("devices", *page->next);
  }
  out.caught_up = last;
  return out;
}

}  // namespace parley::agent
