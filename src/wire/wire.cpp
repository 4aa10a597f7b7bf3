#include "wire/wire.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <limits>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_stack.hpp>

#include "common/time_format.h"

// SHA-256 and base64 come straight from OpenSSL rather than parley_crypto so
// the wire format (shared by agent and server) has no dependency on the
// server's key-handling module.

namespace parley::wire {

namespace json = boost::json;

namespace {

constexpr size_t kMaxLineErrors = 20;
constexpr size_t kMaxSourceLen = 64;
constexpr size_t kMaxIdLen = 200;
constexpr size_t kMaxTextLen = 1024;
constexpr size_t kMaxCursorLen = 1024;
// Deep enough for record -> party -> value and record -> quality array ->
// sample -> value; deeper input is refused early instead of building large
// trees for a line that can never be valid.
constexpr size_t kMaxJsonDepth = 4;

// How every record line is parsed: by the record parser, and again by
// json::parse to classify a line it refused.
json::parse_options LineParseOptions() {
  json::parse_options opts;
  opts.max_depth = kMaxJsonDepth;
  return opts;
}
// 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestamp = 0;
constexpr int64_t kMaxTimestamp = 253402300799;
// Tolerance for duration_s vs end - start: the two come from different
// device clocks/roundings.
constexpr int64_t kDurationToleranceS = 1;
// Upper bound for measurements that have no natural one (ms, kbps).
constexpr double kUnbounded = std::numeric_limits<double>::max();

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. Boost.JSON checks strings too, but checking the whole line first
// gives the agent one clear reason instead of a generic syntax error.
bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // Records are nearly all ASCII: eight bytes at a time while none has
    // its top bit set.
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if ((word & 0x8080808080808080ULL) != 0) break;
      p += 8;
    }
    if (p == end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // > U+10FFFF
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

// Error reasons are logged and returned to the agent, so anything echoed from
// the input (type names, field names) is truncated and made printable ASCII.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxEcho = 64;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMaxEcho; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += '?';
    }
  }
  if (s.size() > kMaxEcho) out += "...";
  out += '"';
  return out;
}

bool IsSourceName(std::string_view s) {
  if (s.empty() || s.size() > kMaxSourceLen) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Boost.JSON keeps only one of several equal keys. A record like
// {"id":"a","id":"b"} would then mean different things to different parsers,
// so duplicate keys are refused outright. The handler that builds each line's
// value (what json::parse's own handler does: every event into a
// json::value_stack) also tracks the open objects' keys, so one pass over the
// line both builds the record and finds a duplicate; a second SAX pass only
// for the keys cost a quarter of parsing a batch.
class RecordHandler {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // Its own buffers (the value stack's, the keys') live across lines.
  json::value_stack st;

  bool on_document_begin(json::error_code&) {
    used_ = 0;
    object_starts_.clear();
    key_.clear();
    duplicate_.reset();
    return true;
  }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_object_begin(json::error_code&) {
    object_starts_.push_back(used_);
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    used_ = object_starts_.back();
    object_starts_.pop_back();
    st.push_object(n);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    // A record's objects have a few dozen keys at most (and a line is
    // bounded), so a linear look among the open object's keys beats a set.
    const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(object_starts_.back());
    const auto last = keys_.begin() + static_cast<std::ptrdiff_t>(used_);
    if (std::find(first, last, key_) != last) {
      duplicate_ = std::move(key_);
      key_.clear();
      // Any error code stops the parser; the caller reads duplicate().
      ec = json::make_error_code(json::error::syntax);
      return false;
    }
    // The key strings are kept between objects and lines: assigning into
    // one reuses its buffer.
    if (used_ == keys_.size()) keys_.emplace_back();
    keys_[used_++].swap(key_);
    key_.clear();
    st.push_key(s);
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    st.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

  const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  std::vector<std::string> keys_;     // the open objects' keys; [0, used_) are live
  size_t used_ = 0;
  std::vector<size_t> object_starts_;  // where each open object's keys begin
  std::string key_;
  std::optional<std::string> duplicate_;
};

// One per batch: the parser and its handler's buffers serve every line.
class RecordParser {
 public:
  RecordParser() : parser_(LineParseOptions()) {}

  // As json::parse(line, ec, storage, {max_depth}), except that a duplicate
  // key stops the parse (ec set, duplicate() names it).
  json::value Parse(std::string_view line, json::storage_ptr storage, json::error_code& ec) {
    parser_.reset();
    parser_.handler().st.reset(std::move(storage));
    const size_t used = parser_.write_some(false, line.data(), line.size(), ec);
    if (!ec && used < line.size()) ec = json::error::extra_data;
    if (ec) return nullptr;
    return parser_.handler().st.release();
  }
  const std::optional<std::string>& duplicate() const { return parser_.handler().duplicate(); }

 private:
  json::basic_parser<RecordHandler> parser_;
};

// Reads typed fields out of one JSON object, remembering the first problem.
// Field names in errors are full paths ("orig.name") so the agent can find them.
class FieldReader {
 public:
  FieldReader(const json::object& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  bool ok() const { return error_.empty(); }
  std::string TakeError() { return std::move(error_); }

  // Refuses keys outside `allowed` (strict schema: a typo must not be
  // silently dropped).
  void CheckKnownFields(std::initializer_list<std::string_view> allowed) {
    if (!ok()) return;
    for (const auto& kv : obj_) {
      std::string_view key(kv.key().data(), kv.key().size());
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        Fail("unknown field " + Quote(prefix_ + std::string(key)));
        return;
      }
    }
  }

  // Returns nullptr when absent (after recording an error if required).
  const json::value* Find(std::string_view key, bool required) {
    if (!ok()) return nullptr;
    const json::value* v = obj_.if_contains(json::string_view(key.data(), key.size()));
    if (v == nullptr && required) Fail("missing required field " + Name(key));
    return v;
  }

  void String(std::string_view key, bool required, size_t min_len, size_t max_len, std::string& out) {
    const json::value* v = Find(key, required);
    if (v == nullptr) return;
    if (!v->is_string()) {
      Fail("field " + Name(key) + " must be a string");
      return;
    }
    const json::string& s = v->get_string();
    if (s.size() < min_len || s.size() > max_len) {
      Fail("field " + Name(key) + " must be " + std::to_string(min_len) + ".." + std::to_string(max_len) +
           " bytes long");
      return;
    }
    // PostgreSQL text cannot hold NUL, and nothing legitimate contains it.
    if (std::memchr(s.data(), '\0', s.size()) != nullptr) {
      Fail("field " + Name(key) + " must not contain NUL");
      return;
    }
    out.assign(s.data(), s.size());
  }

  void Integer(std::string_view key, bool required, int64_t min_value, int64_t& out) {
    const json::value* v = Find(key, required);
    if (v == nullptr) return;
    int64_t n;
    if (v->is_int64()) {
      n = v->get_int64();
    } else if (v->is_uint64()) {
      // Only produced by Boost.JSON for values above INT64_MAX.
      Fail("field " + Name(key) + " is out of range");
      return;
    } else {
      // Doubles (1.0, 1e3) are refused too: the schema says integer.
      Fail("field " + Name(key) + " must be an integer");
      return;
    }
    if (n < min_value) {
      Fail("field " + Name(key) + " must be >= " + std::to_string(min_value));
      return;
    }
    out = n;
  }

  void Timestamp(std::string_view key, int64_t& out) {
    std::string text;
    String(key, true, 1, 64, text);
    if (!ok()) return;
    std::optional<int64_t> t = ParseRfc3339(text);
    // Offsets can push a four-digit year outside 0000..9999 UTC; such
    // instants (and anything before 1970) cannot be real call times and
    // would not survive FormatUtc -> ParseRfc3339 on the way back out.
    if (!t || *t < kMinTimestamp || *t > kMaxTimestamp) {
      Fail("field " + Name(key) + " must be an RFC 3339 timestamp");
      return;
    }
    out = *t;
  }

  // An optional timestamp: absent leaves `out` untouched (nullopt).
  void OptionalTimestamp(std::string_view key, std::optional<int64_t>& out) {
    if (Find(key, false) == nullptr) return;
    int64_t t = 0;
    Timestamp(key, t);
    if (ok()) out = t;
  }

  // An optional string: absent leaves `out` untouched (nullopt), unlike
  // String, where absent and "" are the same.
  void OptionalString(std::string_view key, size_t min_len, size_t max_len, std::optional<std::string>& out) {
    if (Find(key, false) == nullptr) return;
    std::string s;
    String(key, false, min_len, max_len, s);
    if (ok()) out = std::move(s);
  }

  void OptionalInteger(std::string_view key, int64_t min_value, std::optional<int64_t>& out) {
    if (Find(key, false) == nullptr) return;
    int64_t n = 0;
    Integer(key, false, min_value, n);
    if (ok()) out = n;
  }

  // A measurement: any JSON number (devices report 0.5 % loss as well as
  // 12 ms jitter), finite and within [min_value, max_value]. Absent stays
  // nullopt: "not measured" is not the same as 0.
  void Number(std::string_view key, double min_value, double max_value, std::optional<double>& out) {
    const json::value* v = Find(key, false);
    if (v == nullptr) return;
    double d;
    if (v->is_double()) {
      d = v->get_double();
    } else if (v->is_int64()) {
      d = static_cast<double>(v->get_int64());
    } else if (v->is_uint64()) {
      d = static_cast<double>(v->get_uint64());
    } else {
      Fail("field " + Name(key) + " must be a number");
      return;
    }
    if (!std::isfinite(d) || d < min_value || d > max_value) {
      Fail("field " + Name(key) + " must be " + Bounds(min_value, max_value));
      return;
    }
    out = d;
  }

  // Returns the array, or nullptr (error recorded if present but not an
  // array).
  const json::array* Array(std::string_view key) {
    const json::value* v = Find(key, false);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      Fail("field " + Name(key) + " must be an array");
      return nullptr;
    }
    return &v->get_array();
  }

  // Reads an optional string that must be one of `allowed` when present.
  void Enum(std::string_view key, bool required, std::initializer_list<std::string_view> allowed,
            std::string& out) {
    std::string value;
    String(key, required, 0, kMaxTextLen, value);
    if (!ok() || Find(key, false) == nullptr) return;
    if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed) {
        if (!list.empty()) list += a == *(allowed.end() - 1) ? " or " : ", ";
        list += "\"" + std::string(a) + "\"";
      }
      Fail("field " + Name(key) + " must be " + list);
      return;
    }
    out = std::move(value);
  }

  // Returns the nested object, or nullptr (error recorded if present but not
  // an object, or absent and required).
  const json::object* Object(std::string_view key, bool required) {
    const json::value* v = Find(key, required);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      Fail("field " + Name(key) + " must be an object");
      return nullptr;
    }
    return &v->get_object();
  }

  void Fail(std::string reason) {
    if (ok()) error_ = std::move(reason);
  }

  std::string Name(std::string_view key) const { return Quote(prefix_ + std::string(key)); }
  const std::string& prefix() const { return prefix_; }

 private:
  static std::string Bounds(double min_value, double max_value) {
    auto text = [](double d) {
      // Bounds are small whole numbers; print them without a fraction.
      return std::to_string(static_cast<int64_t>(d));
    };
    if (max_value == kUnbounded) return ">= " + text(min_value);
    return text(min_value) + ".." + text(max_value);
  }

  const json::object& obj_;
  std::string prefix_;
  std::string error_;
};

void ReadParty(FieldReader& parent, std::string_view key, Party& out) {
  const json::object* obj = parent.Object(key, true);
  if (obj == nullptr) return;
  FieldReader r(*obj, parent.prefix() + std::string(key) + ".");
  r.CheckKnownFields({"name", "number", "uri", "ip", "model", "version", "site"});
  r.String("name", false, 0, kMaxTextLen, out.name);
  r.String("number", false, 0, kMaxTextLen, out.number);
  r.String("uri", false, 0, kMaxTextLen, out.uri);
  r.String("ip", false, 0, kMaxTextLen, out.ip);
  r.String("model", false, 0, kMaxTextLen, out.model);
  r.String("version", false, 0, kMaxTextLen, out.version);
  r.String("site", false, 0, kMaxTextLen, out.site);
  if (!r.ok()) parent.Fail(r.TakeError());
}

void ReadSource(FieldReader& r, std::string& out) {
  r.String("source", true, 1, kMaxSourceLen, out);
  if (r.ok() && !IsSourceName(out)) {
    r.Fail("field \"source\" must be 1..64 characters of [A-Za-z0-9._-]");
  }
}

// Reads the optional "quality" array. `parties` are the values "party" may
// take in this record. One sample per (party, direction, media): the store
// keys samples that way, and two different values for one stream would
// leave the stored one up to record order.
void ReadQuality(FieldReader& parent, std::initializer_list<std::string_view> parties,
                 std::vector<QualitySample>& out) {
  const json::array* arr = parent.Array("quality");
  if (arr == nullptr) return;
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  for (size_t i = 0; i < arr->size() && parent.ok(); ++i) {
    std::string path = "quality[" + std::to_string(i) + "]";
    const json::value& v = (*arr)[i];
    if (!v.is_object()) {
      parent.Fail("field " + Quote(parent.prefix() + path) + " must be an object");
      return;
    }
    QualitySample q;
    FieldReader r(v.get_object(), parent.prefix() + path + ".");
    r.CheckKnownFields({"party", "direction", "media", "codec", "bitrate_kbps", "packet_loss_pct_avg",
                        "packet_loss_pct_max", "jitter_ms_avg", "jitter_ms_max", "latency_ms_avg",
                        "latency_ms_max", "mos"});
    r.Enum("party", true, parties, q.party);
    r.Enum("direction", true, {"rx", "tx"}, q.direction);
    r.Enum("media", true, {"audio", "video", "content"}, q.media);
    r.String("codec", false, 0, kMaxTextLen, q.codec);
    r.OptionalInteger("bitrate_kbps", 0, q.bitrate_kbps);
    r.Number("packet_loss_pct_avg", 0, 100, q.packet_loss_pct_avg);
    r.Number("packet_loss_pct_max", 0, 100, q.packet_loss_pct_max);
    r.Number("jitter_ms_avg", 0, kUnbounded, q.jitter_ms_avg);
    r.Number("jitter_ms_max", 0, kUnbounded, q.jitter_ms_max);
    r.Number("latency_ms_avg", 0, kUnbounded, q.latency_ms_avg);
    r.Number("latency_ms_max", 0, kUnbounded, q.latency_ms_max);
    r.Number("mos", 1, 5, q.mos);
    if (!r.ok()) {
      parent.Fail(r.TakeError());
      return;
    }
    if (!seen.emplace(q.party, q.direction, q.media).second) {
      parent.Fail("second quality sample for " + q.party + "/" + q.direction + "/" + q.media);
      return;
    }
    out.push_back(std::move(q));
  }
}

void CheckTimes(FieldReader& r, int64_t start, int64_t end, const int64_t* duration_s) {
  if (r.ok() && end < start) r.Fail("\"end\" is before \"start\"");
  // end - start is bounded by ParseRfc3339's four-digit years: no overflow.
  if (r.ok() && duration_s != nullptr && *duration_s > end - start + kDurationToleranceS) {
    r.Fail("\"duration_s\" is longer than \"end\" - \"start\"");
  }
}

// Returns an empty string when the record is valid.
std::string ReadCall(const json::object& obj, CallRecord& call) {
  FieldReader r(obj, "");
  r.CheckKnownFields({"type", "source", "id", "start", "end", "duration_s", "status", "protocol", "call_type",
                      "cause", "bitrate_kbps", "conference_id", "orig", "dest", "quality"});
  ReadSource(r, call.source);
  r.String("id", true, 1, kMaxIdLen, call.id);
  r.Timestamp("start", call.start);
  r.Timestamp("end", call.end);
  r.Integer("duration_s", true, 0, call.duration_s);
  std::string status;
  r.String("status", true, 0, kMaxTextLen, status);
  if (r.ok()) {
    if (status == "completed") {
      call.status = CallStatus::kCompleted;
    } else if (status == "failed") {
      call.status = CallStatus::kFailed;
    } else {
      r.Fail("field \"status\" must be \"completed\" or \"failed\"");
    }
  }
  r.String("protocol", true, 0, kMaxTextLen, call.protocol);
  r.String("call_type", true, 0, kMaxTextLen, call.call_type);
  r.String("cause", false, 0, kMaxTextLen, call.cause);
  r.Integer("bitrate_kbps", false, 0, call.bitrate_kbps);
  r.String("conference_id", false, 0, kMaxTextLen, call.conference_id);
  ReadParty(r, "orig", call.orig);
  ReadParty(r, "dest", call.dest);
  ReadQuality(r, {"orig", "dest"}, call.quality);
  CheckTimes(r, call.start, call.end, &call.duration_s);
  return r.TakeError();
}

std::string ReadConference(const json::object& obj, ConferenceRecord& conf) {
  FieldReader r(obj, "");
  r.CheckKnownFields({"type", "source", "id", "start", "end", "name", "room", "mcu", "participant_count",
                      "max_resources_used", "scheduled_start", "scheduled_end"});
  ReadSource(r, conf.source);
  r.String("id", true, 1, kMaxIdLen, conf.id);
  r.Timestamp("start", conf.start);
  r.Timestamp("end", conf.end);
  r.String("name", false, 0, kMaxTextLen, conf.name);
  r.String("room", false, 0, kMaxTextLen, conf.room);
  r.String("mcu", false, 0, kMaxTextLen, conf.mcu);
  r.Integer("participant_count", false, 0, conf.participant_count);
  r.OptionalInteger("max_resources_used", 0, conf.max_resources_used);
  r.OptionalTimestamp("scheduled_start", conf.scheduled_start);
  r.OptionalTimestamp("scheduled_end", conf.scheduled_end);
  CheckTimes(r, conf.start, conf.end, nullptr);
  if (r.ok() && conf.scheduled_start && conf.scheduled_end && *conf.scheduled_end < *conf.scheduled_start) {
    r.Fail("\"scheduled_end\" is before \"scheduled_start\"");
  }
  return r.TakeError();
}

std::string ReadParticipant(const json::object& obj, ParticipantRecord& part) {
  FieldReader r(obj, "");
  r.CheckKnownFields({"type", "source", "id", "conference_id", "call_id", "start", "end", "duration_s", "protocol",
                      "role", "disconnect_reason", "party", "quality"});
  ReadSource(r, part.source);
  r.String("id", true, 1, kMaxIdLen, part.id);
  // Same bounds as the conference's own id: a longer one could never match.
  r.String("conference_id", true, 1, kMaxIdLen, part.conference_id);
  r.String("call_id", false, 0, kMaxIdLen, part.call_id);
  r.Timestamp("start", part.start);
  r.Timestamp("end", part.end);
  r.Integer("duration_s", true, 0, part.duration_s);
  r.String("protocol", false, 0, kMaxTextLen, part.protocol);
  r.Enum("role", false, {"chair", "guest", "participant"}, part.role);
  r.String("disconnect_reason", false, 0, kMaxTextLen, part.disconnect_reason);
  if (r.Find("party", false) != nullptr) ReadParty(r, "party", part.party);
  ReadQuality(r, {"participant"}, part.quality);
  CheckTimes(r, part.start, part.end, &part.duration_s);
  return r.TakeError();
}

std::string ReadDevice(const json::object& obj, DeviceRecord& dev) {
  FieldReader r(obj, "");
  // The device's kind is "device_type": "type" is the record type.
  r.CheckKnownFields({"type", "source", "id", "observed_at", "name", "device_type", "model", "version", "site",
                      "serial", "ip", "mac", "owner", "status", "registration", "timezone"});
  ReadSource(r, dev.source);
  r.String("id", true, 1, kMaxIdLen, dev.id);
  r.Timestamp("observed_at", dev.observed_at);
  r.String("name", false, 0, kMaxTextLen, dev.name);
  r.String("device_type", false, 0, kMaxTextLen, dev.type);
  r.String("model", false, 0, kMaxTextLen, dev.model);
  r.String("version", false, 0, kMaxTextLen, dev.version);
  r.String("site", false, 0, kMaxTextLen, dev.site);
  r.String("serial", false, 0, kMaxTextLen, dev.serial);
  r.String("ip", false, 0, kMaxTextLen, dev.ip);
  r.String("mac", false, 0, kMaxTextLen, dev.mac);
  r.String("owner", false, 0, kMaxTextLen, dev.owner);
  r.Enum("status", false, {"online", "offline", "unknown"}, dev.status);
  r.String("registration", false, 0, kMaxTextLen, dev.registration);
  r.String("timezone", false, 0, kMaxTextLen, dev.timezone);
  return r.TakeError();
}

std::string ReadCursor(const json::object& obj, CursorUpdate& cursor) {
  FieldReader r(obj, "");
  r.CheckKnownFields({"type", "source", "value", "after"});
  ReadSource(r, cursor.source);
  r.String("value", true, 0, kMaxCursorLen, cursor.value);
  r.OptionalString("after", 0, kMaxCursorLen, cursor.after);
  return r.TakeError();
}

class BatchParser {
 public:
  explicit BatchParser(const BatchLimits& limits) : limits_(limits) {}

  ParseOutcome Run(std::string_view body) {
    int64_t line_no = 0;
    size_t pos = 0;
    while (pos < body.size() && errors_.size() < kMaxLineErrors && !stop_) {
      size_t nl = body.find('\n', pos);
      std::string_view line = body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? body.size() : nl + 1;
      ++line_no;
      line_no_ = line_no;
      // CRLF is tolerated: some HTTP tooling rewrites line endings.
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      std::string reason = ParseLine(line);
      if (!reason.empty()) errors_.push_back({line_no, std::move(reason)});
    }
    ParseOutcome out;
    if (errors_.empty() && records_ == 0 && batch_.cursors.empty()) {
      // Not attributable to a line: line 0 and a summary without a prefix.
      errors_.push_back({0, "empty batch"});
    }
    if (errors_.empty()) {
      out.batch = std::move(batch_);
      out.refused = std::move(refused_);
      return out;
    }
    const LineError& first = errors_.front();
    out.summary = first.line > 0 ? "line " + std::to_string(first.line) + ": " + first.reason : first.reason;
    out.errors = std::move(errors_);
    return out;
  }

 private:
  std::string ParseLine(std::string_view line) {
    json::error_code ec;
    // The line's JSON lives only while its record is read out (into
    // std::strings), so it is built in an arena over this parser's buffer:
    // no malloc per string, object and array, all freed at once.
    json::monotonic_resource arena(value_buffer_.data(), value_buffer_.size());
    json::value v = record_parser_.Parse(line, &arena, ec);
    if (ec) return RefusedLineReason(line);
    if (!v.is_object()) return "record must be a JSON object";
    const json::object& obj = v.get_object();
    const json::value* type = obj.if_contains("type");
    if (type == nullptr) return "missing required field \"type\"";
    if (!type->is_string()) return "field \"type\" must be a string";
    std::string_view type_name(type->get_string().data(), type->get_string().size());
    if (type_name == "call") return ReadRecord<CallRecord>(obj, "call", ReadCall, batch_.calls);
    if (type_name == "conference")
      return ReadRecord<ConferenceRecord>(obj, "conference", ReadConference, batch_.conferences);
    if (type_name == "participant")
      return ReadRecord<ParticipantRecord>(obj, "participant", ReadParticipant, batch_.participants);
    if (type_name == "device") return ReadRecord<DeviceRecord>(obj, "device", ReadDevice, batch_.devices);
    if (type_name == "cursor") {
      CursorUpdate cursor;
      std::string reason = ReadCursor(obj, cursor);
      if (!reason.empty()) return reason;
      // Two cursors for one source would leave the stored high-water mark up
      // to record order; refuse rather than guess.
      if (!cursor_sources_.insert(cursor.source).second) {
        return "second cursor record for source " + Quote(cursor.source);
      }
      batch_.cursors.push_back(std::move(cursor));
      return {};
    }
    return "unknown record type " + Quote(type_name);
  }

  // Why a line the record parser stopped on is refused, in the order of the
  // checks: its bytes, its JSON (a line with a duplicate key is parsed
  // again to the end, so a later syntax error is named first), its shape,
  // then the duplicate. Only refused lines come here.
  std::string RefusedLineReason(std::string_view line) {
    // The parser refuses invalid UTF-8 as it reads (a line it accepts is
    // valid UTF-8), but says only "syntax error".
    if (!IsValidUtf8(line)) return "invalid UTF-8";
    std::optional<std::string> duplicate = record_parser_.duplicate();
    json::error_code ec;
    const json::value whole = json::parse(json::string_view(line.data(), line.size()), ec, {}, LineParseOptions());
    if (ec == json::error::too_deep) return "malformed JSON: nested too deeply";
    if (ec) return "malformed JSON: " + ec.message();
    if (!whole.is_object()) return "record must be a JSON object";
    if (duplicate) return "duplicate field " + Quote(*duplicate);
    return "malformed JSON";  // not reached: the record parser stops only on these
  }

  // Every record type counts towards max_records (cursors do not: there is
  // at most one per source).
  template <typename T, typename Reader>
  std::string ReadRecord(const json::object& obj, std::string_view type, Reader read, std::vector<T>& out) {
    if (records_ >= limits_.max_records) {
      // Stop here: the rest of an oversized batch is not worth parsing.
      stop_ = true;
      return "too many records: more than " + std::to_string(limits_.max_records) + " records";
    }
    ++records_;
    T record;
    std::string reason = read(obj, record);
    if (!reason.empty()) return reason;
    if (std::string implausible = ImplausibleTime(record); !implausible.empty()) {
      refused_.push_back({line_no_, std::string(type), record.source, std::move(implausible)});
      return {};
    }
    out.push_back(std::move(record));
    return {};
  }

  std::string CheckTime(std::string_view field, int64_t t) const {
    if (t < limits_.earliest_time) return std::string(field) + " is before the earliest accepted time";
    if (t > limits_.latest_time) return std::string(field) + " is too far in the future";
    return {};
  }
  std::string CheckTimes(std::initializer_list<std::pair<std::string_view, std::optional<int64_t>>> times) const {
    for (const auto& [field, t] : times)
      if (t)
        if (std::string reason = CheckTime(field, *t); !reason.empty()) return reason;
    return {};
  }
  std::string ImplausibleTime(const CallRecord& r) const { return CheckTimes({{"start", r.start}, {"end", r.end}}); }
  std::string ImplausibleTime(const ConferenceRecord& r) const {
    return CheckTimes({{"start", r.start},
                       {"end", r.end},
                       {"scheduled_start", r.scheduled_start},
                       {"scheduled_end", r.scheduled_end}});
  }
  std::string ImplausibleTime(const ParticipantRecord& r) const {
    return CheckTimes({{"start", r.start}, {"end", r.end}});
  }
  std::string ImplausibleTime(const DeviceRecord& r) const { return CheckTimes({{"observed_at", r.observed_at}}); }

  const BatchLimits& limits_;
  int64_t records_ = 0;
  int64_t line_no_ = 0;
  Batch batch_;
  std::vector<LineError> errors_;
  std::vector<RefusedRecord> refused_;
  std::set<std::string, std::less<>> cursor_sources_;
  RecordParser record_parser_;
  std::array<unsigned char, 16384> value_buffer_;  // ParseLine's arena: a record line's JSON fits
  bool stop_ = false;
};

std::array<unsigned char, 32> Sha256(std::string_view data) {
  std::array<unsigned char, 32> md{};
  unsigned int len = 0;
  // EVP_Digest only fails on allocation failure; the zeroed digest then
  // simply never matches.
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  return md;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Decodes strict padded base64 (RFC 4648 alphabet). EVP_DecodeBlock alone
// silently skips whitespace and counts padding as output bytes, so the input
// is checked first and the padding subtracted.
std::optional<std::string> DecodeBase64(std::string_view b64) {
  if (b64.empty() || b64.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (b64.back() == '=') ++pad;
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=') ++pad;
  for (size_t i = 0; i < b64.size() - pad; ++i) {
    char c = b64[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return std::nullopt;
  }
  std::string out(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

void PutIfNotEmpty(json::object& o, std::string_view key, const std::string& value) {
  if (!value.empty()) o[key] = value;
}

// Each object is made with room for all its fields: grown one insert at a
// time it is reallocated (and rehashed) several times, which the agent pays
// for every record it sends.
json::object PartyJson(const Party& p, const json::storage_ptr& sp) {
  json::object po(7, sp);
  PutIfNotEmpty(po, "name", p.name);
  PutIfNotEmpty(po, "number", p.number);
  PutIfNotEmpty(po, "uri", p.uri);
  PutIfNotEmpty(po, "ip", p.ip);
  PutIfNotEmpty(po, "model", p.model);
  PutIfNotEmpty(po, "version", p.version);
  PutIfNotEmpty(po, "site", p.site);
  return po;
}

// Unmeasured values are omitted, never written as 0 (wire.h, QualitySample).
json::array QualityJson(const std::vector<QualitySample>& samples, const json::storage_ptr& sp) {
  json::array arr(sp);
  arr.reserve(samples.size());
  for (const QualitySample& q : samples) {
    json::object o(13, sp);
    o["party"] = q.party;
    o["direction"] = q.direction;
    o["media"] = q.media;
    PutIfNotEmpty(o, "codec", q.codec);
    if (q.bitrate_kbps) o["bitrate_kbps"] = *q.bitrate_kbps;
    auto put = [&o](std::string_view key, const std::optional<double>& v) {
      if (v) o[key] = *v;
    };
    put("packet_loss_pct_avg", q.packet_loss_pct_avg);
    put("packet_loss_pct_max", q.packet_loss_pct_max);
    put("jitter_ms_avg", q.jitter_ms_avg);
    put("jitter_ms_max", q.jitter_ms_max);
    put("latency_ms_avg", q.latency_ms_avg);
    put("latency_ms_max", q.latency_ms_max);
    put("mos", q.mos);
    arr.push_back(std::move(o));
  }
  return arr;
}

}  // namespace

std::string_view CallStatusName(CallStatus s) {
  switch (s) {
    case CallStatus::kCompleted:
      return "completed";
    case CallStatus::kFailed:
      return "failed";
  }
  return "completed";
}

ParseOutcome ParseBatch(std::string_view ndjson, const BatchLimits& limits) {
  try {
    BatchParser parser(limits);
    return parser.Run(ndjson);
  } catch (const std::exception&) {
    // Only allocation failure can get here; keep it inside the module.
    ParseOutcome out;
    out.errors.push_back({0, "internal error while parsing the batch"});
    out.summary = out.errors.front().reason;
    return out;
  }
}

namespace {

json::object ObjectOf(const CallRecord& call, const json::storage_ptr& sp) {
  json::object o(15, sp);
  o["type"] = "call";
  o["source"] = call.source;
  o["id"] = call.id;
  o["start"] = FormatUtc(call.start);
  o["end"] = FormatUtc(call.end);
  o["duration_s"] = call.duration_s;
  o["status"] = CallStatusName(call.status);
  o["protocol"] = call.protocol;
  o["call_type"] = call.call_type;
  if (!call.cause.empty()) o["cause"] = call.cause;
  if (call.bitrate_kbps != 0) o["bitrate_kbps"] = call.bitrate_kbps;
  if (!call.conference_id.empty()) o["conference_id"] = call.conference_id;
  o["orig"] = PartyJson(call.orig, sp);
  o["dest"] = PartyJson(call.dest, sp);
  if (!call.quality.empty()) o["quality"] = QualityJson(call.quality, sp);
  // serialize() escapes every control character inside strings, so the
  // output is always exactly one line.
  return o;
}

json::object ObjectOf(const ConferenceRecord& conf, const json::storage_ptr& sp) {
  json::object o(12, sp);
  o["type"] = "conference";
  o["source"] = conf.source;
  o["id"] = conf.id;
  o["start"] = FormatUtc(conf.start);
  o["end"] = FormatUtc(conf.end);
  PutIfNotEmpty(o, "name", conf.name);
  PutIfNotEmpty(o, "room", conf.room);
  PutIfNotEmpty(o, "mcu", conf.mcu);
  if (conf.participant_count != 0) o["participant_count"] = conf.participant_count;
  if (conf.max_resources_used) o["max_resources_used"] = *conf.max_resources_used;
  if (conf.scheduled_start) o["scheduled_start"] = FormatUtc(*conf.scheduled_start);
  if (conf.scheduled_end) o["scheduled_end"] = FormatUtc(*conf.scheduled_end);
  return o;
}

json::object ObjectOf(const ParticipantRecord& part, const json::storage_ptr& sp) {
  json::object o(13, sp);
  o["type"] = "participant";
  o["source"] = part.source;
  o["id"] = part.id;
  o["conference_id"] = part.conference_id;
  PutIfNotEmpty(o, "call_id", part.call_id);
  o["start"] = FormatUtc(part.start);
  o["end"] = FormatUtc(part.end);
  o["duration_s"] = part.duration_s;
  PutIfNotEmpty(o, "protocol", part.protocol);
  PutIfNotEmpty(o, "role", part.role);
  PutIfNotEmpty(o, "disconnect_reason", part.disconnect_reason);
  o["party"] = PartyJson(part.party, sp);
  if (!part.quality.empty()) o["quality"] = QualityJson(part.quality, sp);
  return o;
}

json::object ObjectOf(const DeviceRecord& dev, const json::storage_ptr& sp) {
  json::object o(sp);
  o["type"] = "device";
  o["source"] = dev.source;
  o["id"] = dev.id;
  o["observed_at"] = FormatUtc(dev.observed_at);
  PutIfNotEmpty(o, "name", dev.name);
  PutIfNotEmpty(o, "device_type", dev.type);
  PutIfNotEmpty(o, "model", dev.model);
  PutIfNotEmpty(o, "version", dev.version);
  PutIfNotEmpty(o, "site", dev.site);
  PutIfNotEmpty(o, "serial", dev.serial);
  PutIfNotEmpty(o, "ip", dev.ip);
  PutIfNotEmpty(o, "mac", dev.mac);
  PutIfNotEmpty(o, "owner", dev.owner);
  PutIfNotEmpty(o, "status", dev.status);
  PutIfNotEmpty(o, "registration", dev.registration);
  PutIfNotEmpty(o, "timezone", dev.timezone);
  return o;
}

std::string ReadObject(const json::object& o, CallRecord& r) { return ReadCall(o, r); }
std::string ReadObject(const json::object& o, ConferenceRecord& r) { return ReadConference(o, r); }
std::string ReadObject(const json::object& o, ParticipantRecord& r) { return ReadParticipant(o, r); }
std::string ReadObject(const json::object& o, DeviceRecord& r) { return ReadDevice(o, r); }

// Whether parsing the serialized object gives this object back exactly:
// finite doubles (boost::json writes NaN and infinities as text that does
// not parse back to them) and no unsigned integers (the parser reads them as
// signed when they fit). Records' own fields are int64_t and double.
bool ParsesBackIdentically(const json::value& v);
// Its own overload: passed to the json::value one, an object would first be
// copied whole into a temporary value (8% of the agent's CPU, measured).
bool ParsesBackIdentically(const json::object& o) {
  return std::all_of(o.begin(), o.end(),
                     [](const json::key_value_pair& kv) { return ParsesBackIdentically(kv.value()); });
}
bool ParsesBackIdentically(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: return std::isfinite(v.get_double());
    case json::kind::uint64: return false;
    case json::kind::array:
      return std::all_of(v.get_array().begin(), v.get_array().end(),
                         [](const json::value& e) { return ParsesBackIdentically(e); });
    case json::kind::object: return ParsesBackIdentically(v.get_object());
    default: return true;
  }
}

// Where a record's JSON object is built: it lives only until it is
// serialized (and checked), so its allocations come from an arena on the
// stack (past its buffer, from the heap in a few large blocks), freed at
// once, instead of one malloc per string and object. The agent builds every
// line it sends this way.
struct RecordArena {
  unsigned char buffer[4096];
  json::monotonic_resource resource{buffer, sizeof buffer};
};

template <typename T>
std::string SerializeObjectOf(const T& record) {
  RecordArena arena;
  return json::serialize(ObjectOf(record, &arena.resource));
}

}  // namespace

std::string SerializeCall(const CallRecord& call) { return SerializeObjectOf(call); }
std::string SerializeConference(const ConferenceRecord& conf) { return SerializeObjectOf(conf); }
std::string SerializeParticipant(const ParticipantRecord& part) { return SerializeObjectOf(part); }
std::string SerializeDevice(const DeviceRecord& dev) { return SerializeObjectOf(dev); }

std::string SerializeRecord(const Record& record) {
  return std::visit([](const auto& r) { return SerializeObjectOf(r); }, record);
}

RecordCheck CheckRecord(const Record& record) {
  return std::visit(
      [](const auto& r) -> RecordCheck {
        using T = std::decay_t<decltype(r)>;
        RecordArena arena;
        const json::object o = ObjectOf(r, &arena.resource);
        RecordCheck out;
        out.line = json::serialize(o);
        if (!ParsesBackIdentically(o)) {
          // The exact path: the server's parser on the line itself.
          const ParseOutcome parsed = ParseBatch(out.line, BatchLimits{1});
          if (!parsed.batch) out.reason = parsed.errors.empty() ? parsed.summary : parsed.errors.front().reason;
          return out;
        }
        // What ParseLine does to this line, minus the parse: the object it
        // would build is `o` (serialize writes each key once, so there are no
        // duplicate keys to find either).
        if (!IsValidUtf8(out.line)) {
          out.reason = "invalid UTF-8";
          return out;
        }
        T read;
        out.reason = ReadObject(o, read);
        return out;
      },
      record);
}

const std::string& RecordId(const Record& record) {
  return std::visit([](const auto& r) -> const std::string& { return r.id; }, record);
}

std::string SerializeCursor(const CursorUpdate& cursor) {
  json::object o;
  o["type"] = "cursor";
  o["source"] = cursor.source;
  o["value"] = cursor.value;
  if (cursor.after) o["after"] = *cursor.after;
  return json::serialize(o);
}

std::string ContentDigest(std::string_view body) {
  std::array<unsigned char, 32> md = Sha256(body);
  // 32 bytes -> 44 base64 characters plus the NUL EVP_EncodeBlock writes.
  std::array<char, 45> b64{};
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), md.data(), static_cast<int>(md.size()));
  return "sha-256=:" + std::string(b64.data(), static_cast<size_t>(n)) + ":";
}

Status VerifyContentDigest(std::string_view header_value, std::string_view body) {
  bool found = false;
  bool malformed = false;
  bool mismatch = false;
  std::array<unsigned char, 32> expected{};
  bool computed = false;
  size_t pos = 0;
  while (pos <= header_value.size()) {
    size_t comma = header_value.find(',', pos);
    std::string_view member =
        TrimOws(header_value.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    pos = comma == std::string_view::npos ? header_value.size() + 1 : comma + 1;
    size_t eq = member.find('=');
    if (eq == std::string_view::npos) continue;  // loose: ignore what we cannot read
    if (!EqualsIgnoreCase(TrimOws(member.substr(0, eq)), "sha-256")) continue;
    found = true;
    std::string_view value = TrimOws(member.substr(eq + 1));
    // Structured-field parameters (";foo=bar") after the byte sequence are ignored.
    size_t close = value.size() >= 2 && value.front() == ':' ? value.find(':', 1) : std::string_view::npos;
    if (close == std::string_view::npos) {
      malformed = true;
      continue;
    }
    std::optional<std::string> digest = DecodeBase64(value.substr(1, close - 1));
    if (!digest || digest->size() != expected.size()) {
      malformed = true;
      continue;
    }
    if (!computed) {
      expected = Sha256(body);
      computed = true;
    }
    // Every sha-256 member must match: a header carrying a right and a wrong
    // value is not trusted.
    if (CRYPTO_memcmp(digest->data(), expected.data(), expected.size()) != 0) mismatch = true;
  }
  if (!found) return InvalidArgument("Content-Digest has no sha-256 member");
  if (malformed) return InvalidArgument("Content-Digest sha-256 member is malformed");
  if (mismatch) return InvalidArgument("Content-Digest does not match the body");
  return Ok();
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

}  // namespace parley::wire
