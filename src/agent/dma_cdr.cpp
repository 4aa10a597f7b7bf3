#include "agent/dma_cdr.h"

#include <csv.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <memory>

#include "agent/dma_collector.h"
#include "common/time_format.h"

namespace parley::agent {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int64_t> ParseInt(std::string_view s) {
  s = Trim(s);
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// ------------------------------------------------------------------ CSV

struct CsvState {
  std::vector<std::string> row;
  const std::function<Status(std::vector<std::string>&)>* on_row = nullptr;
  std::optional<Error> error;
};

void OnCsvField(void* data, size_t len, void* user) {
  auto* st = static_cast<CsvState*>(user);
  if (st->error) return;
  if (st->row.size() >= kMaxCsvFieldsPerRow) {
    st->error = InvalidArgument("CSV row has more than " + std::to_string(kMaxCsvFieldsPerRow) + " fields");
    return;
  }
  st->row.emplace_back(data ? static_cast<const char*>(data) : "", data ? len : 0);
}

void OnCsvRow(int, void* user) {
  auto* st = static_cast<CsvState*>(user);
  if (!st->error) {
    Status s = (*st->on_row)(st->row);
    if (!s.ok()) st->error = s.error();
  }
  st->row.clear();
}

// Columns found by name in the header (lower-cased), first alternative wins.
class Columns {
 public:
  explicit Columns(const std::vector<std::string>& header) {
    for (const std::string& h : header) names_.push_back(Lower(Trim(h)));
  }
  int Find(std::initializer_list<std::string_view> alternatives) const {
    for (std::string_view alt : alternatives) {
      std::string want = Lower(alt);
      for (size_t i = 0; i < names_.size(); ++i)
        if (names_[i] == want) return static_cast<int>(i);
    }
    return -1;
  }

 private:
  std::vector<std::string> names_;
};

// A data row's fields; for an ITP row every field after the third is a
// comma-separated list of which we keep the first value.
class Row {
 public:
  Row(const std::vector<std::string>& fields, bool itp) : fields_(fields), itp_(itp) {}
  std::string operator[](int column) const {
    if (column < 0 || static_cast<size_t>(column) >= fields_.size()) return {};
    std::string_view v = fields_[static_cast<size_t>(column)];
    if (itp_ && column >= 3) v = v.substr(0, v.find(','));
    return std::string(Trim(v));
  }

 private:
  const std::vector<std::string>& fields_;
  bool itp_;
};

// libcsv fed chunk by chunk (csv_parse is incremental), so a file is parsed
// while it inflates and never needs to be held whole.
class CsvStream {
 public:
  explicit CsvStream(std::function<Status(std::vector<std::string>&)> on_row) : on_row_(std::move(on_row)) {
    state_.on_row = &on_row_;
    initialised_ = csv_init(&parser_, CSV_STRICT | CSV_STRICT_FINI) == 0;
  }
  ~CsvStream() {
    if (initialised_) csv_free(&parser_);
  }
  CsvStream(const CsvStream&) = delete;
  CsvStream& operator=(const CsvStream&) = delete;

  Status Feed(std::string_view chunk) {
    if (!initialised_) return Internal("csv_init failed");
    if (fed_ == 0 && chunk.substr(0, 3) == "\xEF\xBB\xBF") chunk.remove_prefix(3);
    size_t done = csv_parse(&parser_, chunk.data(), chunk.size(), &OnCsvField, &OnCsvRow, &state_);
    if (state_.error) return *state_.error;
    if (done != chunk.size())
      return InvalidArgument(std::string("malformed CSV (") + csv_strerror(csv_error(&parser_)) + ") near byte " +
                             std::to_string(fed_ + done));
    fed_ += chunk.size();
    return Ok();
  }
  Status Finish() {
    if (!initialised_) return Internal("csv_init failed");
    bool bad_end = csv_fini(&parser_, &OnCsvField, &OnCsvRow, &state_) != 0;
    if (state_.error) return *state_.error;
    if (bad_end)
      return InvalidArgument(std::string("malformed CSV at the end (") + csv_strerror(csv_error(&parser_)) + ")");
    return Ok();
  }

 private:
  std::function<Status(std::vector<std::string>&)> on_row_;
  csv_parser parser_{};
  CsvState state_;
  bool initialised_ = false;
  size_t fed_ = 0;
};

// A CSV with a header line: on_header once with the columns, then on_data
// for each data row (blank lines skipped). Errors are prefixed with `what`.
class TableReader {
 public:
  TableReader(std::string what, std::function<Status(const Columns&)> on_header,
              std::function<void(const std::vector<std::string>&)> on_data)
      : what_(std::move(what)),
        on_header_(std::move(on_header)),
        on_data_(std::move(on_data)),
        csv_([this](std::vector<std::string>& row) { return OnRow(row); }) {}

  Status Feed(std::string_view chunk) { return Annotate(csv_.Feed(chunk)); }
  Status Finish() {
    PARLEY_TRY(Annotate(csv_.Finish()));
    if (!columns_) return InvalidArgument(what_ + ": empty file (no header line)");
    return Ok();
  }

 private:
  Status OnRow(std::vector<std::string>& row) {
    if (!columns_) {
      columns_.emplace(row);
      return on_header_(*columns_);
    }
    if (row.size() == 1 && Trim(row[0]).empty()) return Ok();  // a blank line
    on_data_(row);
    return Ok();
  }
  Status Annotate(Status s) const {
    if (s.ok()) return s;
    return InvalidArgument(what_ + ": " + s.error().detail);
  }

  std::string what_;
  std::function<Status(const Columns&)> on_header_;
  std::function<void(const std::vector<std::string>&)> on_data_;
  std::optional<Columns> columns_;
  CsvStream csv_;
};

std::string NormalizeProtocol(std::string p) {
  std::string l = Lower(p);
  if (l == "h323" || l == "h.323") return "H.323";
  if (l == "sip") return "SIP";
  return p;
}

// Duration as "HH:MM:SS" or whole seconds.
std::optional<int64_t> ParseCdrDuration(std::string_view s) {
  if (AllDigits(s)) return ParseInt(s);
  return ParseDmaDuration(s);
}

struct PartyColumns {
  int uri, signaling_id, name, number, ip, model, version, site;
};

PartyColumns FindParty(const Columns& c, std::string_view p) {
  auto col = [&](std::initializer_list<std::string_view> suffixes) {
    // Build "<p><suffix>" alternatives.
    std::vector<std::string> alts;
    for (std::string_view s : suffixes) alts.push_back(std::string(p) + std::string(s));
    for (const std::string& a : alts) {
      int i = c.Find({a});
      if (i >= 0) return i;
    }
    return -1;
  };
  PartyColumns pc;
  pc.uri = col({"Endpoint"});
  pc.signaling_id = col({"SignalingId"});
  pc.name = col({"Name", "DeviceName", "EndpointName"});
  pc.number = col({"Number", "Alias", "E164"});
  pc.ip = col({"Ip", "IpAddress", "Address"});
  pc.model = col({"Model"});
  pc.version = col({"Version"});
  pc.site = col({"Site"});
  return pc;
}

wire::Party MapParty(const Row& row, const PartyColumns& pc) {
  wire::Party p;
  p.uri = row[pc.uri];
  if (p.uri.empty()) p.uri = row[pc.signaling_id];
  p.name = row[pc.name];
  p.number = row[pc.number];
  // An H.323 endpoint is identified by its E.164 number.
  if (p.number.empty() && !p.uri.empty() && (p.uri[0] == '+' || AllDigits(p.uri))) p.number = p.uri;
  p.ip = row[pc.ip];
  p.model = row[pc.model];
  p.version = row[pc.version];
  p.site = row[pc.site];
  return p;
}

// Start/end of a row in ms; a reason on failure.
std::optional<std::string> ReadTimes(const Row& row, int start_col, int end_col, int64_t& start_ms, int64_t& end_ms) {
  std::string start = row[start_col];
  std::string end = row[end_col];
  auto s = ParseDmaTimeMs(start);
  if (!s) return start.empty() ? "missing startTime" : "startTime is not a DMA time";
  auto e = ParseDmaTimeMs(end);
  if (!e) return end.empty() ? "missing endTime" : "endTime is not a DMA time";
  if (*e < *s) return std::string("endTime is before startTime");
  start_ms = *s;
  end_ms = *e;
  return std::nullopt;
}

int64_t FloorSeconds(int64_t ms) { return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000); }

bool IsItp(const std::vector<std::string>& fields, int id_col) {
  return id_col >= 0 && static_cast<size_t>(id_col) < fields.size() &&
         fields[static_cast<size_t>(id_col)].find(',') != std::string::npos;
}

// --------------------------------------------------------------- ZIP

struct ZipDiscard {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileClose {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

}  // namespace

Status ReadCsv(std::string_view text, const std::function<Status(std::vector<std::string>& row)>& on_row) {
  CsvStream csv(on_row);
  PARLEY_TRY(csv.Feed(text));
  return csv.Finish();
}

std::optional<int64_t> ParseDmaTimeMs(std::string_view text) {
  text = Trim(text);
  if (text.size() < 19) return std::nullopt;
  std::string base(text.substr(0, 19));
  if (base[10] == ' ') base[10] = 'T';
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    size_t digits = pos - start;
    if (digits == 0 || digits > 9) return std::nullopt;
    for (size_t i = 0; i < 3; ++i) ms = ms * 10 + (i < digits ? text[start + i] - '0' : 0);
  }
  std::string_view zone = text.substr(pos);
  std::string offset;
  if (zone == "Z" || zone == "z") {
    offset = "Z";
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    offset = std::string(zone);
  } else if (zone.size() == 5 && (zone[0] == '+' || zone[0] == '-') && AllDigits(zone.substr(1))) {
    offset = std::string(zone.substr(0, 3)) + ":" + std::string(zone.substr(3));
  } else {
    return std::nullopt;
  }
  auto seconds = ParseRfc3339(base + offset);
  if (!seconds) return std::nullopt;
  return *seconds * 1000 + ms;
}

std::optional<DmaResources> ParseDmaMaxResources(std::string_view text) {
  std::string l = Lower(text);
  DmaResources r;
  auto read = [&l](std::string_view key) -> std::optional<int64_t> {
    size_t at = l.find(key);
    if (at == std::string::npos) return std::nullopt;
    size_t pos = at + key.size();
    while (pos < l.size() && (l[pos] == ':' || l[pos] == ' ' || l[pos] == '=')) ++pos;
    size_t start = pos;
    while (pos < l.size() && l[pos] >= '0' && l[pos] <= '9') ++pos;
    return ParseInt(std::string_view(l).substr(start, pos - start));
  };
  r.video = read("video");
  r.voice = read("voice");
  if (!r.video && !r.voice) {
    // A bare number: total ports.
    if (auto n = ParseInt(text)) r.video = n;
    else return std::nullopt;
  }
  return r;
}

namespace {

// Column positions found in a header, shared by the header and row callbacks.
struct CallColumns {
  int id_col = -1, type_col = -1, start_col = -1, end_col = -1, duration_col = -1, cause_col = -1, protocol_col = -1,
      call_type_col = -1, bitrate_col = -1, conf_col = -1;
  PartyColumns orig{}, dest{};
};
struct ConferenceColumns {
  int id_col = -1, type_col = -1, start_col = -1, end_col = -1, room_col = -1, parts_col = -1, res_col = -1,
      name_col = -1, mcu_col = -1;
};

// Readers of the two files of an export: each row is mapped as soon as it is
// parsed and goes to `out`; `rows` counts data rows, mapped or not. `out` and
// `rows` must outlive the reader.
std::unique_ptr<TableReader> CallsReader(const std::string& source, const DmaCdrHandlers& out, size_t& rows) {
  auto cols = std::make_shared<CallColumns>();
  return std::make_unique<TableReader>(
      "calls CSV",
      [cols](const Columns& c) -> Status {
        cols->id_col = c.Find({"callUuid"});
        cols->type_col = c.Find({"type"});
        cols->start_col = c.Find({"startTime"});
        cols->end_col = c.Find({"endTime"});
        if (cols->id_col < 0 || cols->start_col < 0 || cols->end_col < 0)
          return InvalidArgument("header lacks callUuid, startTime or endTime");
        cols->duration_col = c.Find({"callDuration", "duration"});
        cols->cause_col = c.Find({"failureSignalingCode"});
        cols->protocol_col = c.Find({"signalingType", "callSignaling", "signaling", "protocol"});
        cols->call_type_col = c.Find({"callType"});
        cols->bitrate_col = c.Find({"bitRate", "callRate", "bitrate"});
        cols->conf_col = c.Find({"confUuid", "conferenceUuid"});
        cols->orig = FindParty(c, "orig");
        cols->dest = FindParty(c, "dest");
        return Ok();
      },
      [cols, source, &out, &rows](const std::vector<std::string>& fields) {
        ++rows;
        Row row(fields, IsItp(fields, cols->id_col));
        std::string id = row[cols->id_col];
        auto skip = [&](std::string reason) { out.on_skip({id, std::move(reason)}); };
        if (id.empty()) return skip("missing callUuid");
        std::string type = row[cols->type_col];
        if (!type.empty() && type != "CALL") return skip("row type is not CALL");
        wire::CallRecord r;
        r.source = source;
        r.id = id;
        int64_t start_ms = 0, end_ms = 0;
        if (auto reason = ReadTimes(row, cols->start_col, cols->end_col, start_ms, end_ms)) return skip(*reason);
        r.start = FloorSeconds(start_ms);
        r.end = FloorSeconds(end_ms);
        r.cause = row[cols->cause_col];
        r.status = r.cause.empty() ? wire::CallStatus::kCompleted : wire::CallStatus::kFailed;
        std::string duration = row[cols->duration_col];
        if (!duration.empty()) {
          auto d = ParseCdrDuration(duration);
          if (!d) return skip("callDuration is neither HH:MM:SS nor seconds");
          r.duration_s = *d;
        } else {
          // Failed calls never connected; otherwise signalling time is the best we have.
          r.duration_s = r.status == wire::CallStatus::kFailed ? 0 : r.end - r.start;
        }
        if (r.duration_s > r.end - r.start + 1) return skip("callDuration is longer than the call");
        r.protocol = NormalizeProtocol(row[cols->protocol_col]);
        r.call_type = row[cols->call_type_col];
        std::string bitrate = row[cols->bitrate_col];
        if (!bitrate.empty()) {
          auto b = ParseInt(bitrate);
          if (!b || *b < 0) return skip("bitRate is not a non-negative integer");
          r.bitrate_kbps = *b;
        }
        r.conference_id = row[cols->conf_col];
        r.orig = MapParty(row, cols->orig);
        r.dest = MapParty(row, cols->dest);
        out.on_entry({end_ms, std::move(r)});
      });
}


std::unique_ptr<TableReader> ConferencesReader(const std::string& source, const DmaCdrHandlers& out, size_t& rows) {
  auto cols = std::make_shared<ConferenceColumns>();
  return std::make_unique<TableReader>(
      "conferences CSV",
      [cols](const Columns& c) -> Status {
        cols->id_col = c.Find({"confUUID", "confUuid"});
        cols->type_col = c.Find({"type"});
        cols->start_col = c.Find({"startTime"});
        cols->end_col = c.Find({"endTime"});
        if (cols->id_col < 0 || cols->start_col < 0 || cols->end_col < 0)
          return InvalidArgument("header lacks confUUID, startTime or endTime");
        cols->room_col = c.Find({"roomID", "roomId"});
        cols->parts_col = c.Find({"partCount"});
        cols->res_col = c.Find({"maxResourcesUsed"});
        cols->name_col = c.Find({"confName", "conferenceName", "displayText"});
        cols->mcu_col = c.Find({"mcuName", "mcu"});
        return Ok();
      },
      [cols, source, &out, &rows](const std::vector<std::string>& fields) {
        ++rows;
        Row row(fields, IsItp(fields, cols->id_col));
        std::string id = row[cols->id_col];
        auto skip = [&](std::string reason) { out.on_skip({id, std::move(reason)}); };
        if (id.empty()) return skip("missing confUUID");
        std::string type = row[cols->type_col];
        if (!type.empty() && type != "CONF") return skip("row type is not CONF");
        wire::ConferenceRecord r;
        r.source = source;
        r.id = id;
        int64_t start_ms = 0, end_ms = 0;
        if (auto reason = ReadTimes(row, cols->start_col, cols->end_col, start_ms, end_ms)) return skip(*reason);
        r.start = FloorSeconds(start_ms);
        r.end = FloorSeconds(end_ms);
        std::string parts = row[cols->parts_col];
        if (!parts.empty()) {
          auto n = ParseInt(parts);
          if (!n || *n < 0) return skip("partCount is not a non-negative integer");
          r.participant_count = *n;
        }
        std::string resources = row[cols->res_col];
        if (!resources.empty()) {
          auto res = ParseDmaMaxResources(resources);
          if (!res) return skip("maxResourcesUsed is not \"video: N voice: N\"");
          // Capacity is counted in video ports; an audio-only conference in voice ports.
          std::optional<int64_t> used = res->video && *res->video > 0 ? res->video : res->voice;
          if (!used) used = res->video;
          if (used && *used < 0) return skip("maxResourcesUsed is negative");
          r.max_resources_used = used;
        }
        r.room = row[cols->room_col];
        r.name = row[cols->name_col];
        r.mcu = row[cols->mcu_col];
        out.on_entry({end_ms, std::move(r)});
      });
}


// A whole CSV text through one reader, collected into a DmaCdrFile.
Result<DmaCdrFile> ParseWholeFile(
    std::string_view csv, const std::string& source,
    std::unique_ptr<TableReader> (*make_reader)(const std::string&, const DmaCdrHandlers&, size_t&)) {
  DmaCdrFile file;
  DmaCdrHandlers collect{[&file](DmaCdrEntry&& e) { file.entries.push_back(std::move(e)); },
                         [&file](DmaCdrSkip&& s) { file.skipped.push_back(std::move(s)); }};
  auto reader = make_reader(source, collect, file.rows);
  PARLEY_TRY(reader->Feed(csv));
  PARLEY_TRY(reader->Finish());
  return file;
}

}  // namespace

Result<DmaCdrFile> ParseDmaCdrCalls(std::string_view csv, const std::string& source) {
  return ParseWholeFile(csv, source, &CallsReader);
}

Result<DmaCdrFile> ParseDmaCdrConferences(std::string_view csv, const std::string& source) {
  return ParseWholeFile(csv, source, &ConferencesReader);
}

DmaCdrSummary ParseDmaCdrSummary(std::string_view text) {
  DmaCdrSummary out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t sep = line.find_first_of(":=");
    if (sep == std::string_view::npos) continue;
    std::string key = Lower(Trim(line.substr(0, sep)));
    std::string_view value = Trim(line.substr(sep + 1));
    if (key.find("excluded") != std::string::npos) {
      while (!value.empty()) {
        size_t comma = value.find_first_of(",;");
        std::string_view item = Trim(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
        std::string l = Lower(item);
        if (!item.empty() && l != "none" && l != "-" && l != "0" && out.excluded_clusters.size() < 64)
          out.excluded_clusters.emplace_back(item.substr(0, 128));
      }
    } else if (key.find("included") != std::string::npos) {
      continue;
    } else if (key.find("conference") != std::string::npos) {
      if (auto n = ParseInt(value); n && *n >= 0) out.conferences = n;
    } else if (key.find("call") != std::string::npos) {
      if (auto n = ParseInt(value); n && *n >= 0) out.calls = n;
    }
  }
  return out;
}

namespace {

// One file of the export while it inflates: the first line decides what it
// is (calls, conferences, summary or something to ignore), then every chunk
// goes straight to that file's CSV reader.
class ExportEntry {
 public:
  ExportEntry(bool is_text, const std::string& source, const DmaCdrHandlers& out, DmaCdrExportInfo& info,
              bool& have_calls, bool& have_confs)
      : is_text_(is_text), source_(source), out_(out), info_(info), have_calls_(have_calls), have_confs_(have_confs) {}

  // false: the rest of this entry is not needed.
  Result<bool> Feed(std::string_view chunk) {
    if (is_text_) {
      if (summary_.size() + chunk.size() > kMaxSummaryBytes) return InvalidArgument("CDR export ZIP: the summary file is too large");
      summary_.append(chunk);
      return true;
    }
    if (reader_) {
      PARLEY_TRY(reader_->Feed(chunk));
      return true;
    }
    head_.append(chunk);
    if (head_.find('\n') == std::string::npos) {
      if (head_.size() > kMaxHeaderBytes) return InvalidArgument("CDR export ZIP: a CSV header line is too long");
      return true;
    }
    PARLEY_ASSIGN_OR_RETURN(bool wanted, Classify());
    if (!wanted) return false;
    std::string head = std::move(head_);
    PARLEY_TRY(reader_->Feed(head));
    return true;
  }

  Status Finish() {
    if (is_text_) {
      info_.summary = ParseDmaCdrSummary(summary_);
      return Ok();
    }
    if (!reader_) {  // a file without a line break: its only line is the header
      PARLEY_ASSIGN_OR_RETURN(bool wanted, Classify());
      if (!wanted) return Ok();
      std::string head = std::move(head_);
      PARLEY_TRY(reader_->Feed(head));
    }
    return reader_->Finish();
  }

 private:
  static constexpr size_t kMaxSummaryBytes = 1u << 20;
  static constexpr size_t kMaxHeaderBytes = 64u << 10;

  // Tells the CSVs apart by their header line.
  Result<bool> Classify() {
    std::string_view body(head_);
    if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
    std::string header = Lower(body.substr(0, body.find('\n')));
    if (header.find("calluuid") != std::string::npos) {
      if (have_calls_) return InvalidArgument("CDR export ZIP holds two call CSV files");
      have_calls_ = true;
      reader_ = CallsReader(source_, out_, info_.call_rows);
      return true;
    }
    if (header.find("confuuid") != std::string::npos) {
      if (have_confs_) return InvalidArgument("CDR export ZIP holds two conference CSV files");
      have_confs_ = true;
      reader_ = ConferencesReader(source_, out_, info_.conference_rows);
      return true;
    }
    return false;  // anything else is ignored
  }

  bool is_text_;
  const std::string& source_;
  const DmaCdrHandlers& out_;
  DmaCdrExportInfo& info_;
  bool& have_calls_;
  bool& have_confs_;
  std::string summary_;
  std::string head_;
  std::unique_ptr<TableReader> reader_;
};

}  // namespace

Result<DmaCdrExportInfo> StreamDmaCdrExport(std::string_view zip_bytes, const std::string& source,
                                            const DmaCdrHandlers& out) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(zip_bytes.data(), zip_bytes.size(), 0, &err);
  if (!src) {
    zip_error_fini(&err);
    return Internal("cannot read the CDR export from memory");
  }
  zip_t* raw = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!raw) {
    zip_source_free(src);
    std::string what = zip_error_strerror(&err);
    zip_error_fini(&err);
    return InvalidArgument("CDR export is not a valid ZIP (" + what + ")");
  }
  zip_error_fini(&err);
  std::unique_ptr<zip_t, ZipDiscard> archive(raw);

  zip_int64_t n = zip_get_num_entries(archive.get(), 0);
  if (n < 0 || static_cast<uint64_t>(n) > kMaxZipEntries)
    return InvalidArgument("CDR export ZIP has more than " + std::to_string(kMaxZipEntries) + " entries");
  DmaCdrExportInfo info;
  bool have_calls = false, have_confs = false, have_summary = false;
  std::vector<char> buffer(64u << 10);
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive.get(), static_cast<zip_uint64_t>(i), 0, &st) != 0)
      return InvalidArgument("CDR export ZIP: unreadable entry");
    std::string name = (st.valid & ZIP_STAT_NAME) && st.name ? st.name : "";
    if (!name.empty() && name.back() == '/') continue;  // a directory
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
      return InvalidArgument("CDR export ZIP: encrypted entries are not supported");
    std::string lower = Lower(name);
    bool is_text = lower.size() >= 4 && lower.compare(lower.size() - 4, 4, ".txt") == 0;
    if (is_text && have_summary) continue;  // the first summary counts
    have_summary = have_summary || is_text;
    std::unique_ptr<zip_file_t, ZipFileClose> file(zip_fopen_index(archive.get(), static_cast<zip_uint64_t>(i), 0));
    if (!file) return InvalidArgument("CDR export ZIP: an entry cannot be opened (unsupported compression?)");
    ExportEntry entry(is_text, source, out, info, have_calls, have_confs);
    uint64_t inflated = 0;
    bool wanted = true;
    for (;;) {
      zip_int64_t got = zip_fread(file.get(), buffer.data(), buffer.size());
      if (got < 0) return InvalidArgument("CDR export ZIP: an entry is corrupt (bad data or CRC)");
      if (got == 0) break;
      inflated += static_cast<uint64_t>(got);
      if (inflated > kMaxZipEntryBytes) return InvalidArgument("CDR export ZIP: an entry inflates beyond the agent's limit");
      PARLEY_ASSIGN_OR_RETURN(wanted, entry.Feed(std::string_view(buffer.data(), static_cast<size_t>(got))));
      if (!wanted) break;
    }
    if (wanted) PARLEY_TRY(entry.Finish());
  }
  if (!have_calls) return InvalidArgument("CDR export ZIP has no call CSV (a header with callUuid)");
  if (!have_confs) return InvalidArgument("CDR export ZIP has no conference CSV (a header with confUUID)");
  if (info.summary.calls && static_cast<size_t>(*info.summary.calls) != info.call_rows)
    return InvalidArgument("CDR export is inconsistent: the summary counts " + std::to_string(*info.summary.calls) +
                           " calls, the calls CSV has " + std::to_string(info.call_rows) + " rows (truncated?)");
  if (info.summary.conferences && static_cast<size_t>(*info.summary.conferences) != info.conference_rows)
    return InvalidArgument("CDR export is inconsistent: the summary counts " +
                           std::to_string(*info.summary.conferences) + " conferences, the conferences CSV has " +
                           std::to_string(info.conference_rows) + " rows (truncated?)");
  return info;
}

Result<DmaCdrExport> ParseDmaCdrExport(std::string_view zip_bytes, const std::string& source) {
  DmaCdrExport out;
  DmaCdrHandlers collect{[&out](DmaCdrEntry&& e) { out.entries.push_back(std::move(e)); },
                         [&out](DmaCdrSkip&& s) { out.skipped.push_back(std::move(s)); }};
  PARLEY_ASSIGN_OR_RETURN(DmaCdrExportInfo info, StreamDmaCdrExport(zip_bytes, source, collect));
  out.summary = std::move(info.summary);
  return out;
}

}  // namespace parley::agent
