#include "agent/cucm_collector.h"

#include <csv.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>
#include <tuple>
#include <utility>
#include <variant>

#include "common/log.h"
#include "common/time_format.h"

namespace parley::agent {

namespace json = boost::json;

namespace {

// ---------------------------------------------------------------- limits

// A field longer than this is refused (libcsv's buffer cannot grow past it):
// CUCM's longest columns are VARCHAR(1024); an unclosed quote must not pull
// a whole file into one field.
constexpr size_t kMaxFieldBytes = 64 * 1024;
// CUCM 15 has ~130 CDR and ~60 CMR columns.
constexpr size_t kMaxColumns = 1024;
// CMR files read for a page: those whose name time is this close to one of
// the page's CDR files (a call's CMRs are written when it ends, as its CDR).
constexpr int64_t kCmrJoinWindowS = 5 * 60;
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxCursorBytes = 1024;
// Unix seconds accepted as CDR times (the wire's range).
constexpr int64_t kMaxTimestamp = 253402300799;

void* CappedRealloc(void* p, size_t size) {
  if (size > kMaxFieldBytes + 16) return nullptr;
  return std::realloc(p, size);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Empty (or blank) -> nullopt; otherwise a full signed decimal integer.
std::optional<int64_t> ParseInt(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  int64_t v = 0;
  const char* first = text.data();
  if (*first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Device text as it goes into a record: invalid UTF-8 sequences become '?'
// (the server refuses a line that is not UTF-8), control characters dropped.
std::string CleanText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      if (c >= 0x20 && c != 0x7F) out += static_cast<char>(c);
      ++p;
      continue;
    }
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool ok = n > 0 && static_cast<size_t>(end - p) > n && p[1] >= lo && p[1] <= hi;
    for (size_t i = 2; ok && i <= n; ++i) ok = (p[i] & 0xC0) == 0x80;
    if (!ok) {
      out += '?';
      ++p;
      continue;
    }
    out.append(reinterpret_cast<const char*>(p), n + 1);
    p += n + 1;
  }
  if (out.size() > 1024) {  // the wire's text limit; CUCM's fields are shorter
    // Cut before the sequence that straddles the limit, never inside one.
    size_t n = 1024;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
    out.resize(n);
  }
  return out;
}

// ---------------------------------------------------------------- CSV

// Streams rows out of bytes with libcsv (RFC 4180 quoting, CR/LF/CRLF line
// ends). on_row(fields, terminated) is called per row; `terminated` is false
// only for a last row without a line end (a truncated file).
class CsvRows {
 public:
  using OnRow = std::function<bool(std::vector<std::string>& fields, bool terminated)>;

  explicit CsvRows(OnRow on_row) : on_row_(std::move(on_row)) {
    ok_ = csv_init(&parser_, 0) == 0;
    if (ok_) csv_set_realloc_func(&parser_, &CappedRealloc);
  }
  ~CsvRows() {
    if (ok_) csv_free(&parser_);
  }
  CsvRows(const CsvRows&) = delete;
  CsvRows& operator=(const CsvRows&) = delete;

  // False once on_row asked to stop or libcsv failed (error() says which).
  bool Feed(std::string_view bytes) {
    if (!ok_ || stopped_) return false;
    size_t n = csv_parse(&parser_, bytes.data(), bytes.size(), &OnField, &OnRowEnd, this);
    if (stopped_) return false;
    if (n != bytes.size()) {
      error_ = csv_strerror(csv_error(&parser_));
      if (csv_error(&parser_) == CSV_ENOMEM) error_ = "a field longer than 64 KiB (unclosed quote?)";
      return false;
    }
    return true;
  }
  bool Finish() {
    if (!ok_ || stopped_) return !stopped_ && ok_;
    csv_fini(&parser_, &OnField, &OnRowEnd, this);
    return !stopped_;
  }
  bool stopped() const { return stopped_; }
  const std::string& error() const { return error_; }
  bool init_failed() const { return !ok_; }

 private:
  static void OnField(void* data, size_t len, void* self_ptr) {
    auto* self = static_cast<CsvRows*>(self_ptr);
    if (self->stopped_) return;
    if (self->fields_.size() >= kMaxColumns) {
      self->too_many_ = true;
      return;
    }
    self->fields_.emplace_back(static_cast<const char*>(data), len);
  }
  static void OnRowEnd(int c, void* self_ptr) {
    auto* self = static_cast<CsvRows*>(self_ptr);
    if (self->stopped_) return;
    if (self->too_many_) self->fields_.resize(kMaxColumns + 1);  // reported as a column-count mismatch
    bool go_on = self->on_row_(self->fields_, c != -1);
    self->fields_.clear();
    self->too_many_ = false;
    if (!go_on) self->stopped_ = true;
  }

  OnRow on_row_;
  csv_parser parser_{};
  bool ok_ = false;
  bool stopped_ = false;
  bool too_many_ = false;
  std::vector<std::string> fields_;
  std::string error_;
};

// ---------------------------------------------------------------- header

struct Columns {
  std::vector<std::string> names;
  std::vector<std::string> types;  // base type, upper case: INTEGER, VARCHAR, UNIQUEIDENTIFIER, ...
  std::map<std::string, size_t> index;  // lower-cased name -> position (first wins)

  std::optional<size_t> Find(std::string_view name) const {
    auto it = index.find(Lower(name));
    if (it == index.end()) return std::nullopt;
    return it->second;
  }
};

bool IsIntegerType(std::string_view t) { return t == "INTEGER" || t == "BIGINT" || t == "SMALLINT" || t == "INT"; }

// "VARCHAR(50)" -> "VARCHAR"; nullopt for anything that is not a type token.
std::optional<std::string> BaseType(std::string_view token) {
  token = Trim(token);
  std::string base;
  size_t i = 0;
  for (; i < token.size() && ((token[i] >= 'A' && token[i] <= 'Z') || (token[i] >= 'a' && token[i] <= 'z')); ++i)
    base += static_cast<char>(token[i] >= 'a' ? token[i] - 'a' + 'A' : token[i]);
  if (base.empty()) return std::nullopt;
  std::string_view rest = token.substr(i);
  if (!rest.empty()) {
    if (rest.front() != '(' || rest.back() != ')' || !AllDigits(rest.substr(1, rest.size() - 2))) return std::nullopt;
  }
  return base;
}

// Reads a flat file: line 1 names, line 2 types, then data rows. `on_header`
// returns "" or why the file is unusable; `on_row(row, fields)` gets each
// well-formed data row (1-based) and returns false to stop; rows with the
// wrong column count, or truncated, go to `on_bad_row`.
struct FlatFileHandler {
  std::function<std::string(const Columns&)> on_header;
  std::function<bool(int64_t row, const std::vector<std::string>& fields)> on_row;
  std::function<void(int64_t row, std::string reason)> on_bad_row;
};

// The next chunk of the file; an empty one at the end. The bytes stay valid
// until the next call.
using ReadFn = std::function<Result<std::string_view>()>;

Status ReadFlatFile(const ReadFn& read, const FlatFileHandler& h) {
  Columns cols;
  int64_t line = 0;
  std::string header_error;
  CsvRows csv([&](std::vector<std::string>& fields, bool terminated) {
    ++line;
    if (line == 1) {
      if (!terminated) {
        header_error = "truncated before the type line";
        return false;
      }
      if (!fields.empty() && fields[0].rfind("\xEF\xBB\xBF", 0) == 0) fields[0].erase(0, 3);  // UTF-8 BOM
      if (fields.size() > kMaxColumns) {
        header_error = "more than 1024 columns";
        return false;
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        std::string name(Trim(fields[i]));
        cols.index.emplace(Lower(name), i);
        cols.names.push_back(std::move(name));
      }
      return true;
    }
    if (line == 2) {
      if (!terminated) {
        header_error = "truncated in the type line";
        return false;
      }
      if (fields.size() != cols.names.size()) {
        header_error = "the type line has " + std::to_string(fields.size()) + " columns, the header " +
                       std::to_string(cols.names.size());
        return false;
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        auto base = BaseType(fields[i]);
        if (!base) {
          header_error = "line 2 is not a type line (column " + std::to_string(i + 1) + ")";
          return false;
        }
        cols.types.push_back(*base);
      }
      header_error = h.on_header(cols);
      return header_error.empty();
    }
    int64_t row = line - 2;
    if (!terminated) {
      h.on_bad_row(row, "truncated last row (no line end)");
      return true;
    }
    if (fields.size() != cols.names.size()) {
      // One empty field is how a blank-but-spaces line arrives: not a row.
      if (fields.size() == 1 && Trim(fields[0]).empty()) return true;
      h.on_bad_row(row, "has " + std::to_string(fields.size()) + " columns, the header " +
                            std::to_string(cols.names.size()));
      return true;
    }
    return h.on_row(row, fields);
  });
  if (csv.init_failed()) return Internal("cannot initialise the CSV parser");

  for (;;) {
    auto chunk = read();
    if (!chunk.ok()) return chunk.error();
    if (chunk->empty()) break;
    if (!csv.Feed(*chunk)) {
      if (csv.stopped()) break;
      return InvalidArgument("broken CSV at line " + std::to_string(line + 1) + ": " + csv.error());
    }
  }
  if (!csv.stopped()) csv.Finish();
  if (!header_error.empty()) return InvalidArgument(header_error);
  if (line == 0) return InvalidArgument("empty file (no header line)");
  if (line == 1) return InvalidArgument("no type line (line 2)");
  return Ok();
}

ReadFn ReadFromMemory(std::string_view text) {
  auto done = std::make_shared<bool>(false);
  return [text, done]() -> Result<std::string_view> {
    if (*done) return std::string_view();
    *done = true;
    return text;
  };
}

// ---------------------------------------------------------------- CDR rows

// Column positions a CDR needs; optional ones may be absent.
struct CdrColumns {
  size_t record_type, cm_id, call_id, orig_leg, dest_leg, origination, connect, disconnect, orig_cause, dest_cause;
  std::optional<size_t> duration, orig_ip, dest_ip, orig_ip_text, dest_ip_text, calling_number, original_called,
      final_called, orig_device, dest_device, calling_uri, final_called_uri, orig_audio_bw, dest_audio_bw,
      orig_video_bw, dest_video_bw, in_protocol, out_protocol;
};

// Binds the named columns; "" on success, else why the file is unusable.
std::string BindRequired(const Columns& cols, std::initializer_list<std::pair<std::string_view, size_t*>> required,
                         bool integer) {
  for (auto [name, slot] : required) {
    auto i = cols.Find(name);
    if (!i) return "no column " + std::string(name);
    if (integer && !IsIntegerType(cols.types[*i]))
      return "column " + std::string(name) + " is typed " + cols.types[*i] + ", expected INTEGER";
    *slot = *i;
  }
  return "";
}

std::optional<size_t> Optional(const Columns& cols, std::string_view name, bool integer) {
  auto i = cols.Find(name);
  if (i && integer && !IsIntegerType(cols.types[*i])) return std::nullopt;  // typed otherwise: not trusted
  return i;
}

std::string BindCdr(const Columns& cols, CdrColumns& c) {
  std::string e = BindRequired(cols,
                               {{"cdrRecordType", &c.record_type},
                                {"globalCallID_callManagerId", &c.cm_id},
                                {"globalCallID_callId", &c.call_id},
                                {"origLegCallIdentifier", &c.orig_leg},
                                {"destLegCallIdentifier", &c.dest_leg},
                                {"dateTimeOrigination", &c.origination},
                                {"dateTimeConnect", &c.connect},
                                {"dateTimeDisconnect", &c.disconnect},
                                {"origCause_value", &c.orig_cause},
                                {"destCause_value", &c.dest_cause}},
                               true);
  if (!e.empty()) return e;
  c.duration = Optional(cols, "duration", true);
  c.orig_ip = Optional(cols, "origIpAddr", true);
  c.dest_ip = Optional(cols, "destIpAddr", true);
  c.orig_ip_text = Optional(cols, "origIpv4v6Addr", false);
  c.dest_ip_text = Optional(cols, "destIpv4v6Addr", false);
  c.calling_number = Optional(cols, "callingPartyNumber", false);
  c.original_called = Optional(cols, "originalCalledPartyNumber", false);
  c.final_called = Optional(cols, "finalCalledPartyNumber", false);
  c.orig_device = Optional(cols, "origDeviceName", false);
  c.dest_device = Optional(cols, "destDeviceName", false);
  c.calling_uri = Optional(cols, "callingPartyNumber_uri", false);
  c.final_called_uri = Optional(cols, "finalCalledPartyNumber_uri", false);
  c.orig_audio_bw = Optional(cols, "origMediaCap_Bandwidth", true);
  c.dest_audio_bw = Optional(cols, "destMediaCap_Bandwidth", true);
  c.orig_video_bw = Optional(cols, "origVideoCap_Bandwidth", true);
  c.dest_video_bw = Optional(cols, "destVideoCap_Bandwidth", true);
  c.in_protocol = Optional(cols, "IncomingProtocolID", true);
  c.out_protocol = Optional(cols, "OutgoingProtocolID", true);
  return "";
}

std::string_view At(const std::vector<std::string>& f, std::optional<size_t> i) {
  return i && *i < f.size() ? std::string_view(f[*i]) : std::string_view();
}

// CUCM ProtocolID: 1 SIP, 2 H.323, 3 CTI/JTAPI, 4 Q.931 (trunks and gateways).
std::string ProtocolName(std::optional<int64_t> id) {
  if (!id) return "";
  switch (*id) {
    case 1: return "SIP";
    case 2: return "H.323";
    case 3: return "CTI";
    case 4: return "Q.931";
    default: return "";
  }
}

// An address for a Party: the text column (CUCM 8.5+, IPv4 or IPv6) when
// set, else the reversed-byte integer column.
std::string PartyIp(const std::vector<std::string>& f, std::optional<size_t> text_col, std::optional<size_t> int_col) {
  std::string_view text = Trim(At(f, text_col));
  if (!text.empty() && text != "0") return CleanText(text);
  auto ip = DecodeCucmIpv4(At(f, int_col));
  return ip ? *ip : std::string();
}

int64_t NonNegative(std::optional<int64_t> v) { return v && *v > 0 ? *v : 0; }

// A CUCM identifier (call manager id, call id, leg id) normalized to its
// decimal spelling, so "007" in one file joins "7" in another.
std::optional<std::string> Id(std::string_view text) {
  auto v = ParseInt(text);
  if (!v || *v < 0) return std::nullopt;
  return std::to_string(*v);
}

std::string JoinKey(std::string_view cm_id, std::string_view call_id) {
  return std::string(cm_id) + "-" + std::string(call_id);
}

std::variant<wire::CallRecord, std::string> MapCdr(const CdrColumns& c, const std::vector<std::string>& f,
                                                   const std::string& source, std::string* id_out) {
  auto cm_id = Id(f[c.cm_id]);
  auto call_id = Id(f[c.call_id]);
  auto orig_leg = Id(f[c.orig_leg]);
  auto dest_leg = Id(f[c.dest_leg]);
  if (!cm_id || !call_id) return std::string("globalCallID_callManagerId/callId is not a non-negative integer");
  if (!orig_leg || !dest_leg) return std::string("orig/destLegCallIdentifier is not a non-negative integer");
  wire::CallRecord r;
  r.source = source;
  r.id = JoinKey(*cm_id, *call_id) + "-" + *orig_leg + "-" + *dest_leg;
  *id_out = r.id;

  auto origination = ParseInt(f[c.origination]);
  auto connect = ParseInt(f[c.connect]);
  auto disconnect = ParseInt(f[c.disconnect]);
  if (!origination || *origination <= 0 || *origination > kMaxTimestamp)
    return std::string("dateTimeOrigination is missing or not epoch seconds");
  if (!disconnect || *disconnect <= 0 || *disconnect > kMaxTimestamp)
    return std::string("dateTimeDisconnect is missing or not epoch seconds");
  if (*disconnect < *origination) return std::string("dateTimeDisconnect is before dateTimeOrigination");
  if (!connect && !Trim(f[c.connect]).empty()) return std::string("dateTimeConnect is not an integer");
  int64_t connected_at = NonNegative(connect);
  if (connected_at != 0 && (connected_at < *origination || connected_at > *disconnect))
    return std::string("dateTimeConnect is outside origination..disconnect");
  r.start = *origination;
  r.end = *disconnect;

  std::optional<int64_t> duration;
  if (c.duration) {
    duration = ParseInt(f[*c.duration]);
    if (!duration && !Trim(f[*c.duration]).empty()) return std::string("duration is not an integer");
    if (duration && *duration < 0) return std::string("duration is negative");
  }
  r.duration_s = duration ? *duration : (connected_at ? *disconnect - connected_at : 0);
  r.duration_s = std::min(r.duration_s, r.end - r.start);  // CUCM rounds; the wire allows no more than end - start

  auto orig_cause = ParseInt(f[c.orig_cause]);
  auto dest_cause = ParseInt(f[c.dest_cause]);
  if ((!orig_cause && !Trim(f[c.orig_cause]).empty()) || (!dest_cause && !Trim(f[c.dest_cause]).empty()))
    return std::string("origCause_value/destCause_value is not an integer");
  CucmCause oc = DescribeCucmCause(orig_cause.value_or(0));
  CucmCause dc = DescribeCucmCause(dest_cause.value_or(0));
  // The cause that explains the end: an abnormal one first (destination
  // side, then origin), else whichever side gave one.
  const CucmCause* cause = dc.abnormal ? &dc : oc.abnormal ? &oc : nullptr;
  if (cause) {
    r.status = wire::CallStatus::kFailed;
    r.cause = cause->text;
  } else if (connected_at == 0) {
    // Never answered: the caller hung up, nobody answered, or it was redirected away.
    r.status = wire::CallStatus::kFailed;
    const CucmCause& normal = !dc.text.empty() ? dc : oc;
    r.cause = normal.text.empty() ? "not connected" : normal.text + " (not connected)";
  } else {
    r.status = wire::CallStatus::kCompleted;
  }

  r.protocol = ProtocolName(ParseInt(At(f, c.in_protocol)));
  if (r.protocol.empty()) r.protocol = ProtocolName(ParseInt(At(f, c.out_protocol)));
  int64_t audio = std::max(NonNegative(ParseInt(At(f, c.orig_audio_bw))), NonNegative(ParseInt(At(f, c.dest_audio_bw))));
  int64_t video = std::max(NonNegative(ParseInt(At(f, c.orig_video_bw))), NonNegative(ParseInt(At(f, c.dest_video_bw))));
  r.bitrate_kbps = audio + video;

  r.orig.number = CleanText(Trim(At(f, c.calling_number)));
  r.orig.uri = CleanText(Trim(At(f, c.calling_uri)));
  r.orig.name = CleanText(Trim(At(f, c.orig_device)));
  r.orig.ip = PartyIp(f, c.orig_ip_text, c.orig_ip);
  r.dest.number = CleanText(Trim(At(f, c.final_called)));
  if (r.dest.number.empty()) r.dest.number = CleanText(Trim(At(f, c.original_called)));
  r.dest.uri = CleanText(Trim(At(f, c.final_called_uri)));
  r.dest.name = CleanText(Trim(At(f, c.dest_device)));
  r.dest.ip = PartyIp(f, c.dest_ip_text, c.dest_ip);
  return r;
}

// ---------------------------------------------------------------- CMR rows

struct CmrColumns {
  size_t cm_id, call_id, leg;
  std::optional<size_t> sent, received, lost, jitter, latency, vq, duration, octets_received, video_received,
      video_lost, video_jitter, video_rtt, video_owd, video_octets_received, video_duration;
};

std::string BindCmr(const Columns& cols, CmrColumns& c) {
  std::string e = BindRequired(
      cols,
      {{"globalCallID_callManagerId", &c.cm_id}, {"globalCallID_callId", &c.call_id}, {"callIdentifier", &c.leg}},
      true);
  if (!e.empty()) return e;
  c.sent = Optional(cols, "numberPacketsSent", true);
  c.received = Optional(cols, "numberPacketsReceived", true);
  c.lost = Optional(cols, "numberPacketsLost", true);
  c.jitter = Optional(cols, "jitter", true);
  c.latency = Optional(cols, "latency", true);
  c.vq = Optional(cols, "varVQMetrics", false);
  c.duration = Optional(cols, "duration", true);
  c.octets_received = Optional(cols, "numberOctetsReceived", true);
  c.video_received = Optional(cols, "numberVideoPacketsReceived", true);
  c.video_lost = Optional(cols, "numberVideoPacketsLost", true);
  c.video_jitter = Optional(cols, "videoAverageJitter", true);
  c.video_rtt = Optional(cols, "videoRoundTripTime", true);
  c.video_owd = Optional(cols, "videoOneWayDelay", true);
  c.video_octets_received = Optional(cols, "numberVideoOctetsReceived", true);
  c.video_duration = Optional(cols, "videoDuration", true);
  return "";
}

std::optional<double> LossPct(std::optional<int64_t> received, std::optional<int64_t> lost) {
  if (!received || !lost || *received < 0 || *lost < 0) return std::nullopt;
  double total = static_cast<double>(*received) + static_cast<double>(*lost);
  if (total <= 0) return std::nullopt;
  return std::clamp(100.0 * static_cast<double>(*lost) / total, 0.0, 100.0);
}

std::optional<int64_t> Kbps(std::optional<int64_t> octets, std::optional<int64_t> seconds) {
  if (!octets || !seconds || *octets <= 0 || *seconds <= 0) return std::nullopt;
  return static_cast<int64_t>(std::llround(static_cast<double>(*octets) * 8.0 / 1000.0 / static_cast<double>(*seconds)));
}

std::optional<double> NonNegativeMs(std::optional<int64_t> v) {
  if (!v || *v < 0) return std::nullopt;
  return static_cast<double>(*v);
}

std::optional<double> Mos(std::optional<double> v) {
  if (!v || *v < 1.0 || *v > 5.0) return std::nullopt;  // 0.0000 = not computed
  return v;
}

bool HasMetric(const wire::QualitySample& q) {
  return q.bitrate_kbps || q.packet_loss_pct_avg || q.jitter_ms_avg || q.jitter_ms_max || q.latency_ms_avg || q.mos;
}

std::variant<CucmCmr, std::string> MapCmr(const CmrColumns& c, const std::vector<std::string>& f) {
  CucmCmr m;
  auto cm_id = Id(f[c.cm_id]);
  auto call_id = Id(f[c.call_id]);
  auto leg = Id(f[c.leg]);
  if (!cm_id || !call_id) return std::string("globalCallID_callManagerId/callId is not a non-negative integer");
  if (!leg) return std::string("callIdentifier is not a non-negative integer");
  m.call_manager_id = std::move(*cm_id);
  m.call_id = std::move(*call_id);
  m.leg = std::move(*leg);

  // What the phone or gateway measured on the media it RECEIVED: direction rx.
  CucmVqMetrics vq = ParseVarVqMetrics(At(f, c.vq));
  wire::QualitySample audio;
  audio.direction = "rx";
  audio.media = "audio";
  audio.codec = CleanText(vq.codec);
  audio.packet_loss_pct_avg = LossPct(ParseInt(At(f, c.received)), ParseInt(At(f, c.lost)));
  audio.jitter_ms_avg = NonNegativeMs(ParseInt(At(f, c.jitter)));
  audio.jitter_ms_max = vq.max_jitter_ms;
  // latency 0 means "not measured" on most phones; the VQ one-way delay is better when present.
  audio.latency_ms_avg = vq.one_way_delay_ms;
  if (!audio.latency_ms_avg) {
    auto latency = ParseInt(At(f, c.latency));
    if (latency && *latency > 0) audio.latency_ms_avg = static_cast<double>(*latency);
  }
  audio.mos = Mos(vq.mos_avg);
  if (!audio.mos) audio.mos = Mos(vq.mos);
  audio.bitrate_kbps = Kbps(ParseInt(At(f, c.octets_received)), ParseInt(At(f, c.duration)));
  // A CMR of a call that carried no audio (all counters 0) says nothing.
  auto received = ParseInt(At(f, c.received));
  bool audio_flowed = (received && *received > 0) || audio.mos.has_value();
  if (audio_flowed && HasMetric(audio)) m.samples.push_back(std::move(audio));

  auto video_received = ParseInt(At(f, c.video_received));
  if (video_received && *video_received > 0) {
    wire::QualitySample video;
    video.direction = "rx";
    video.media = "video";
    video.packet_loss_pct_avg = LossPct(video_received, ParseInt(At(f, c.video_lost)));
    video.jitter_ms_avg = NonNegativeMs(ParseInt(At(f, c.video_jitter)));
    auto owd = ParseInt(At(f, c.video_owd));
    auto rtt = ParseInt(At(f, c.video_rtt));
    if (owd && *owd > 0) {
      video.latency_ms_avg = static_cast<double>(*owd);
    } else if (rtt && *rtt > 0) {
      video.latency_ms_avg = static_cast<double>(*rtt) / 2.0;  // RTT/2, as docs/formats says for one-way
    }
    video.bitrate_kbps = Kbps(ParseInt(At(f, c.video_octets_received)), ParseInt(At(f, c.video_duration)));
    if (HasMetric(video)) m.samples.push_back(std::move(video));
  }
  return m;
}

// The global call id part of a CDR id "cm-call-origleg-destleg".
std::string JoinKeyOf(const wire::CallRecord& r) {
  size_t first = r.id.find('-');
  size_t second = first == std::string::npos ? first : r.id.find('-', first + 1);
  return second == std::string::npos ? r.id : r.id.substr(0, second);
}

std::pair<std::string, std::string> LegsOf(const wire::CallRecord& r) {
  // id = cm-call-orig-dest, four non-negative integers.
  size_t a = r.id.find('-');
  size_t b = a == std::string::npos ? a : r.id.find('-', a + 1);
  size_t c = b == std::string::npos ? b : r.id.find('-', b + 1);
  if (c == std::string::npos) return {};
  return {r.id.substr(b + 1, c - b - 1), r.id.substr(c + 1)};
}

// ---------------------------------------------------------------- files on disk

std::string ErrnoText(int err) { return std::strerror(err); }

// Opens a regular file read-only (never a FIFO or device: O_NONBLOCK keeps a
// FIFO from blocking the open).
class ReadOnlyFile {
 public:
  static Result<ReadOnlyFile> Open(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return Unavailable("cannot open " + path.filename().string() + ": " + ErrnoText(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return InvalidArgument(path.filename().string() + " is not a regular file");
    }
    return ReadOnlyFile(fd, path.filename().string());
  }
  ReadOnlyFile(ReadOnlyFile&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)), name_(std::move(o.name_)), buf_(std::move(o.buf_)) {}
  ReadOnlyFile& operator=(ReadOnlyFile&&) = delete;
  ~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  ReadFn Reader() {
    buf_.resize(kReadChunk);
    return [this]() -> Result<std::string_view> {
      for (;;) {
        ssize_t n = ::read(fd_, buf_.data(), buf_.size());
        if (n >= 0) return std::string_view(buf_.data(), static_cast<size_t>(n));
        if (errno == EINTR) continue;
        return Unavailable("cannot read " + name_ + ": " + ErrnoText(errno));
      }
    };
  }

 private:
  ReadOnlyFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_;
  std::string name_;
  std::string buf_;
};

// (datetime, seq) order inside one node.
bool PositionLess(const CucmFileName& a, const CucmFileName& b) {
  return std::tie(a.datetime, a.seq) < std::tie(b.datetime, b.seq);
}

// A position string "yyyymmddhhmm_seq" back into comparable parts.
std::optional<std::pair<std::string, uint64_t>> ParsePosition(std::string_view p) {
  size_t u = p.find('_');
  if (u != 12 || !AllDigits(p.substr(0, 12)) || !AllDigits(p.substr(13)) || p.size() > 13 + 19) return std::nullopt;
  uint64_t seq = 0;
  std::from_chars(p.data() + 13, p.data() + p.size(), seq);
  return std::pair<std::string, uint64_t>(std::string(p.substr(0, 12)), seq);
}

// Sets the node's high-water mark to `name` unless it already is past it.
void Advance(std::map<std::string, std::string>& high_water, const CucmFileName& name) {
  std::string& hw = high_water[name.NodeKey()];
  auto pos = ParsePosition(hw);
  if (!pos || std::tie(pos->first, pos->second) < std::tie(name.datetime, name.seq)) hw = name.Position();
}

}  // namespace

// ================================================================ public pure functions

std::optional<CucmFileName> ParseCucmFileName(std::string_view name) {
  // tag _ cluster _ node _ yyyymmddhhmm _ seq, parsed from the right so the
  // cluster id may itself contain '_'.
  if (name.size() < 4 || (name.substr(0, 4) != "cdr_" && name.substr(0, 4) != "cmr_")) return std::nullopt;
  CucmFileName f;
  f.tag = std::string(name.substr(0, 3));
  std::string_view rest = name.substr(4);
  size_t u3 = rest.rfind('_');
  if (u3 == std::string_view::npos) return std::nullopt;
  std::string_view seq = rest.substr(u3 + 1);
  rest = rest.substr(0, u3);
  size_t u2 = rest.rfind('_');
  if (u2 == std::string_view::npos) return std::nullopt;
  std::string_view datetime = rest.substr(u2 + 1);
  rest = rest.substr(0, u2);
  size_t u1 = rest.rfind('_');
  if (u1 == std::string_view::npos) return std::nullopt;
  std::string_view node = rest.substr(u1 + 1);
  std::string_view cluster = rest.substr(0, u1);
  if (!AllDigits(seq) || seq.size() > 19 || datetime.size() != 12 || !ParseCucmFileTime(datetime) || node.empty() ||
      cluster.empty() || node.size() > 32 || cluster.size() > 64)
    return std::nullopt;
  auto safe = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             c == '.';
    });
  };
  if (!safe(node) || !safe(cluster)) return std::nullopt;
  f.cluster = std::string(cluster);
  f.node = std::string(node);
  f.datetime = std::string(datetime);
  std::from_chars(seq.data(), seq.data() + seq.size(), f.seq);
  return f;
}

std::optional<int64_t> ParseCucmFileTime(std::string_view d) {
  if (d.size() != 12 || !AllDigits(d)) return std::nullopt;
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    std::from_chars(d.data() + pos, d.data() + pos + len, v);
    return v;
  };
  int y = num(0, 4), mo = num(4, 2), da = num(6, 2), h = num(8, 2), mi = num(10, 2);
  if (y < 1970 || mo < 1 || mo > 12 || da < 1 || h > 23 || mi > 59) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (da > kDays[mo - 1] + (mo == 2 && leap ? 1 : 0)) return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  int yy = y - (mo <= 2 ? 1 : 0);
  int era = yy / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + da - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return days * 86400 + h * 3600 + mi * 60;
}

std::optional<std::string> DecodeCucmIpv4(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::string();
  auto v = ParseInt(text);
  // Signed int32 as CUCM writes it; the unsigned spelling is accepted too.
  if (!v || *v < INT32_MIN || *v > static_cast<int64_t>(UINT32_MAX)) return std::nullopt;
  if (*v == 0) return std::string();
  auto u = static_cast<uint32_t>(*v);
  return std::to_string(u & 0xFF) + "." + std::to_string((u >> 8) & 0xFF) + "." + std::to_string((u >> 16) & 0xFF) +
         "." + std::to_string(u >> 24);
}

CucmVqMetrics ParseVarVqMetrics(std::string_view text) {
  CucmVqMetrics m;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view pair = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = Trim(pair.substr(0, eq));
    std::string_view value = Trim(pair.substr(eq + 1));
    if (key == "VoRxCodec") {
      m.codec = std::string(value.substr(0, 64));
      continue;
    }
    auto number = ParseDouble(value);
    if (!number || *number < 0) continue;
    if (key == "MLQK") m.mos = number;
    else if (key == "MLQKav") m.mos_avg = number;
    else if (key == "MLQKmn") m.mos_min = number;
    else if (key == "maxJitter") m.max_jitter_ms = number;
    else if (key == "VoOneWayDelayMs") m.one_way_delay_ms = number;
    else if (key == "CCR") m.ccr = number;
    else if (key == "VoPktLost") m.packets_lost = number;
  }
  return m;
}

CucmCause DescribeCucmCause(int64_t value) {
  // Q.850 values CUCM writes to orig/destCause_value, plus Cisco's own codes
  // (Cisco's CDR guide, "Call Termination Cause Codes"). Normal: 0 (none),
  // 16 normal call clearing, 31 normal unspecified, and the feature codes
  // CUCM uses when a transfer or conference splits a call.
  struct Known {
    int64_t value;
    bool abnormal;
    const char* text;
  };
  static constexpr Known kKnown[] = {
      {1, true, "Unallocated (unassigned) number"},
      {2, true, "No route to specified transit network"},
      {3, true, "No route to destination"},
      {4, true, "Send special information tone"},
      {5, true, "Misdialed trunk prefix"},
      {6, true, "Channel unacceptable"},
      {8, true, "Preemption"},
      {16, false, "Normal call clearing"},
      {17, true, "User busy"},
      {18, true, "No user responding"},
      {19, true, "No answer from user (user alerted)"},
      {20, true, "Subscriber absent"},
      {21, true, "Call rejected"},
      {22, true, "Number changed"},
      {26, true, "Non-selected user clearing"},
      {27, true, "Destination out of order"},
      {28, true, "Invalid number format (address incomplete)"},
      {29, true, "Facility rejected"},
      {31, false, "Normal, unspecified"},
      {34, true, "No circuit/channel available"},
      {38, true, "Network out of order"},
      {41, true, "Temporary failure"},
      {42, true, "Switching equipment congestion"},
      {43, true, "Access information discarded"},
      {44, true, "Requested circuit/channel not available"},
      {47, true, "Resource unavailable, unspecified"},
      {49, true, "Quality of service not available"},
      {50, true, "Requested facility not subscribed"},
      {53, true, "Service operation violated"},
      {54, true, "Incoming calls barred"},
      {57, true, "Bearer capability not authorized"},
      {58, true, "Bearer capability not presently available"},
      {63, true, "Service or option not available, unspecified"},
      {65, true, "Bearer capability not implemented"},
      {66, true, "Channel type not implemented"},
      {69, true, "Requested facility not implemented"},
      {79, true, "Service or option not implemented, unspecified"},
      {81, true, "Invalid call reference value"},
      {88, true, "Incompatible destination"},
      {95, true, "Invalid message, unspecified"},
      {96, true, "Mandatory information element is missing"},
      {100, true, "Invalid information element contents"},
      {102, true, "Recovery on timer expiry"},
      {111, true, "Protocol error, unspecified"},
      {125, true, "Out of bandwidth (Cisco)"},
      {126, false, "Call split (Cisco)"},
      {127, true, "Interworking, unspecified"},
      {128, false, "Conference drop any party (Cisco)"},
      {262144, true, "Conference full (Cisco)"},
      {393216, false, "Call split (Cisco)"},
      {458752, false, "Conference drop any party/last party (Cisco)"},
  };
  if (value == 0) return {};
  for (const Known& k : kKnown)
    if (k.value == value) return {k.abnormal, std::to_string(value) + ":" + k.text};
  return {true, std::to_string(value) + ":cause " + std::to_string(value)};
}

Result<CucmCdrFile> ParseCucmCdrFile(std::string_view text, const std::string& source) {
  CucmCdrFile out;
  CdrColumns cols{};
  FlatFileHandler h;
  h.on_header = [&](const Columns& c) { return BindCdr(c, cols); };
  h.on_row = [&](int64_t row, const std::vector<std::string>& f) {
    out.rows = row;
    auto type = ParseInt(f[cols.record_type]);
    if (type && *type != 1) return true;  // 0 = start record, 2 = CMR: not a finished call
    std::string id;
    auto mapped = MapCdr(cols, f, source, &id);
    if (auto* reason = std::get_if<std::string>(&mapped)) {
      out.skipped.push_back({row, id, std::move(*reason)});
    } else {
      out.calls.push_back(std::move(std::get<wire::CallRecord>(mapped)));
    }
    return true;
  };
  h.on_bad_row = [&](int64_t row, std::string reason) {
    out.rows = row;
    out.skipped.push_back({row, "", std::move(reason)});
  };
  PARLEY_TRY(ReadFlatFile(ReadFromMemory(text), h));
  return out;
}

Result<CucmCmrFile> ParseCucmCmrFile(std::string_view text) {
  CucmCmrFile out;
  CmrColumns cols{};
  FlatFileHandler h;
  h.on_header = [&](const Columns& c) { return BindCmr(c, cols); };
  h.on_row = [&](int64_t row, const std::vector<std::string>& f) {
    out.rows = row;
    auto mapped = MapCmr(cols, f);
    if (auto* reason = std::get_if<std::string>(&mapped)) {
      out.skipped.push_back({row, "", std::move(*reason)});
    } else {
      out.cmrs.push_back(std::move(std::get<CucmCmr>(mapped)));
    }
    return true;
  };
  h.on_bad_row = [&](int64_t row, std::string reason) {
    out.rows = row;
    out.skipped.push_back({row, "", std::move(reason)});
  };
  PARLEY_TRY(ReadFlatFile(ReadFromMemory(text), h));
  return out;
}

void AttachCucmCmrs(std::vector<wire::CallRecord>& calls, const std::vector<CucmCmr>& cmrs) {
  std::multimap<std::string, const CucmCmr*> by_key;
  for (const CucmCmr& m : cmrs) by_key.emplace(JoinKey(m.call_manager_id, m.call_id), &m);
  for (wire::CallRecord& call : calls) {
    auto [orig_leg, dest_leg] = LegsOf(call);
    auto range = by_key.equal_range(JoinKeyOf(call));
    for (auto it = range.first; it != range.second; ++it) {
      const CucmCmr& m = *it->second;
      const char* party = m.leg == orig_leg ? "orig" : m.leg == dest_leg ? "dest" : nullptr;
      if (!party) continue;  // a leg of another CDR of the same call (transfer, conference)
      for (const wire::QualitySample& s : m.samples) {
        bool dup = std::any_of(call.quality.begin(), call.quality.end(), [&](const wire::QualitySample& q) {
          return q.party == party && q.direction == s.direction && q.media == s.media;
        });
        if (dup) continue;
        wire::QualitySample q = s;
        q.party = party;
        call.quality.push_back(std::move(q));
      }
    }
  }
}

Result<CucmCursor> DecodeCucmCursor(std::string_view text) {
  CucmCursor c;
  if (text.empty()) return c;
  json::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  const json::object* o = ec ? nullptr : v.if_object();
  auto bad = [] { return InvalidArgument("the server's cursor is not a cucm cursor"); };
  if (!o) return bad();
  const json::value* version = o->if_contains("v");
  if (!version || !version->is_int64() || version->get_int64() != 1) return bad();
  if (const json::value* hw = o->if_contains("hw")) {
    if (!hw->is_object()) return bad();
    for (const auto& [k, val] : hw->get_object()) {
      if (!val.is_string() || !ParsePosition(std::string_view(val.get_string().data(), val.get_string().size())))
        return bad();
      c.high_water[std::string(k)] = std::string(val.get_string());
    }
  }
  if (const json::value* since = o->if_contains("s")) {
    if (!since->is_string() || !ParseCucmFileTime(std::string_view(since->get_string().data(), since->get_string().size())))
      return bad();
    c.since = std::string(since->get_string());
  }
  if (const json::value* f = o->if_contains("f")) {
    if (!f->is_string()) return bad();
    c.file = std::string(f->get_string());
    if (!c.file.empty() && !ParseCucmFileName(c.file)) return bad();
  }
  if (const json::value* r = o->if_contains("r")) {
    if (!r->is_int64() || r->get_int64() < 0) return bad();
    c.rows = r->get_int64();
  }
  return c;
}

Result<std::string> EncodeCucmCursor(const CucmCursor& c) {
  json::object o;
  o["v"] = 1;
  json::object hw;
  for (const auto& [k, v] : c.high_water) hw[k] = v;
  o["hw"] = std::move(hw);
  if (!c.since.empty()) o["s"] = c.since;
  if (!c.file.empty()) {
    o["f"] = c.file;
    o["r"] = c.rows;
  }
  std::string s = json::serialize(o);
  if (s.size() > kMaxCursorBytes)
    return FailedPrecondition("cursor would exceed 1024 bytes (" + std::to_string(c.high_water.size()) +
                              " CUCM nodes in one directory: split it into several sources)");
  return s;
}

// ================================================================ the collector

struct CucmCollector::Pending {
  std::string file;  // file name in dir_
  CucmFileName name;
};

CucmCollector::CucmCollector(const SourceConfig& source, const Clock& clock)
    : name_(source.name),
      dir_(source.dir),
      settle_seconds_(source.settle_seconds),
      initial_history_days_(source.initial_history_days),
      clock_(clock),
      health_(clock) {}

void CucmCollector::StartIfNew(CucmCursor& cursor) const {
  if (!cursor.high_water.empty() || !cursor.file.empty() || !cursor.since.empty()) return;
  std::string t = FormatUtc(clock_.NowUnixSeconds() - initial_history_days_ * 86400);  // YYYY-MM-DDTHH:MM:SSZ
  cursor.since = t.substr(0, 4) + t.substr(5, 2) + t.substr(8, 2) + t.substr(11, 2) + t.substr(14, 2);
}

Result<std::unique_ptr<CucmCollector>> CucmCollector::Create(const SourceConfig& source, const Clock& clock) {
  if (source.dir.empty()) return ConfigError("source " + source.name + ": dir: required");
  return std::unique_ptr<CucmCollector>(new CucmCollector(source, clock));
}

Result<std::vector<CucmCollector::Pending>> CucmCollector::ListPending(const CucmCursor& cursor, size_t* waiting,
                                                                       size_t* cmr_files,
                                                                       std::vector<CucmFileName>* cmrs) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) return Unavailable("directory " + dir_.string() + ": " + ec.message());
  const int64_t now = clock_.NowUnixSeconds();
  std::map<std::string, std::vector<Pending>> by_node;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return Unavailable("directory " + dir_.string() + ": " + ec.message());
    std::string file = it->path().filename().string();
    auto name = ParseCucmFileName(file);
    if (!name) continue;  // not a CUCM flat file (or a temporary name): not ours
    if (name->tag == "cmr") {
      ++*cmr_files;
      if (cmrs) cmrs->push_back(*name);
      continue;
    }
    auto hw = cursor.high_water.find(name->NodeKey());
    if (hw != cursor.high_water.end()) {
      auto pos = ParsePosition(hw->second);
      if (pos && std::tie(name->datetime, name->seq) <= std::tie(pos->first, pos->second)) continue;  // done
    }
    if (name->datetime < cursor.since) continue;  // before the source's start (initial_history_days)
    by_node[name->NodeKey()].push_back({file, std::move(*name)});
  }
  std::vector<Pending> ready;
  for (auto& [node, files] : by_node) {
    std::sort(files.begin(), files.end(), [](const Pending& a, const Pending& b) { return PositionLess(a.name, b.name); });
    for (size_t i = 0; i < files.size(); ++i) {
      struct stat st {};
      if (::stat((dir_ / files[i].file).c_str(), &st) != 0) {
        if (errno == ENOENT) continue;  // rotated away since the listing
        // Not even stat-able: let the read report why (failing, names the file).
      } else if (st.st_mtime > now - settle_seconds_) {
        // Still being written: it and the node's later files wait.
        *waiting += files.size() - i;
        break;
      }
      ready.push_back(std::move(files[i]));
    }
  }
  std::sort(ready.begin(), ready.end(), [](const Pending& a, const Pending& b) {
    return std::tie(a.name.datetime, a.name.cluster, a.name.node, a.name.seq) <
           std::tie(b.name.datetime, b.name.cluster, b.name.node, b.name.seq);
  });
  return ready;
}

Result<CollectedPage> CucmCollector::FetchAfter(const std::string& cursor_text, size_t max_records) {
  auto decoded = DecodeCucmCursor(cursor_text);
  if (!decoded.ok()) {
    health_.Failing(decoded.error().detail);
    return decoded.error();
  }
  CucmCursor cursor = std::move(*decoded);
  StartIfNew(cursor);
  size_t waiting = 0, cmr_count = 0;
  std::vector<CucmFileName> cmr_names;
  auto pending = ListPending(cursor, &waiting, &cmr_count, &cmr_names);
  if (!pending.ok()) {
    health_.Failing(pending.error().detail);
    return pending.error();
  }

  CollectedPage page;
  CucmCursor next = cursor;
  std::vector<std::string> problems;  // for degraded: short, names files and reasons only
  std::optional<Error> read_error;
  std::set<std::string> join_keys;
  std::vector<const Pending*> page_files;
  bool partial_seen = cursor.file.empty();
  size_t index = 0;
  for (; index < pending->size(); ++index) {
    const Pending& p = (*pending)[index];
    if (page.records.size() >= max_records) break;
    const int64_t start_row = p.file == cursor.file ? cursor.rows : 0;
    if (p.file == cursor.file) partial_seen = true;

    auto file = ReadOnlyFile::Open(dir_ / p.file);
    if (!file.ok()) {
      if (file.error().code == Code::kInvalidArgument) {  // not a regular file: never will be
        log::warn("{}: {}: skipped", name_, file.error().detail);
        problems.push_back(file.error().detail);
        Advance(next.high_water, p.name);
        continue;
      }
      read_error = file.error();
      break;
    }
    CdrColumns cols{};
    int64_t consumed = start_row;  // data rows of this file done after this page
    bool stopped_inside = false;
    size_t mapped_here = 0;
    FlatFileHandler h;
    h.on_header = [&](const Columns& c) { return BindCdr(c, cols); };
    h.on_row = [&](int64_t row, const std::vector<std::string>& f) {
      if (row <= start_row) return true;
      if (page.records.size() >= max_records) {
        stopped_inside = true;
        return false;
      }
      consumed = row;
      auto type = ParseInt(f[cols.record_type]);
      if (type && *type != 1) return true;  // start record or CMR row: not a finished call
      std::string id;
      auto mapped = MapCdr(cols, f, name_, &id);
      if (auto* reason = std::get_if<std::string>(&mapped)) {
        log::warn("{}: {} row {}: skipped call {}: {}", name_, p.file, row, id.empty() ? "(no id)" : id, *reason);
        ++page.skipped;
        problems.push_back(p.file + " row " + std::to_string(row) + ": " + *reason);
        return true;
      }
      auto& call = std::get<wire::CallRecord>(mapped);
      join_keys.insert(JoinKeyOf(call));
      page.records.emplace_back(std::move(call));
      ++mapped_here;
      return true;
    };
    h.on_bad_row = [&](int64_t row, std::string reason) {
      if (row <= start_row) return;
      consumed = row;
      log::warn("{}: {} row {}: skipped: {}", name_, p.file, row, reason);
      ++page.skipped;
      problems.push_back(p.file + " row " + std::to_string(row) + ": " + reason);
    };
    Status st = ReadFlatFile(file->Reader(), h);
    if (!st.ok() && st.error().code != Code::kInvalidArgument) {
      // An I/O error: nothing of this file counts; retry it next time.
      page.records.resize(page.records.size() - mapped_here);
      read_error = st.error();
      break;
    }
    if (!st.ok()) {
      // A malformed file will not get better: skip it, say so, move on.
      log::warn("{}: {}: skipped the file: {}", name_, p.file, st.error().detail);
      problems.push_back(p.file + ": " + st.error().detail);
      page.records.resize(page.records.size() - mapped_here);
      Advance(next.high_water, p.name);
      if (next.file == p.file) {
        next.file.clear();
        next.rows = 0;
      }
      continue;
    }
    if (mapped_here > 0) page_files.push_back(&p);
    if (stopped_inside) {
      next.file = p.file;
      next.rows = consumed;
      ++index;  // this file still has rows: more follows
      break;
    }
    Advance(next.high_water, p.name);
    if (next.file == p.file) {
      next.file.clear();
      next.rows = 0;
    }
  }
  if (!partial_seen && !read_error) {
    // The file a page ended in is no longer there (rotated away): go on after it.
    log::warn("{}: {} vanished before it was fully read", name_, cursor.file);
    problems.push_back(cursor.file + " vanished before it was fully read");
    if (auto n = ParseCucmFileName(cursor.file)) Advance(next.high_water, *n);
    next.file.clear();
    next.rows = 0;
  }
  if (read_error && page.records.empty() && next.high_water == cursor.high_water) {
    log::warn("{}: {}", name_, read_error->detail);
    health_.Failing(read_error->detail);
    return *read_error;
  }

  // Join the CMRs of the page's calls, from CMR files near the CDR files in time.
  if (!join_keys.empty()) {
    std::set<std::string> clusters;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (const Pending* p : page_files) {
      clusters.insert(p->name.cluster);
      int64_t t = *ParseCucmFileTime(p->name.datetime);
      lo = std::min(lo, t);
      hi = std::max(hi, t);
    }
    std::sort(cmr_names.begin(), cmr_names.end(), PositionLess);
    std::vector<CucmCmr> cmrs;
    for (const CucmFileName& m : cmr_names) {
      int64_t t = *ParseCucmFileTime(m.datetime);
      if (!clusters.count(m.cluster) || t < lo - kCmrJoinWindowS || t > hi + kCmrJoinWindowS) continue;
      std::string file_name = "cmr_" + m.cluster + "_" + m.node + "_" + m.datetime + "_" + std::to_string(m.seq);
      auto file = ReadOnlyFile::Open(dir_ / file_name);
      if (!file.ok()) {
        problems.push_back(file.error().detail);
        continue;
      }
      CmrColumns cols{};
      FlatFileHandler h;
      h.on_header = [&](const Columns& c) { return BindCmr(c, cols); };
      h.on_row = [&](int64_t, const std::vector<std::string>& f) {
        auto cm_id = Id(f[cols.cm_id]);
        auto call_id = Id(f[cols.call_id]);
        if (!cm_id || !call_id || !join_keys.count(JoinKey(*cm_id, *call_id))) return true;
        auto mapped = MapCmr(cols, f);
        if (auto* cmr = std::get_if<CucmCmr>(&mapped)) cmrs.push_back(std::move(*cmr));
        return true;
      };
      h.on_bad_row = [](int64_t, std::string) {};
      Status st = ReadFlatFile(file->Reader(), h);
      if (!st.ok()) problems.push_back(file_name + ": " + st.error().detail);
    }
    std::vector<wire::CallRecord> calls;
    calls.reserve(page.records.size());
    for (auto& r : page.records) calls.push_back(std::move(std::get<wire::CallRecord>(r)));
    AttachCucmCmrs(calls, cmrs);
    for (size_t i = 0; i < calls.size(); ++i) page.records[i] = std::move(calls[i]);
  }

  auto encoded = EncodeCucmCursor(next);
  if (!encoded.ok()) {
    health_.Failing(encoded.error().detail);
    return encoded.error();
  }
  page.next_cursor = std::move(*encoded);
  if (cursor_text.empty() && page.records.empty() && next.high_water.empty() && next.file.empty())
    page.next_cursor = cursor_text;  // nothing seen yet: keep "" (no batch; the start slides with the clock)
  page.more = !read_error && index < pending->size();

  if (read_error) {
    log::warn("{}: {}", name_, read_error->detail);
    health_.Failing(read_error->detail);
  } else if (!problems.empty()) {
    std::string what = std::to_string(problems.size()) + " problem(s) reading CDR/CMR files; last: " + problems.back();
    health_.Degraded(std::move(what));
  } else {
    health_.Ok();
  }
  return page;
}

Result<std::string> CucmCollector::Probe(const std::string& cursor_text) {
  auto cursor = DecodeCucmCursor(cursor_text);
  if (!cursor.ok()) return cursor.error();
  StartIfNew(*cursor);
  size_t waiting = 0, cmr_count = 0;
  auto pending = ListPending(*cursor, &waiting, &cmr_count, nullptr);
  if (!pending.ok()) return pending.error();
  std::string out = std::to_string(pending->size()) + " CDR file(s) to read";
  if (waiting > 0) out += " (+" + std::to_string(waiting) + " settling)";
  out += ", " + std::to_string(cmr_count) + " CMR file(s)";
  if (pending->empty()) return out;
  const Pending& first = pending->front();
  auto file = ReadOnlyFile::Open(dir_ / first.file);
  if (!file.ok()) return file.error();
  CdrColumns cols{};
  int64_t calls = 0, skipped = 0;
  FlatFileHandler h;
  h.on_header = [&](const Columns& c) { return BindCdr(c, cols); };
  h.on_row = [&](int64_t, const std::vector<std::string>& f) {
    auto type = ParseInt(f[cols.record_type]);
    if (type && *type != 1) return true;
    std::string id;
    auto mapped = MapCdr(cols, f, name_, &id);
    (std::holds_alternative<wire::CallRecord>(mapped) ? calls : skipped) += 1;
    return true;
  };
  h.on_bad_row = [&](int64_t, std::string) { ++skipped; };
  Status st = ReadFlatFile(file->Reader(), h);
  if (!st.ok() && st.error().code != Code::kInvalidArgument) return st.error();
  out += "; " + first.file + ": ";
  if (!st.ok()) return out + "unusable (" + st.error().detail + "), would be skipped";
  out += std::to_string(calls) + " call record(s) readable";
  if (skipped > 0) out += ", " + std::to_string(skipped) + " row(s) unusable";
  return out;
}

}  // namespace parley::agent
