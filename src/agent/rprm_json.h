// The JSON resources of a Poly RealPresence Resource Manager that the rprm
// collector reads, and their mapping to wire records (docs/agent.md "The rprm
// source"). Field names follow RPRM's CDR beans and device details
// (domain.md 3.3); the REST paths, the paging (limit/after/next like
// parley-devsim's DMA history) and the list wrappers are our assumption,
// aligned with parley-devsim (docs/devsim.md).
//
// A page: {"<list>": {"<item>": [ ... ] | { ... }}, "next": "<token>" | null}.
//
// Pure functions over untrusted input; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "wire/wire.h"

namespace parley::agent {

struct RprmResource {
  std::string_view path;
  std::string_view media_type;
  std::string_view list_key;
  std::string_view item_key;
};
inline constexpr RprmResource kRprmDevices{"/api/rest/device-inventory",
                                           "application/vnd.plcm.plcm-device-inventory-list+json",
                                           "plcm-device-inventory-list", "plcm-device-inventory"};
inline constexpr RprmResource kRprmEndpointCdrs{"/api/rest/endpoint-usage-cdrs",
                                                "application/vnd.plcm.plcm-endpoint-usage-cdr-list+json",
                                                "plcm-endpoint-usage-cdr-list", "plcm-endpoint-usage-cdr"};
inline constexpr RprmResource kRprmConferenceCdrs{"/api/rest/conference-usage-cdrs",
                                                  "application/vnd.plcm.plcm-conference-usage-cdr-list+json",
                                                  "plcm-conference-usage-cdr-list", "plcm-conference-usage-cdr"};

struct RprmSkip {
  std::string id;  // may be empty
  std::string reason;
};

template <typename T>
struct RprmPage {
  std::vector<T> records;
  std::vector<RprmSkip> skipped;
  std::optional<std::string> next;
  size_t items = 0;
};

// "2026-12-04T09:00:00Z" / "...+01:00" (a full time), or a date plus a time
// of day ("2026-12-04" + "09:00:00", taken as UTC unless the time carries an
// offset: our assumption) -> Unix seconds. Endpoint CDRs carrying
// startDateTime/endDateTime (with offset) are read from those instead.
std::optional<int64_t> ParseRprmTime(std::string_view date, std::string_view time);

Result<RprmPage<wire::DeviceRecord>> ParseRprmDevices(std::string_view json, const std::string& source,
                                                      int64_t observed_at);
Result<RprmPage<wire::ParticipantRecord>> ParseRprmEndpointCdrs(std::string_view json, const std::string& source);
Result<RprmPage<wire::ConferenceRecord>> ParseRprmConferenceCdrs(std::string_view json, const std::string& source);

}  // namespace parley::agent
