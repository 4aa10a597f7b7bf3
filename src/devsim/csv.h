// CSV as the DMA's CDR export writes it (domain.md 3.2): a value is wrapped
// in double quotes if it begins or ends with a space or tab, contains a comma,
// or contains a double quote (which is then doubled). We also quote values
// holding CR or LF (RFC 4180; the DMA documentation does not say), so a
// record never spans lines unquoted. Rows end with CRLF.
//
// Why our own code: Debian 12 ships no C++ CSV writer; libcsv (C) quotes every
// field unconditionally, which is not the DMA's rule, and libfccp only parses.
// The rule is a few lines, and csv_test.cpp pins every case.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parley::devsim {

// One field, quoted only when the rule above requires it.
std::string CsvField(std::string_view value);
// Fields joined with ',' and terminated with "\r\n".
std::string CsvRow(const std::vector<std::string>& fields);

}  // namespace parley::devsim
