#include "agent/dma_collector.h"

#include <algorithm>
#include <charconv>
#include <iterator>

#include "common/log.h"
#include "common/time_format.h"

namespace parley::agent {

namespace {

constexpr size_t kMaxLiveConferences = 10000;

std::optional<int64_t> ToInt(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view KindOf(const wire::Record& r) {
  if (std::holds_alternative<wire::CallRecord>(r)) return "call";
  if (std::holds_alternative<wire::ConferenceRecord>(r)) return "conf";
  return "other";
}

}  // namespace

std::string EncodeDmaCdrKey(const DmaCdrKey& key) { return std::to_string(key.end_ms) + "|" + key.kind + "|" + key.id; }

std::optional<DmaCdrKey> DecodeDmaCdrKey(std::string_view text) {
  size_t a = text.find('|');
  if (a == std::string_view::npos) return std::nullopt;
  size_t b = text.find('|', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  DmaCdrKey key;
  auto ms = ToInt(text.substr(0, a));
  if (!ms || *ms < 0) return std::nullopt;
  key.end_ms = *ms;
  key.kind = std::string(text.substr(a + 1, b - a - 1));
  key.id = std::string(text.substr(b + 1));
  if (key.kind != "" && key.kind != "call" && key.kind != "conf") return std::nullopt;
  if (key.kind.empty() != key.id.empty()) return std::nullopt;
  return key;
}

Result<std::unique_ptr<DmaCollector>> DmaCollector::Create(const SourceConfig& source,
                                                           const std::atomic<bool>* abort) {
  PARLEY_ASSIGN_OR_RETURN(auto transport, MakeDeviceTransport(source, abort));
  DmaSettings settings;
  settings.collect = source.collect.empty() ? std::vector<std::string>{"history"} : source.collect;
  settings.inventory_interval_seconds = source.inventory_interval_seconds;
  settings.initial_history_days = source.initial_history_days;
  return std::make_unique<DmaCollector>(source.name, source.url, std::move(settings), std::move(transport),
                                        SystemClock::Instance());
}

namespace {
std::vector<std::string> DmaOrder(const std::vector<std::string>& collect) {
  // A fixed order: the live conferences first (their MCU names label the
  // conference CDRs that follow), then the calls, inventory, active calls.
  std::vector<std::string> out;
  for (std::string_view sub : {"conferences", "history", "cdr_export", "devices", "active_calls"})
    if (std::find(collect.begin(), collect.end(), sub) != collect.end()) out.emplace_back(sub);
  return out;
}
}  // namespace

DmaCollector::DmaCollector(std::string name, std::string url, DmaSettings settings,
                           std::unique_ptr<DeviceTransport> transport, const Clock& clock)
    : SubResourceCollector(std::move(name), DmaOrder(settings.collect), "history"),
      url_(std::move(url)),
      settings_(std::move(settings)),
      transport_(std::move(transport)),
      clock_(clock) {}

void DmaCollector::OnCursorReset() {
  // What we believed shipped may not be stored: read the inventory again.
  inventory_.Forget();
  devices_pending_.reset();
  devices_next_due_ = 0;
}

void DmaCollector::LogSkips(std::string_view what, const std::vector<DmaSkip>& skips) {
  for (const DmaSkip& skip : skips) log::warn("{}: skipped {} {}: {}", name_, what, IdForLog(skip.call_id), skip.reason);
}

Result<HttpResponse> DmaCollector::Get(const std::string& path_and_query, std::string_view accept,
                                       const std::string& if_none_match) {
  HttpRequest request;
  request.url = url_ + path_and_query;
  request.headers.emplace_back("Accept", std::string(accept));
  if (!if_none_match.empty()) request.headers.emplace_back("If-None-Match", if_none_match);
  auto response = transport_->Send(request);
  if (!response.ok()) return Unavailable("device unreachable: " + response.error().detail);
  if (response->status != 200 && response->status != 304)
    return FailedPrecondition(DescribeDeviceStatus(response->status));
  return response;
}

Result<DmaCollector::SubResult> DmaCollector::RunSub(const std::string& sub, SubCursors& cursors,
                                                     size_t max_records) {
  if (sub == "history") return History(cursors, max_records);
  if (sub == "cdr_export") return CdrExport(cursors, max_records);
  if (sub == "devices") return Devices(max_records);
  if (sub == "conferences") return Conferences();
  if (sub == "active_calls") return ActiveCalls();
  return Internal("unknown sub-resource " + sub);
}

// ------------------------------------------------------------------ history

Result<DmaCollector::SubResult> DmaCollector::History(SubCursors& cursors, size_t max_records) {
  return ReadFeedPages(
      "history", cursors, max_records, kDmaHistoryPageLimit,
      [&](const std::string& after, size_t limit) { return HistoryPage(after, limit); },
      [&](const DmaPage& page) { LogSkips("call", page.skipped); });
}

Result<DmaPage> DmaCollector::HistoryPage(const std::string& after, size_t limit) {
  std::string path = "/api/rest/calls?limit=" + std::to_string(limit);
  if (!after.empty()) path += "&after=" + UrlEncode(after);
  PARLEY_ASSIGN_OR_RETURN(HttpResponse response, Get(path, kDmaCallListMediaType));
  if (response.status != 200) return FailedPrecondition(DescribeDeviceStatus(response.status));
  auto page = ParseDmaCallList(response.body, name_);
  response.body = std::string();
  if (!page.ok()) return page.error();
  if (page->items > limit)
    return FailedPrecondition("device returned " + std::to_string(page->items) + " calls for limit " +
                              std::to_string(limit));
  // The rule in docs/agent.md: `next` is null only for an empty page.
  if (page->items > 0 && !page->next) return FailedPrecondition("device page with calls has no next token");
  if (page->items > 0) PARLEY_TRY(CheckNextToken("history", after, *page->next));
  return page;
}

// ---------------------------------------------------------------- CDR export

namespace {
// Skipped rows of one export named in the log; the rest are counted.
constexpr size_t kMaxSkipsLogged = 20;
}  // namespace

Result<DmaCollector::SubResult> DmaCollector::CdrExport(SubCursors& cursors, size_t max_records) {
  const int64_t now = clock_.NowUnixSeconds();
  DmaCdrKey after;
  if (auto it = cursors.find("cdr"); it != cursors.end()) {
    auto key = DecodeDmaCdrKey(it->second);
    if (!key) return FailedPrecondition("the server's cdr cursor is malformed");
    after = *key;
  } else {
    after.end_ms = std::max<int64_t>(0, now - settings_.initial_history_days * 86400) * 1000;
  }
  const int64_t from = after.end_ms / 1000;
  const int64_t to = std::min(from + cdr_window_s_, now - kDmaCdrSettleSeconds);
  SubResult out;
  if (to <= from) return out;  // caught up with the present

  // "ending after" one second early: the DMA's comparison granularity is not
  // documented; the key filter below drops what was shipped before.
  std::string path = std::string(kDmaCdrExportPath) + "?ended-after=" + UrlEncode(FormatUtc(from - 1)) +
                     "&ended-before=" + UrlEncode(FormatUtc(to));
  auto got = Get(path, "application/zip");
  if (!got.ok()) {
    // A window the DMA refuses as too large (4xx), or an answer over the
    // agent's size limit: ask for half as much next time.
    const std::string& d = got.error().detail;
    if (d.find("HTTP 400") != std::string::npos || d.find("HTTP 413") != std::string::npos ||
        d.find("larger than the agent accepts") != std::string::npos)
      cdr_window_s_ = std::max<int64_t>(kDmaCdrMinWindowSeconds, cdr_window_s_ / 2);
    return got.error();
  }
  HttpResponse response = std::move(*got);
  if (response.status != 200) return FailedPrecondition(DescribeDeviceStatus(response.status));
  // Keep only the max_records smallest keys after the cursor (a max-heap),
  // while the export is parsed: memory is one ZIP body plus one batch,
  // however many CDRs the window holds.
  struct Keyed {
    DmaCdrKey key;
    wire::Record record;
  };
  const auto by_key = [](const Keyed& a, const Keyed& b) { return a.key < b.key; };
  max_records = std::max<size_t>(max_records, 1);
  std::vector<Keyed> kept;
  size_t eligible = 0;
  std::vector<DmaCdrSkip> skipped;
  DmaCdrHandlers handlers;
  handlers.on_entry = [&](DmaCdrEntry&& e) {
    if (e.end_ms >= to * 1000) return;
    DmaCdrKey key{e.end_ms, std::string(KindOf(e.record)), wire::RecordId(e.record)};
    if (key <= after) return;
    ++eligible;
    if (kept.size() == max_records) {
      if (!(key < kept.front().key)) return;
      std::pop_heap(kept.begin(), kept.end(), by_key);
      kept.pop_back();
    }
    kept.push_back({std::move(key), std::move(e.record)});
    std::push_heap(kept.begin(), kept.end(), by_key);
  };
  handlers.on_skip = [&](DmaCdrSkip&& skip) {
    if (skipped.size() < kMaxSkipsLogged) skipped.push_back(std::move(skip));
    ++out.skipped;
  };
  auto exported = StreamDmaCdrExport(response.body, name_, handlers);
  response.body = std::string();
  if (!exported.ok()) return exported.error();
  for (const DmaCdrSkip& skip : skipped) log::warn("{}: skipped CDR {}: {}", name_, IdForLog(skip.id), skip.reason);
  if (out.skipped > skipped.size())
    log::warn("{}: {} more CDRs of this export skipped", name_, out.skipped - skipped.size());
  if (!exported->summary.excluded_clusters.empty()) {
    out.warning = "CDR export excluded " + std::to_string(exported->summary.excluded_clusters.size()) +
                  " unreachable cluster(s); their CDRs for this window are missing";
    log::warn("{}: {}", name_, *out.warning);
  }
  std::sort_heap(kept.begin(), kept.end(), by_key);
  // Size the next window to hold about one batch: an over-full window is
  // exported again for each batch it holds. Under-full windows double (up
  // to a day).
  if (eligible < max_records / 2) {
    cdr_window_s_ = std::min(kDmaCdrWindowSeconds, cdr_window_s_ * 2);
  } else if (eligible > max_records) {
    const int64_t fitted = (to - from) * static_cast<int64_t>(max_records) / static_cast<int64_t>(eligible);
    cdr_window_s_ = std::clamp<int64_t>(fitted, kDmaCdrMinWindowSeconds, kDmaCdrWindowSeconds);
  }
  for (Keyed& k : kept) {
    if (auto* conf = std::get_if<wire::ConferenceRecord>(&k.record); conf && conf->mcu.empty()) {
      if (auto it = live_mcu_.find(conf->id); it != live_mcu_.end()) conf->mcu = it->second;
    }
    out.records.push_back(std::move(k.record));
  }
  DmaCdrKey next;
  if (kept.size() < eligible) {
    next = kept.back().key;  // more in this window
    out.caught_up = false;
  } else {
    next = DmaCdrKey{to * 1000, "", ""};  // the window is done
    out.caught_up = to >= now - kDmaCdrSettleSeconds;
  }
  std::string encoded = EncodeDmaCdrKey(next);
  if (encoded.size() > 400) return FailedPrecondition("a CDR id is too long to resume after");
  auto it = cursors.find("cdr");
  if (it == cursors.end() || it->second != encoded) {
    cursors["cdr"] = encoded;
    out.cursor_moved = true;
  }
  return out;
}

// ------------------------------------------------------------------ devices

Result<DmaCollector::SubResult> DmaCollector::Devices(size_t max_records) {
  const int64_t now = clock_.NowUnixSeconds();
  SubResult out;
  if (!devices_pending_) {
    if (now < devices_next_due_) return out;
    inventory_.BeginSweep(now);
    PARLEY_ASSIGN_OR_RETURN(HttpResponse response,
                            Get("/api/rest/devices", kDmaDeviceListMediaType, devices_etag_));
    devices_next_due_ = now + settings_.inventory_interval_seconds;
    if (response.status == 304) return out;  // unchanged since the last complete read
    auto list = ParseDmaDeviceList(response.body, name_, now);
    response.body = std::string();
    if (!list.ok()) return list.error();
    LogSkips("device", list->skipped);
    out.skipped = list->skipped.size();
    std::vector<wire::DeviceRecord> changed;
    for (auto& d : list->devices)
      if (inventory_.Changed(d)) changed.push_back(std::move(d));
    std::sort(changed.begin(), changed.end(),
              [](const wire::DeviceRecord& a, const wire::DeviceRecord& b) { return a.id < b.id; });
    // Duplicate ids in one list: keep the first.
    changed.erase(std::unique(changed.begin(), changed.end(),
                              [](const wire::DeviceRecord& a, const wire::DeviceRecord& b) { return a.id == b.id; }),
                  changed.end());
    auto etag = response.headers.find("etag");
    devices_etag_ = etag != response.headers.end() && etag->second.size() <= 256 ? etag->second : std::string();
    devices_pending_ = std::move(changed);
  }
  std::vector<wire::DeviceRecord>& pending = *devices_pending_;
  size_t take = std::min(pending.size(), max_records);
  for (size_t i = 0; i < take; ++i) {
    inventory_.MarkSent(pending[i]);
    out.records.emplace_back(std::move(pending[i]));
  }
  pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(take));
  out.caught_up = pending.empty();
  if (pending.empty()) devices_pending_.reset();
  return out;
}

// ------------------------------------------------------------ live snapshots

Result<DmaCollector::SubResult> DmaCollector::ActiveCalls() {
  PARLEY_ASSIGN_OR_RETURN(HttpResponse response, Get("/api/rest/active-calls", kDmaActiveCallListMediaType));
  SubResult out;
  if (response.status == 304) return out;
  auto snapshot = ParseDmaActiveCalls(response.body);
  if (!snapshot.ok()) return snapshot.error();
  log::debug("{}: {} active call(s)", name_, snapshot->calls);
  if (snapshot->malformed > 0)
    out.warning = std::to_string(snapshot->malformed) + " active call(s) without callIdentifier";
  return out;
}

Result<DmaCollector::SubResult> DmaCollector::Conferences() {
  PARLEY_ASSIGN_OR_RETURN(HttpResponse response, Get("/api/rest/conferences", kDmaConferenceListMediaType));
  SubResult out;
  if (response.status == 304) return out;
  auto snapshot = ParseDmaConferences(response.body);
  if (!snapshot.ok()) return snapshot.error();
  log::debug("{}: {} live conference(s)", name_, snapshot->conferences.size());
  for (const DmaLiveConference& c : snapshot->conferences) {
    if (c.mcu.empty()) continue;
    if (live_mcu_.size() >= kMaxLiveConferences && !live_mcu_.contains(c.id)) live_mcu_.erase(live_mcu_.begin());
    live_mcu_[c.id] = c.mcu;
  }
  if (snapshot->malformed > 0)
    out.warning = std::to_string(snapshot->malformed) + " conference(s) without conferenceIdentifier";
  return out;
}

}  // namespace parley::agent
