// The DMA's CDR export (domain.md 3.2): a ZIP, `cdrExport.zip`, holding one
// CSV of calls, one CSV of conferences and a text file with the counts and
// the clusters included and excluded. Times are
// `YYYY-MM-DDTHH:MM:SS.FFF±HH:MM` in the DMA cluster's zone (the HQ's), so
// startTime and endTime can carry different offsets across a DST change.
// Column lists and what we chose where the documentation has gaps:
// docs/devsim.md "CDR export".
//
// The ZIP is written by libzip (Debian libzip-dev): never by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "devsim/workload.h"

namespace parley::devsim {

inline constexpr std::string_view kCdrZipName = "cdrExport.zip";
inline constexpr std::string_view kCallsCsvName = "calls.csv";
inline constexpr std::string_view kConferencesCsvName = "conferences.csv";
inline constexpr std::string_view kSummaryName = "cdrExport.txt";
inline constexpr std::string_view kCdrVersion = "10.0";  // the `version` column (our choice)

// Header rows (column names in order).
const std::vector<std::string>& CallCsvColumns();
const std::vector<std::string>& ConferenceCsvColumns();

// One data row each, without the line end (values not yet quoted).
std::vector<std::string> CallCsvFields(const Workload& workload, const Call& call);
std::vector<std::string> ConferenceCsvFields(const Workload& workload, const Meeting& meeting);

struct CdrFiles {
  std::string calls_csv;        // header + one row per call, CRLF line ends
  std::string conferences_csv;  // header + one row per conference
  std::string summary;          // counts and clusters, CRLF line ends
};

// The three files for calls and conferences ended in [ended_after, ended_before).
CdrFiles RenderCdrFiles(const Workload& workload, const std::vector<Call>& calls,
                        const std::vector<Meeting>& meetings, int64_t ended_after, int64_t ended_before);

// The ZIP (deflate) of the three files; entries carry `stamp_unix` as their
// modification time in `zone` (ZIP times are local), so the bytes depend
// only on the inputs.
Result<std::string> ZipCdrFiles(const CdrFiles& files, int64_t stamp_unix, const TimeZone& zone);

// Every entry of a ZIP as (name, content), CRCs checked. For tests and tools.
Result<std::vector<std::pair<std::string, std::string>>> UnzipAll(std::string_view zip);

}  // namespace parley::devsim
