// RFC 3339 / ISO 8601 timestamps in UTC ("2026-12-04T16:26:16Z").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

// Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ".
std::string FormatUtc(int64_t unix_seconds);

// Parses "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)" into Unix seconds (fraction
// dropped). Returns nullopt on anything else.
std::optional<int64_t> ParseRfc3339(std::string_view text);

}  // namespace parley
