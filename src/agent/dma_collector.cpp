#include "agent/dma_collector.h"

#include <boost/json.hpp>

#include <charconv>
#include <iterator>
#include <variant>

#include "common/files.h"
#include "common/log.h"
#include "common/time_format.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

std::string_view View(const json::string& s) { return {s.data(), s.size()}; }

// A device-supplied identifier as it may appear in a log line: printable
// ASCII, at most 64 characters.
std::string ForLog(std::string_view id) {
  if (id.empty()) return "(no callIdentifier)";
  std::string out;
  for (size_t i = 0; i < id.size() && i < 64; ++i) {
    char c = id[i];
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  if (id.size() > 64) out += "...";
  return out;
}

// The string at `key`, or "" when absent, null or not a string.
std::string StringAt(const json::object* obj, std::string_view key) {
  if (!obj) return {};
  const json::value* v = obj->if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string(View(v->get_string()));
}

bool IsAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
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
  const json::value* d = call.if_contains(prefix + "Details");
  const json::object* details = d ? d->if_object() : nullptr;
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

// A short, PII-free description of a device HTTP status for last_error.
std::string DescribeDeviceStatus(long status) {
  std::string s = "device answered HTTP " + std::to_string(status);
  if (status == 401 || status == 403) s += " (check username and password file)";
  return s;
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
  json::error_code ec;
  json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return InvalidArgument("device answer is not JSON (" + ec.message() + ")");
  const json::object* obj = root.if_object();
  const json::value* list = obj ? obj->if_contains("plcm-call-list") : nullptr;
  if (!list || !list->is_object()) return InvalidArgument("device answer has no plcm-call-list object");

  DmaPage page;
  const json::value* next = obj->if_contains("next");
  if (next && next->is_string()) {
    page.next = std::string(View(next->get_string()));
  } else if (next && !next->is_null()) {
    return InvalidArgument("device answer: \"next\" is neither a string nor null");
  }

  // Polycom's JSON comes from XML: a single call may arrive as an object
  // instead of a one-element array. Accept both; absent means no calls.
  const json::value* calls = list->get_object().if_contains("plcm-call");
  json::array single;
  const json::array* items = nullptr;
  if (!calls || calls->is_null()) {
    items = &single;
  } else if (calls->is_array()) {
    items = &calls->get_array();
  } else if (calls->is_object()) {
    single.push_back(*calls);
    items = &single;
  } else {
    return InvalidArgument("device answer: plcm-call is neither an array nor an object");
  }

  page.items = items->size();
  for (const json::value& item : *items) {
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

Result<std::unique_ptr<DmaCollector>> DmaCollector::Create(const SourceConfig& source,
                                                           const std::atomic<bool>* abort) {
  std::string label = "source " + source.name + ": ";
  if (Status s = CheckPrivateFile(source.password_file); !s.ok())
    return ConfigError(label + "password_file: " + s.error().detail);
  auto password = ReadFile(source.password_file);
  if (!password.ok()) return ConfigError(label + "password_file: " + password.error().detail);
  std::string pw = std::move(*password);
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  if (pw.empty()) return ConfigError(label + "password_file: is empty");

  HttpClientOptions options;
  options.ca_file = source.ca_file;
  options.username = source.username;
  options.password = std::move(pw);
  options.abort = abort;
  auto http = HttpClient::Create(std::move(options));
  if (!http.ok()) return ConfigError(label + "ca_file: " + http.error().detail);
  return std::unique_ptr<DmaCollector>(new DmaCollector(source.name, source.url, std::move(*http)));
}

void DmaCollector::SetHealth(SourceStatus status, std::optional<std::string> last_error) {
  std::lock_guard<std::mutex> lock(mu_);
  health_.status = status;
  health_.last_error = std::move(last_error);
}

SourceHealth DmaCollector::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

Result<CollectedPage> DmaCollector::FetchAfter(const std::string& cursor, size_t max_records) {
  HttpRequest request;
  request.url = url_ + "/api/rest/calls?limit=" + std::to_string(max_records);
  if (!cursor.empty()) request.url += "&after=" + UrlEncode(cursor);
  request.headers.emplace_back("Accept", std::string(kDmaCallListMediaType));

  auto response = http_->Send(request);
  if (!response.ok()) {
    SetHealth(SourceStatus::kFailing, "device unreachable: " + response.error().detail);
    return response.error();
  }
  if (response->status != 200) {
    std::string what = DescribeDeviceStatus(response->status);
    SetHealth(SourceStatus::kFailing, what);
    return Unavailable(name_ + ": " + what);
  }
  auto page = ParseDmaCallList(response->body, name_);
  response->body.clear();
  if (!page.ok()) {
    SetHealth(SourceStatus::kFailing, page.error().detail);
    return page.error();
  }
  if (page->items > max_records) {
    std::string what = "device returned " + std::to_string(page->items) + " calls for limit " +
                       std::to_string(max_records);
    SetHealth(SourceStatus::kFailing, what);
    return FailedPrecondition(name_ + ": " + what);
  }
  if (page->items > 0 && !page->next) {
    // The rule in docs/agent.md: `next` is null only for an empty page.
    std::string what = "device page with calls has no next token";
    SetHealth(SourceStatus::kFailing, what);
    return FailedPrecondition(name_ + ": " + what);
  }

  CollectedPage out;
  out.records.assign(std::make_move_iterator(page->records.begin()), std::make_move_iterator(page->records.end()));
  out.skipped = page->skipped.size();
  out.next_cursor = page->next.value_or(cursor);
  // A short page means the device had no more; a full one, fetch again now.
  out.more = page->next.has_value() && page->items >= max_records;
  for (const DmaSkip& skip : page->skipped) {
    log::warn("{}: skipped call {}: {}", name_, ForLog(skip.call_id),
              skip.reason);
  }
  if (out.skipped > 0) {
    SetHealth(SourceStatus::kDegraded, std::to_string(out.skipped) + " call record(s) could not be mapped");
  } else {
    SetHealth(SourceStatus::kOk, std::nullopt);
  }
  return out;
}

}  // namespace parley::agent
