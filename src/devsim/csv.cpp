#include "devsim/csv.h"

namespace parley::devsim {

std::string CsvField(std::string_view value) {
  bool quote = false;
  if (!value.empty()) {
    const char first = value.front(), last = value.back();
    quote = first == ' ' || first == '\t' || last == ' ' || last == '\t';
  }
  if (!quote) quote = value.find_first_of(",\"\r\n") != std::string_view::npos;
  if (!quote) return std::string(value);
  std::string out;
  out.reserve(value.size() + 2);
  out += '"';
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string CsvRow(const std::vector<std::string>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += CsvField(fields[i]);
  }
  out += "\r\n";
  return out;
}

}  // namespace parley::devsim
