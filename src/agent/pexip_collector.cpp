#include "agent/pexip_collector.h"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "agent/device_http.h"
#include "common/log.h"
#include "common/time_format.h"
#include "crypto/crypto.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

constexpr std::string_view kConferencePath = "/api/admin/history/v1/conference/";
constexpr std::string_view kParticipantPath = "/api/admin/history/v1/participant/";
// Ids remembered per resource at the cursor's end time: enough for the
// records of one microsecond, small enough for the server's 1024-byte cursor.
constexpr size_t kMaxSeen = 40;
// meta.next links followed in one fetch when whole pages were already seen.
constexpr int kMaxPagesPerFetch = 20;
constexpr size_t kMaxText = 1024;  // the wire's text limit
constexpr size_t kMaxId = 200;     // the wire's id limit

std::string_view View(const json::string& s) { return {s.data(), s.size()}; }

// Boost.JSON strings are valid UTF-8; cut at kMaxText without splitting a sequence.
std::string Text(std::string_view s) {
  if (s.size() <= kMaxText) return std::string(s);
  size_t n = kMaxText;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return {};
  return Text(View(v->get_string()));
}

// An id may arrive as a string (uuid) or a number.
std::string IdAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(View(v->get_string()));
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return {};
}

std::optional<double> NumberAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::nullopt;
  double d = 0;
  if (v->is_int64()) d = static_cast<double>(v->get_int64());
  else if (v->is_uint64()) d = static_cast<double>(v->get_uint64());
  else if (v->is_double()) d = v->get_double();
  else return std::nullopt;
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::optional<int64_t> IntAt(const json::object& o, std::string_view key) {
  auto d = NumberAt(o, key);
  if (!d || *d < 0 || *d > 9e15) return std::nullopt;
  return static_cast<int64_t>(*d);
}

std::string ForLog(std::string_view id) {
  std::string out;
  for (size_t i = 0; i < id.size() && i < 64; ++i) out += (id[i] >= 0x20 && id[i] < 0x7F) ? id[i] : '?';
  return out.empty() ? "(no id)" : out;
}

// "/api/admin/history/v1/conference/<id>/" -> "<id>".
std::string LastSegment(std::string_view uri) {
  while (!uri.empty() && uri.back() == '/') uri.remove_suffix(1);
  size_t slash = uri.rfind('/');
  return std::string(slash == std::string_view::npos ? uri : uri.substr(slash + 1));
}

bool LooksLikeNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  return !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Both lists share the envelope: {"meta": {..., "next": ...}, "objects": [...]}.
template <typename MapFn>
Result<PexipList> ParseList(std::string_view text, MapFn map) {
  json::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return InvalidArgument("device answer is not JSON (" + ec.message() + ")");
  const json::object* obj = root.if_object();
  const json::value* objects = obj ? obj->if_contains("objects") : nullptr;
  if (!objects || !objects->is_array()) return InvalidArgument("device answer has no \"objects\" array");
  PexipList list;
  if (const json::value* meta = obj->if_contains("meta"); meta && meta->is_object()) {
    const json::value* next = meta->get_object().if_contains("next");
    if (next && next->is_string() && !next->get_string().empty()) list.next = std::string(View(next->get_string()));
    else if (next && !next->is_null() && !next->is_string())
      return InvalidArgument("device answer: meta.next is neither a string nor null");
  }
  for (const json::value& v : objects->get_array()) {
    PexipItem item;
    const json::object* o = v.if_object();
    if (!o) {
      item.skip_reason = "list item is not an object";
      list.items.push_back(std::move(item));
      continue;
    }
    item.id = IdAt(*o, "id");
    item.end_us = ParsePexipTime(StringAt(*o, "end_time"));
    std::string reason;
    if (item.id.empty()) {
      reason = "missing id";
    } else if (item.id.size() > kMaxId) {
      reason = "id longer than 200 characters";
    } else {
      reason = map(*o, item);
    }
    item.skip_reason = std::move(reason);
    list.items.push_back(std::move(item));
  }
  return list;
}

// start_time / end_time into whole seconds, or the reason they cannot be used.
std::string Times(const json::object& o, const PexipItem& item, int64_t& start, int64_t& end) {
  auto s = ParsePexipTime(StringAt(o, "start_time"));
  if (!s) return "start_time is missing or not a time";
  if (!item.end_us) return "end_time is missing or not a time";
  if (*item.end_us < *s) return "end_time is before start_time";
  start = *s / 1000000;
  end = *item.end_us / 1000000;
  return "";
}

// Per (direction, media): what several streams of one participant add up to.
struct StreamAcc {
  std::optional<int64_t> bitrate;  // the highest
  std::string codec;
  double lost = 0, total = 0;
  bool counts = false;
  std::optional<double> pct_max;
  int streams = 0;
  bool traffic = false;  // a bitrate or a packet count above 0
};

void Accumulate(StreamAcc& acc, const json::object& s, std::string_view prefix, std::string_view count_key) {
  std::string p(prefix);
  ++acc.streams;
  if (auto b = IntAt(s, p + "bitrate")) {
    acc.bitrate = std::max(acc.bitrate.value_or(0), *b);
    acc.traffic |= *b > 0;
  }
  if (acc.codec.empty()) acc.codec = StringAt(s, p + "codec");
  auto lost = IntAt(s, p + "packets_lost");
  auto count = IntAt(s, p + std::string(count_key));
  if (lost && count) {
    acc.counts = true;
    acc.traffic |= *count > 0;
    acc.lost += static_cast<double>(*lost);
    // rx: lost packets were never received, so they add to the total; tx:
    // packets_sent already counts them.
    acc.total += static_cast<double>(*count) + (count_key == "packets_received" ? static_cast<double>(*lost) : 0.0);
  }
  if (auto pct = NumberAt(s, p + "packet_loss"); pct && *pct >= 0)
    acc.pct_max = std::max(acc.pct_max.value_or(0), std::min(*pct, 100.0));
}

std::vector<wire::QualitySample> MediaStreams(const json::object& participant) {
  const json::value* v = participant.if_contains("media_streams");
  if (!v || !v->is_array()) return {};
  // Pexip reports from the conference node's side: rx_* is what it RECEIVED
  // from the participant (the participant's transmit, direction "tx"), tx_*
  // what it sent (the participant's receive, direction "rx").
  std::map<std::pair<std::string, std::string>, StreamAcc> acc;
  for (const json::value& sv : v->get_array()) {
    const json::object* s = sv.if_object();
    if (!s) continue;
    std::string type = StringAt(*s, "stream_type");
    std::string media = type == "audio" ? "audio" : type == "video" ? "video"
                      : (type == "presentation" || type == "content") ? "content" : "";
    if (media.empty()) continue;
    Accumulate(acc[{"tx", media}], *s, "rx_", "packets_received");
    Accumulate(acc[{"rx", media}], *s, "tx_", "packets_sent");
  }
  std::vector<wire::QualitySample> out;
  for (auto& [key, a] : acc) {
    // A direction that carried nothing (e.g. no presentation sent) has no
    // quality to report: "0 % loss" would make it look perfect.
    if (!a.traffic) continue;
    wire::QualitySample q;
    q.party = "participant";
    q.direction = key.first;
    q.media = key.second;
    q.codec = a.codec;
    q.bitrate_kbps = a.bitrate;
    if (a.counts && a.total > 0) {
      q.packet_loss_pct_avg = std::clamp(100.0 * a.lost / a.total, 0.0, 100.0);
      q.packet_loss_pct_max = a.pct_max;
    } else {
      q.packet_loss_pct_avg = a.pct_max;
    }
    if (q.bitrate_kbps || q.packet_loss_pct_avg) out.push_back(std::move(q));
  }
  return out;
}

std::string HttpReason(long status) {
  switch (status) {
    case 401: return "401 Unauthorized: check username/password_file";
    case 403: return "403 Forbidden: the user lacks read access to the history API";
    case 404: return "404 Not Found: is url a Pexip Management Node?";
    case 429: return "429 Too Many Requests (rate limited)";
    default: return DescribeDeviceStatus(status);
  }
}

}  // namespace

// ================================================================ pure functions

std::optional<int64_t> ParsePexipTime(std::string_view text) {
  if (text.size() < 19) return std::nullopt;
  auto seconds = ParseRfc3339(std::string(text.substr(0, 19)) + "Z");
  if (!seconds || *seconds < 0) return std::nullopt;
  std::string_view rest = text.substr(19);
  int64_t micros = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0 || digits > 9) return std::nullopt;
    for (size_t i = 0; i < 6; ++i) micros = micros * 10 + (i < digits ? rest[i] - '0' : 0);
    rest.remove_prefix(digits);
  }
  if (!rest.empty() && rest != "Z" && rest != "+00:00" && rest != "+0000") return std::nullopt;
  return *seconds * 1000000 + micros;
}

std::string FormatPexipTime(int64_t micros) {
  std::string t = FormatUtc(micros / 1000000);  // YYYY-MM-DDTHH:MM:SSZ
  t.pop_back();
  std::string frac = std::to_string(micros % 1000000);
  return t + "." + std::string(6 - frac.size(), '0') + frac;
}

Result<PexipList> ParsePexipConferences(std::string_view text, const std::string& source) {
  return ParseList(text, [&](const json::object& o, PexipItem& item) -> std::string {
    wire::ConferenceRecord r;
    r.source = source;
    r.id = item.id;
    if (std::string why = Times(o, item, r.start, r.end); !why.empty()) return why;
    r.name = StringAt(o, "name");
    r.participant_count = IntAt(o, "participant_count").value_or(0);
    item.record = std::move(r);
    return "";
  });
}

Result<PexipList> ParsePexipParticipants(std::string_view text, const std::string& source) {
  return ParseList(text, [&](const json::object& o, PexipItem& item) -> std::string {
    wire::ParticipantRecord r;
    r.source = source;
    r.id = item.id;
    r.conference_id = LastSegment(StringAt(o, "conference"));
    if (r.conference_id.empty()) return "missing conference";
    if (r.conference_id.size() > kMaxId) return "conference id longer than 200 characters";
    if (std::string why = Times(o, item, r.start, r.end); !why.empty()) return why;
    r.call_id = StringAt(o, "call_uuid");
    if (r.call_id.size() > kMaxId) r.call_id.clear();
    r.duration_s = std::min(IntAt(o, "duration").value_or(r.end - r.start), r.end - r.start);
    r.protocol = StringAt(o, "protocol");
    if (r.protocol == "H323") r.protocol = "H.323";
    std::string role = StringAt(o, "role");
    r.role = role == "chair" || role == "guest" ? role : "";
    r.disconnect_reason = StringAt(o, "disconnect_reason");
    r.party.name = StringAt(o, "display_name");
    r.party.uri = StringAt(o, "remote_alias");
    if (LooksLikeNumber(r.party.uri)) r.party.number = r.party.uri;
    r.party.ip = StringAt(o, "remote_address");
    r.party.model = StringAt(o, "vendor");
    r.party.site = StringAt(o, "system_location");
    r.quality = MediaStreams(o);
    item.record = std::move(r);
    return "";
  });
}

std::string PexipIdHash(std::string_view id) { return crypto::Sha256Hex(id).substr(0, 8); }

Result<PexipCursor> DecodePexipCursor(std::string_view text) {
  PexipCursor c;
  if (text.empty()) return c;
  auto bad = [] { return InvalidArgument("the server's cursor is not a pexip cursor"); };
  json::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  const json::object* o = ec ? nullptr : v.if_object();
  if (!o) return bad();
  const json::value* version = o->if_contains("v");
  if (!version || !version->is_int64() || version->get_int64() != 1) return bad();
  for (auto [key, stream] : {std::pair{"c", &c.conferences}, std::pair{"p", &c.participants}}) {
    const json::value* s = o->if_contains(key);
    if (!s) continue;
    if (!s->is_object()) return bad();
    const json::value* t = s->get_object().if_contains("t");
    const json::value* h = s->get_object().if_contains("h");
    if (!t || !t->is_string()) return bad();
    stream->end_us = ParsePexipTime(View(t->get_string()));
    if (!stream->end_us) return bad();
    if (h) {
      if (!h->is_string()) return bad();
      std::string_view list = View(h->get_string());
      while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view one = list.substr(0, comma);
        if (one.size() != 8) return bad();
        stream->seen.emplace_back(one);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    }
  }
  return c;
}

Result<std::string> EncodePexipCursor(const PexipCursor& c) {
  json::object o;
  o["v"] = 1;
  for (auto [key, stream] : {std::pair{"c", &c.conferences}, std::pair{"p", &c.participants}}) {
    if (!stream->end_us) continue;
    json::object s;
    s["t"] = FormatPexipTime(*stream->end_us);
    std::string h;
    for (const std::string& one : stream->seen) h += (h.empty() ? "" : ",") + one;
    if (!h.empty()) s["h"] = h;
    o[key] = std::move(s);
  }
  std::string out = json::serialize(o);
  if (out.size() > 1024) return FailedPrecondition("pexip cursor would exceed 1024 bytes");
  return out;
}

// ================================================================ the collector

struct PexipCollector::StreamPage {
  std::vector<wire::Record> records;
  PexipStreamCursor next;
  bool more = false;
  size_t skipped = 0;
  std::string last_skip;  // "participant <id>: <reason>"
};

PexipCollector::PexipCollector(const SourceConfig& source, Transport transport, const Clock& clock)
    : name_(source.name),
      url_(source.url),
      origin_([&] {
        auto scheme = source.url.find("://");
        auto end = scheme == std::string::npos ? std::string::npos : source.url.find('/', scheme + 3);
        return source.url.substr(0, end);
      }()),
      settle_seconds_(source.settle_seconds),
      initial_history_days_(source.initial_history_days),
      transport_(std::move(transport)),
      clock_(clock),
      health_(clock) {}

Result<std::unique_ptr<PexipCollector>> PexipCollector::Create(const SourceConfig& source,
                                                               const std::atomic<bool>* abort, const Clock& clock) {
  PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> http, MakeDeviceHttpClient(source, abort));
  HttpClient* raw = http.get();
  auto c = std::unique_ptr<PexipCollector>(
      new PexipCollector(source, [raw](const HttpRequest& r) { return raw->Send(r); }, clock));
  c->http_ = std::move(http);
  return c;
}

std::unique_ptr<PexipCollector> PexipCollector::CreateWithTransport(const SourceConfig& source, Transport transport,
                                                                    const Clock& clock) {
  return std::unique_ptr<PexipCollector>(new PexipCollector(source, std::move(transport), clock));
}

Result<std::string> PexipCollector::Get(const std::string& target) {
  HttpRequest request;
  request.url = target;
  request.headers.emplace_back("Accept", "application/json");
  auto response = transport_(request);
  if (!response.ok()) return Unavailable("device unreachable: " + response.error().detail);
  if (response->status != 200) return Unavailable(HttpReason(response->status));
  return std::move(response->body);
}

Result<PexipCollector::StreamPage> PexipCollector::FetchStream(bool conferences, const PexipStreamCursor& cursor,
                                                               size_t limit) {
  const std::string_view path = conferences ? kConferencePath : kParticipantPath;
  const char* what = conferences ? "conference" : "participant";
  const int64_t now_us = clock_.NowUnixSeconds() * 1000000;
  const int64_t lower = cursor.end_us ? *cursor.end_us : now_us - initial_history_days_ * 86400LL * 1000000;
  const int64_t upper = now_us - settle_seconds_ * 1000000;
  StreamPage page;
  page.next = cursor;
  if (lower >= upper) return page;

  std::string target = url_ + std::string(path) + "?limit=" + std::to_string(limit) +
                       "&offset=0&order_by=end_time&end_time__gte=" + UrlEncode(FormatPexipTime(lower)) +
                       "&end_time__lt=" + UrlEncode(FormatPexipTime(upper));
  const std::set<std::string> seen(cursor.seen.begin(), cursor.seen.end());
  std::set<std::string> visited;
  std::string previous_signature;
  int64_t last_end = lower;
  size_t taken = 0;
  for (int pages = 0;; ++pages) {
    if (!visited.insert(target).second)
      return FailedPrecondition("device repeated a page (meta.next points to a page already read)");
    PARLEY_ASSIGN_OR_RETURN(std::string body, Get(target));
    auto list = conferences ? ParsePexipConferences(body, name_) : ParsePexipParticipants(body, name_);
    if (!list.ok()) return list.error();
    if (list->items.empty()) break;
    // The same objects under a different next link: a device stuck on one page.
    std::string signature = std::to_string(list->items.size()) + ":" + list->items.front().id + ":" +
                            list->items.back().id;
    if (signature == previous_signature) return FailedPrecondition("device repeated a page (same objects again)");
    previous_signature = signature;
    bool done = false;
    for (PexipItem& item : list->items) {
      if (item.end_us) {
        if (*item.end_us < last_end)
          return FailedPrecondition(std::string("device answer is not ordered by end_time (") + what + "s)");
        if (*item.end_us >= upper) {  // the device ignored end_time__lt: the rest is too young
          done = true;
          break;
        }
        last_end = *item.end_us;
        if (cursor.end_us && *item.end_us == *cursor.end_us && seen.count(PexipIdHash(item.id))) continue;
      }
      if (taken == limit) {
        page.more = true;
        done = true;
        break;
      }
      ++taken;
      if (item.record) {
        page.records.push_back(std::move(*item.record));
      } else {
        ++page.skipped;
        page.last_skip = std::string(what) + " " + ForLog(item.id) + ": " + item.skip_reason;
        log::warn("{}: skipped {} {}: {}", name_, what, ForLog(item.id), item.skip_reason);
      }
      if (item.end_us) {
        std::string h = PexipIdHash(item.id);
        if (!page.next.end_us || *item.end_us > *page.next.end_us) {
          page.next.end_us = item.end_us;
          page.next.seen = {h};
        } else if (*item.end_us == *page.next.end_us) {
          page.next.seen.push_back(h);
          if (page.next.seen.size() > kMaxSeen) page.next.seen.erase(page.next.seen.begin());
        }
      }
    }
    if (done || list->items.size() < limit || !list->next) break;  // a short page: caught up
    if (taken == limit || pages + 1 >= kMaxPagesPerFetch) {
      page.more = true;
      break;
    }
    // Follow meta.next, but only on this device: a path, or a URL of the same origin.
    std::string next = *list->next;
    if (next.rfind(origin_ + "/", 0) == 0) next = next.substr(origin_.size());
    if (next.empty() || next.front() != '/' || next.rfind("//", 0) == 0 || next.find(path) != 0)
      return FailedPrecondition("device answer: meta.next is not a link to the same list on this device");
    target = origin_ + next;
  }
  return page;
}

Result<CollectedPage> PexipCollector::FetchAfter(const std::string& cursor_text, size_t max_records) {
  auto cursor = DecodePexipCursor(cursor_text);
  if (!cursor.ok()) {
    health_.Failing(cursor.error().detail);
    return cursor.error();
  }
  PexipCursor next = *cursor;
  CollectedPage page;
  size_t skipped = 0;
  std::string last_skip;

  auto conf = FetchStream(true, cursor->conferences, max_records);
  if (!conf.ok()) {
    std::string what = "conferences: " + conf.error().detail;
    health_.Failing(what);
    return Error{conf.error().code, name_ + ": " + what};
  }
  for (auto& r : conf->records) page.records.push_back(std::move(r));
  next.conferences = conf->next;
  skipped += conf->skipped;
  if (!conf->last_skip.empty()) last_skip = conf->last_skip;
  page.more = conf->more;

  std::optional<Error> participant_error;
  if (!conf->more && page.records.size() + conf->skipped < max_records) {
    auto part = FetchStream(false, cursor->participants, max_records - page.records.size() - conf->skipped);
    if (!part.ok()) {
      participant_error = Error{part.error().code, "participants: " + part.error().detail};
    } else {
      for (auto& r : part->records) page.records.push_back(std::move(r));
      next.participants = part->next;
      skipped += part->skipped;
      if (!part->last_skip.empty()) last_skip = part->last_skip;
      page.more = part->more;
    }
  } else {
    page.more = true;
  }
  page.skipped = skipped;

  auto encoded = EncodePexipCursor(next);
  if (!encoded.ok()) {
    health_.Failing(encoded.error().detail);
    return encoded.error();
  }
  page.next_cursor = cursor_text.empty() && !next.conferences.end_us && !next.participants.end_us ? ""
                                                                                                  : *encoded;
  if (participant_error) {
    health_.Failing(participant_error->detail);
    if (page.records.empty() && page.next_cursor == cursor_text) {
      return Error{participant_error->code, name_ + ": " + participant_error->detail};
    }
    page.more = false;
  } else if (skipped > 0) {
    health_.Degraded(std::to_string(skipped) + " record(s) could not be mapped; last: " + last_skip);
  } else {
    health_.Ok();
  }
  return page;
}

Result<std::string> PexipCollector::Probe(const std::string&) {
  auto body = Get(url_ + std::string(kConferencePath) + "?limit=1&order_by=end_time");
  if (!body.ok()) return body.error();
  auto list = ParsePexipConferences(*body, name_);
  if (!list.ok()) return list.error();
  json::error_code ec;
  json::value root = json::parse(*body, ec);
  std::optional<int64_t> total;
  if (!ec && root.is_object()) {
    if (const json::value* meta = root.get_object().if_contains("meta"); meta && meta->is_object())
      total = IntAt(meta->get_object(), "total_count");
  }
  if (total) return "history API readable; " + std::to_string(*total) + " conference(s) in history";
  return std::string("history API readable");
}

}  // namespace parley::agent
