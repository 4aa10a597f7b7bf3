#include "devsim/cdr_export.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "common/time_format.h"
#include "devsim/csv.h"

namespace parley::devsim {
namespace {

const int64_t kOrigin = *ParseRfc3339("2026-12-04T16:00:00Z");

// A strict RFC 4180 reader for the tests: quoted fields, doubled quotes,
// CRLF row ends. Fails the test on anything else.
std::vector<std::vector<std::string>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  size_t i = 0;
  bool at_field_start = true;
  while (i < text.size()) {
    char c = text[i];
    if (at_field_start && c == '"') {
      ++i;
      for (;;) {
        if (i >= text.size()) {
          ADD_FAILURE() << "unterminated quoted field";
          return rows;
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += text[i++];
      }
      at_field_start = false;
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      at_field_start = true;
      ++i;
    } else if (c == '\r') {
      EXPECT_EQ(text.substr(i, 2), "\r\n");
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
      at_field_start = true;
      i += 2;
    } else {
      EXPECT_NE(c, '"') << "a quote inside an unquoted field";
      EXPECT_NE(c, '\n') << "a bare LF";
      field += c;
      at_field_start = false;
      ++i;
    }
  }
  EXPECT_TRUE(row.empty() && field.empty()) << "the last row lacks its CRLF";
  return rows;
}

struct Export {
  std::unique_ptr<Workload> workload;
  std::vector<Call> calls;
  std::vector<Meeting> meetings;
  CdrFiles files;
};

Export MakeExport(uint64_t seed, int days, int64_t origin = kOrigin) {
  Export e;
  WorkloadOptions o;
  o.seed = seed;
  o.origin_unix = origin;
  o.history_days = days;
  e.workload = std::move(Workload::Create(o)).value();
  EXPECT_TRUE(e.workload->EndedInWindow(0, origin + 1, origin, 1000000, &e.calls, &e.meetings));
  e.files = RenderCdrFiles(*e.workload, e.calls, e.meetings, 0, origin + 1);
  return e;
}

size_t Col(const std::vector<std::string>& columns, const std::string& name) {
  auto it = std::find(columns.begin(), columns.end(), name);
  EXPECT_NE(it, columns.end()) << name;
  return static_cast<size_t>(it - columns.begin());
}

TEST(CdrExportTest, CallsCsvHasTheDocumentedColumnsAndOneRowPerCall) {
  Export e = MakeExport(42, 7);
  ASSERT_GT(e.calls.size(), 100u);
  auto rows = ParseCsv(e.files.calls_csv);
  ASSERT_EQ(rows.size(), e.calls.size() + 1);
  const auto& columns = CallCsvColumns();
  EXPECT_EQ(rows[0], columns);
  // The documented fields are all there, in documented order.
  const std::vector<std::string> documented = {
      "version", "type", "callType", "callUuid", "dialin", "startTime", "endTime", "origEndpoint", "VEQCluster",
      "userDataA", "userDataB", "userDataC", "userDataD", "userDataE", "userRole", "failureSignalingCode",
      "origModel", "origVersion", "destModel", "destVersion", "displays", "minVideoResolution", "origSignalingId",
      "origCallId", "destCallId", "chairPasscode", "confRequiresChair", "termConfAfterChairDrops", "charJoinTime"};
  size_t last = 0;
  for (const std::string& name : documented) {
    size_t at = Col(columns, name);
    EXPECT_GE(at, last) << name;
    last = at;
  }
  const std::regex time_re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2})");
  const TimeZone& zone = e.workload->ClusterZone();
  int failed = 0, vmr = 0, chairs = 0;
  for (size_t i = 0; i < e.calls.size(); ++i) {
    const Call& call = e.calls[i];
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), columns.size());
    EXPECT_EQ(row, CallCsvFields(*e.workload, call));  // quoting round-trips exactly
    EXPECT_EQ(row[Col(columns, "version")], "10.0");
    EXPECT_EQ(row[Col(columns, "type")], "CALL");
    EXPECT_EQ(row[Col(columns, "callUuid")], FormatUuid(call.key.id_hi, call.key.id_lo));
    const std::string start = row[Col(columns, "startTime")], end = row[Col(columns, "endTime")];
    EXPECT_TRUE(std::regex_match(start, time_re)) << start;
    EXPECT_EQ(ParseRfc3339(start), call.start_unix);
    EXPECT_EQ(ParseRfc3339(end), call.key.end_unix);
    // In the cluster's zone, with the offset in force at that instant.
    EXPECT_EQ(start, FormatZoned(call.start_unix, zone));
    const bool is_vmr = call.type == CallType::kVmr;
    vmr += is_vmr;
    EXPECT_EQ(row[Col(columns, "callType")], is_vmr ? "VMR" : "PT-PT");
    EXPECT_EQ(row[Col(columns, "dialin")], is_vmr ? "TRUE" : "FALSE");
    EXPECT_EQ(row[Col(columns, "confUuid")].empty(), !is_vmr);
    const std::string role = row[Col(columns, "userRole")];
    if (is_vmr) {
      EXPECT_TRUE(role == "chairperson" || role == "participant") << role;
      chairs += role == "chairperson";
    } else {
      EXPECT_EQ(role, "");
    }
    const std::string failure = row[Col(columns, "failureSignalingCode")];
    EXPECT_EQ(failure.empty(), !call.failed());
    if (call.failed()) {
      ++failed;
      EXPECT_TRUE(std::regex_match(failure, std::regex(R"(\d{3}:[A-Z ]+)"))) << failure;
      EXPECT_EQ(row[Col(columns, "duration")], "0");
    }
    const Leg orig = e.workload->Originator(call), dest = e.workload->Destination(call);
    EXPECT_EQ(row[Col(columns, "origModel")], orig.device->model);
    EXPECT_EQ(row[Col(columns, "origVersion")], orig.device->version);
    EXPECT_EQ(row[Col(columns, "destModel")], dest.device->model);
    EXPECT_EQ(row[Col(columns, "destVersion")], dest.device->version);
  }
  EXPECT_GT(failed, 0);
  EXPECT_GT(vmr, 0);
  EXPECT_GT(chairs, 0);
}

TEST(CdrExportTest, RealValuesExerciseTheQuotingRule) {
  Export e = MakeExport(42, 14);
  // Departments with commas are quoted; the SIP From header's quotes doubled.
  EXPECT_NE(e.files.calls_csv.find(",\"Sales, EMEA\","), std::string::npos);
  EXPECT_NE(e.files.calls_csv.find(",\"\"\""), std::string::npos);  // a field starting with a quote
  EXPECT_NE(e.files.calls_csv.find("\"\" <sip:"), std::string::npos);
}

TEST(CdrExportTest, ConferencesMatchTheirCalls) {
  Export e = MakeExport(7, 7);
  auto rows = ParseCsv(e.files.conferences_csv);
  const auto& columns = ConferenceCsvColumns();
  ASSERT_EQ(rows.size(), e.meetings.size() + 1);
  EXPECT_EQ(rows[0], columns);
  ASSERT_GT(e.meetings.size(), 10u);
  std::map<std::string, std::vector<const Call*>> by_conf;
  for (const Call& c : e.calls)
    if (c.type == CallType::kVmr) by_conf[FormatUuid(c.conf_hi, c.conf_lo)].push_back(&c);
  int scheduled = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), columns.size());
    EXPECT_EQ(row[Col(columns, "type")], "CONF");
    const std::string conf_type = row[Col(columns, "confType")];
    EXPECT_TRUE(conf_type == "AD-HOC" || conf_type == "PCO") << conf_type;
    scheduled += conf_type == "PCO";
    EXPECT_NE(row[Col(columns, "userID")].find('\\'), std::string::npos);
    const std::string cos = row[Col(columns, "classOfService")];
    EXPECT_TRUE(cos == "GOLD" || cos == "SILVER" || cos == "BRONZE") << cos;
    // partCount is the most calls connected at once; maxResourcesUsed the
    // most ports, in the documented "video: <n> voice: <n>" form.
    const auto& calls = by_conf[row[Col(columns, "confUUID")]];
    ASSERT_FALSE(calls.empty());
    std::vector<std::tuple<int64_t, int, int>> edges;
    int64_t first = 0, last = 0;
    for (const Call* c : calls) {
      if (c->failed()) continue;
      edges.emplace_back(c->start_unix, 1, PortCost(*c));
      edges.emplace_back(c->key.end_unix, -1, -PortCost(*c));
      if (first == 0 || c->start_unix < first) first = c->start_unix;
      last = std::max(last, c->key.end_unix);
    }
    std::sort(edges.begin(), edges.end());
    int n = 0, ports = 0, max_n = 0, max_ports = 0;
    for (const auto& [t, dn, dp] : edges) {
      max_n = std::max(max_n, n += dn);
      max_ports = std::max(max_ports, ports += dp);
    }
    EXPECT_EQ(row[Col(columns, "partCount")], std::to_string(max_n));
    EXPECT_EQ(row[Col(columns, "maxResourcesUsed")], "video: " + std::to_string(max_ports) + " voice: 0");
    EXPECT_EQ(ParseRfc3339(row[Col(columns, "startTime")]), first);
    EXPECT_EQ(ParseRfc3339(row[Col(columns, "endTime")]), last);
  }
  EXPECT_GT(scheduled, 0);
}

TEST(CdrExportTest, SummaryNamesCountsAndClusters) {
  Export e = MakeExport(42, 2);
  EXPECT_EQ(e.files.summary, "Calls: " + std::to_string(e.calls.size()) + "\r\n" +
                                 "Conferences: " + std::to_string(e.meetings.size()) + "\r\n" +
                                 "Clusters included: dma-london\r\n" +
                                 "Clusters excluded (unreachable): none\r\n" +
                                 "Calls and conferences ending after: 1970-01-01T00:00:00.000+00:00\r\n" +
                                 "Calls and conferences ending before: 2026-12-04T16:00:01.000+00:00\r\n");
}

TEST(CdrExportTest, SummerTimesCarryTheSummerOffset) {
  Export e = MakeExport(5, 3, *ParseRfc3339("2026-07-15T12:00:00Z"));
  ASSERT_FALSE(e.calls.empty());
  auto rows = ParseCsv(e.files.calls_csv);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(rows[i][5].substr(23), "+01:00") << rows[i][5];
}

TEST(CdrExportTest, WindowIsHalfOpenAndCapped) {
  WorkloadOptions o;
  o.seed = 42;
  o.origin_unix = kOrigin;
  o.history_days = 3;
  auto w = std::move(Workload::Create(o)).value();
  auto all = w->HistoryCalls();
  ASSERT_GT(all.size(), 50u);
  const int64_t from = all[10].key.end_unix, to = all[40].key.end_unix;
  std::vector<Call> calls;
  std::vector<Meeting> meetings;
  ASSERT_TRUE(w->EndedInWindow(from, to, kOrigin, 1000, &calls, &meetings));
  ASSERT_FALSE(calls.empty());
  for (const Call& c : calls) {
    EXPECT_GE(c.key.end_unix, from);
    EXPECT_LT(c.key.end_unix, to);
  }
  size_t expected = static_cast<size_t>(std::count_if(all.begin(), all.end(), [&](const Call& c) {
    return c.key.end_unix >= from && c.key.end_unix < to;
  }));
  EXPECT_EQ(calls.size(), expected);
  for (const Meeting& m : meetings) {
    EXPECT_GE(m.last_leave, from);
    EXPECT_LT(m.last_leave, to);
  }
  // Consecutive windows tile: nothing twice, nothing lost.
  std::vector<Call> a, b;
  ASSERT_TRUE(w->EndedInWindow(0, from, kOrigin, 100000, &a, &meetings));
  ASSERT_TRUE(w->EndedInWindow(from, kOrigin + 1, kOrigin, 100000, &b, &meetings));
  EXPECT_EQ(a.size() + b.size(), all.size());
  // Too many calls for one export: refused, nothing returned.
  EXPECT_FALSE(w->EndedInWindow(0, kOrigin + 1, kOrigin, 10, &calls, &meetings));
}

TEST(CdrExportTest, ZipHoldsTheThreeFilesAndIsByteStable) {
  Export e = MakeExport(42, 2);
  auto zip = ZipCdrFiles(e.files, kOrigin, e.workload->ClusterZone());
  ASSERT_TRUE(zip.ok()) << zip.error().detail;
  EXPECT_EQ(zip->substr(0, 4), std::string("PK\x03\x04", 4));
  auto again = ZipCdrFiles(e.files, kOrigin, e.workload->ClusterZone());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*zip, *again);
  auto entries = UnzipAll(*zip);
  ASSERT_TRUE(entries.ok()) << entries.error().detail;
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].first, kCallsCsvName);
  EXPECT_EQ((*entries)[0].second, e.files.calls_csv);
  EXPECT_EQ((*entries)[1].first, kConferencesCsvName);
  EXPECT_EQ((*entries)[1].second, e.files.conferences_csv);
  EXPECT_EQ((*entries)[2].first, kSummaryName);
  EXPECT_EQ((*entries)[2].second, e.files.summary);
  // Compressed, not stored.
  EXPECT_LT(zip->size(), e.files.calls_csv.size() / 2);
  // A damaged ZIP is an error, not a crash.
  std::string broken = zip->substr(0, zip->size() / 2);
  EXPECT_FALSE(UnzipAll(broken).ok());
  EXPECT_FALSE(UnzipAll("not a zip").ok());
}

// An independent reader (Python's zipfile) accepts the archive and its CRCs.
TEST(CdrExportTest, PythonZipfileReadsTheArchive) {
  // scripts/install-deps installs python3: its absence is a broken set-up, not a reason to skip.
  ASSERT_EQ(::access("/usr/bin/python3", X_OK), 0) << "no /usr/bin/python3 (run scripts/install-deps)";
  Export e = MakeExport(42, 2);
  auto zip = ZipCdrFiles(e.files, kOrigin, e.workload->ClusterZone());
  ASSERT_TRUE(zip.ok());
  const auto path = std::filesystem::temp_directory_path() / ("devsim_cdr_" + std::to_string(::getpid()) + ".zip");
  {
    std::ofstream out(path, std::ios::binary);
    out << *zip;
  }
  const std::string cmd =
      "/usr/bin/python3 -c \"import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
      "assert z.testzip() is None; "
      "assert z.namelist() == ['calls.csv', 'conferences.csv', 'cdrExport.txt'], z.namelist(); "
      "assert z.getinfo('calls.csv').date_time == (2026, 12, 4, 16, 0, 0)\" " +
      path.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace parley::devsim
