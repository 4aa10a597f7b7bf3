#include "devsim/cdr_export.h"

#include <zip.h>

#include <memory>

#include "devsim/csv.h"

namespace parley::devsim {

namespace {

std::string Hex(uint64_t value, int digits) {
  static const char* kDigits = "0123456789abcdef";
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kDigits[value & 0xF];
    value >>= 4;
  }
  return out;
}

// A stable pseudo-random 64-bit value per call and purpose (SIP tags and
// Call-IDs), from the call id alone.
uint64_t Derive(const Call& call, uint64_t purpose) {
  uint64_t z = call.key.id_hi ^ (call.key.id_lo * 0x9e3779b97f4a7c15ULL) ^ (purpose * 0xbf58476d1ce4e5b9ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

const char* Bool(bool b) { return b ? "TRUE" : "FALSE"; }

std::string DeptOfVmr(const Workload& w, int vmr) {
  const Vmr& v = w.org().vmrs[static_cast<size_t>(vmr)];
  return w.org().endpoints[static_cast<size_t>(v.owner)].department;
}

}  // namespace

const std::vector<std::string>& CallCsvColumns() {
  // Documented columns in documented order; between destEndpoint and
  // VEQCluster the documentation was not retrieved (domain.md 3.2), and the
  // columns there are ours.
  static const std::vector<std::string> kColumns = {
      "version", "type", "callType", "callUuid", "dialin", "startTime", "endTime", "origEndpoint", "destEndpoint",
      // ours (the undocumented middle of the table)
      "origName", "destName", "origSite", "destSite", "dialString", "callSignaling", "bitRate", "duration",
      "confUuid", "cluster",
      // documented again
      "VEQCluster", "userDataA", "userDataB", "userDataC", "userDataD", "userDataE", "userRole",
      "failureSignalingCode", "origModel", "origVersion", "destModel", "destVersion", "displays",
      "minVideoResolution", "origSignalingId", "origCallId", "destCallId", "chairPasscode", "confRequiresChair",
      "termConfAfterChairDrops", "charJoinTime"};
  return kColumns;
}

const std::vector<std::string>& ConferenceCsvColumns() {
  static const std::vector<std::string> kColumns = {
      "version",  "type",   "confType",  "cluster",       "confUUID",  "startTime", "endTime",  "userID",
      "roomID",   "partCount", "classOfService", "userDataA", "userDataB", "userDataC", "maxResourcesUsed"};
  return kColumns;
}

std::vector<std::string> CallCsvFields(const Workload& w, const Call& call) {
  const Organisation& org = w.org();
  const Leg orig = w.Originator(call);
  const Leg dest = w.Destination(call);
  const bool sip = call.signaling == Signaling::kSip;
  const bool vmr = call.type == CallType::kVmr;
  const TimeZone& zone = w.ClusterZone();
  const std::string start = FormatZoned(call.start_unix, zone);
  std::string user_data_b = vmr ? DeptOfVmr(w, call.destination) : dest.device->department;
  std::string orig_signaling_id =
      sip ? "\"" + orig.device->name + "\" <" + orig.uri + ">;tag=" + Hex(Derive(call, 1), 8) : orig.number;
  std::string orig_call_id =
      sip ? Hex(Derive(call, 2), 16) + "@" + orig.device->ip : Hex(Derive(call, 2), 16) + Hex(Derive(call, 3), 16);
  std::string dest_call_id =
      sip ? Hex(Derive(call, 4), 16) + "@" + dest.device->ip : Hex(Derive(call, 4), 16) + Hex(Derive(call, 5), 16);
  return {std::string(kCdrVersion),
          "CALL",
          vmr ? "VMR" : "PT-PT",
          FormatUuid(call.key.id_hi, call.key.id_lo),
          Bool(vmr),
          start,
          FormatZoned(call.key.end_unix, zone),
          sip ? orig.uri : orig.number,
          sip ? dest.uri : dest.number,
          orig.device->name,
          dest.device->name,
          orig.site->name,
          dest.site->name,
          sip ? dest.uri.substr(4) : dest.number,
          sip ? "SIP" : "H323",
          std::to_string(call.bit_rate_kbps),
          std::to_string(call.duration_s),
          vmr ? FormatUuid(call.conf_hi, call.conf_lo) : std::string(),
          org.cluster,
          "",
          orig.device->department,
          user_data_b,
          "",
          "",
          "",
          vmr ? (call.chair ? "chairperson" : "participant") : "",
          call.failed() ? FailureCodes()[static_cast<size_t>(call.failure)] : std::string(),
          orig.device->model,
          orig.device->version,
          dest.device->model,
          dest.device->version,
          "1",
          call.failed() ? std::string() : std::string(VideoFormat(call.bit_rate_kbps)),
          orig_signaling_id,
          orig_call_id,
          dest_call_id,
          "",
          vmr ? "FALSE" : "",
          vmr ? "FALSE" : "",
          vmr && call.chair && !call.failed() ? start : std::string()};
}

std::vector<std::string> ConferenceCsvFields(const Workload& w, const Meeting& m) {
  const Organisation& org = w.org();
  const Vmr& vmr = org.vmrs[static_cast<size_t>(m.vmr)];
  const Device& owner = org.endpoints[static_cast<size_t>(vmr.owner)];
  const TimeZone& zone = w.ClusterZone();
  return {std::string(kCdrVersion),
          "CONF",
          m.scheduled ? "PCO" : "AD-HOC",
          org.cluster,
          FormatUuid(m.key.id_hi, m.key.id_lo),
          FormatZoned(m.first_join, zone),
          FormatZoned(m.last_leave, zone),
          (vmr.local_user ? std::string("LOCAL") : org.owner_domain) + "\\" + owner.owner,
          vmr.number,
          std::to_string(m.part_count),
          vmr.class_of_service,
          "",
          owner.department,
          "",
          "video: " + std::to_string(m.max_video_ports) + " voice: 0"};
}

CdrFiles RenderCdrFiles(const Workload& w, const std::vector<Call>& calls, const std::vector<Meeting>& meetings,
                        int64_t ended_after, int64_t ended_before) {
  CdrFiles files;
  files.calls_csv = CsvRow(CallCsvColumns());
  for (const Call& c : calls) files.calls_csv += CsvRow(CallCsvFields(w, c));
  files.conferences_csv = CsvRow(ConferenceCsvColumns());
  for (const Meeting& m : meetings) files.conferences_csv += CsvRow(ConferenceCsvFields(w, m));
  const TimeZone& zone = w.ClusterZone();
  files.summary = "Calls: " + std::to_string(calls.size()) + "\r\n" +
                  "Conferences: " + std::to_string(meetings.size()) + "\r\n" +
                  "Clusters included: " + w.org().cluster + "\r\n" +
                  "Clusters excluded (unreachable): none\r\n" +
                  "Calls and conferences ending after: " + FormatZoned(ended_after, zone) + "\r\n" +
                  "Calls and conferences ending before: " + FormatZoned(ended_before, zone) + "\r\n";
  return files;
}

Result<std::string> ZipCdrFiles(const CdrFiles& files, int64_t stamp_unix, const TimeZone& zone) {
  // MS-DOS date and time of the entries, local time, 2-second resolution.
  int64_t local = stamp_unix + int64_t{UtcOffsetMinutes(zone, stamp_unix)} * 60;
  int64_t days = FloorDiv(local, 86400);
  int64_t secs = local - days * 86400;
  int year;
  unsigned month, day;
  CivilFromDays(days, year, month, day);
  if (year < 1980) {
    year = 1980, month = 1, day = 1;
    secs = 0;
  }
  const auto dos_time = static_cast<zip_uint16_t>((secs / 3600) << 11 | (secs / 60 % 60) << 5 | (secs % 60) / 2);
  const auto dos_date =
      static_cast<zip_uint16_t>((year - 1980) << 9 | static_cast<int>(month) << 5 | static_cast<int>(day));

  zip_error_t error;
  zip_error_init(&error);
  auto fail = [&](const std::string& what) {
    std::string detail = "cdr export: " + what + ": " + zip_error_strerror(&error);
    zip_error_fini(&error);
    return Internal(detail);
  };
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (buffer == nullptr) return fail("cannot create a ZIP buffer");
  zip_t* archive = zip_open_from_source(buffer, ZIP_TRUNCATE, &error);
  if (archive == nullptr) {
    zip_source_free(buffer);
    return fail("cannot open a ZIP in memory");
  }
  zip_source_keep(buffer);  // we read the bytes back after zip_close
  const std::pair<std::string_view, const std::string*> entries[] = {
      {kCallsCsvName, &files.calls_csv}, {kConferencesCsvName, &files.conferences_csv}, {kSummaryName, &files.summary}};
  for (const auto& [name, data] : entries) {
    zip_source_t* source = zip_source_buffer(archive, data->data(), data->size(), 0);
    zip_int64_t index =
        source == nullptr ? -1 : zip_file_add(archive, std::string(name).c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      if (source != nullptr) zip_source_free(source);
      std::string detail = std::string("cdr export: cannot add ") + std::string(name) + ": " + zip_strerror(archive);
      zip_discard(archive);
      zip_source_free(buffer);
      return Internal(detail);
    }
    const auto i = static_cast<zip_uint64_t>(index);
    if (zip_set_file_compression(archive, i, ZIP_CM_DEFLATE, 0) != 0 ||
        zip_file_set_dostime(archive, i, dos_time, dos_date, 0) != 0) {
      std::string detail = std::string("cdr export: ") + zip_strerror(archive);
      zip_discard(archive);
      zip_source_free(buffer);
      return Internal(detail);
    }
  }
  if (zip_close(archive) != 0) {
    std::string detail = std::string("cdr export: cannot write the ZIP: ") + zip_strerror(archive);
    zip_discard(archive);
    zip_source_free(buffer);
    return Internal(detail);
  }
  std::string out;
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_source_open(buffer) != 0 || zip_source_stat(buffer, &st) != 0 || (st.valid & ZIP_STAT_SIZE) == 0) {
    zip_source_free(buffer);
    return Internal("cdr export: cannot read the ZIP back");
  }
  out.resize(static_cast<size_t>(st.size));
  zip_int64_t got = zip_source_read(buffer, out.data(), st.size);
  zip_source_close(buffer);
  zip_source_free(buffer);
  if (got < 0 || static_cast<zip_uint64_t>(got) != st.size) return Internal("cdr export: short read of the ZIP");
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> UnzipAll(std::string_view zip) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(zip.data(), zip.size(), 0, &error);
  if (source == nullptr) {
    zip_error_fini(&error);
    return InvalidArgument("unzip: cannot create a buffer");
  }
  zip_t* archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (archive == nullptr) {
    std::string detail = std::string("unzip: not a valid ZIP: ") + zip_error_strerror(&error);
    zip_error_fini(&error);
    zip_source_free(source);
    return InvalidArgument(detail);
  }
  std::unique_ptr<zip_t, void (*)(zip_t*)> guard(archive, [](zip_t* z) { zip_discard(z); });
  std::vector<std::pair<std::string, std::string>> out;
  const zip_int64_t n = zip_get_num_entries(archive, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const auto index = static_cast<zip_uint64_t>(i);
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(archive, index, 0, &st) != 0) return InvalidArgument("unzip: cannot stat an entry");
    zip_file_t* file = zip_fopen_index(archive, index, 0);
    if (file == nullptr) return InvalidArgument(std::string("unzip: ") + zip_strerror(archive));
    std::string content(static_cast<size_t>(st.size), '\0');
    zip_int64_t got = zip_fread(file, content.data(), st.size);
    // Reading to the end makes libzip check the CRC.
    char extra;
    zip_int64_t tail = zip_fread(file, &extra, 1);
    zip_fclose(file);
    if (got < 0 || static_cast<zip_uint64_t>(got) != st.size || tail != 0)
      return InvalidArgument(std::string("unzip: cannot read ") + st.name);
    out.emplace_back(st.name, std::move(content));
  }
  return out;
}

}  // namespace parley::devsim
