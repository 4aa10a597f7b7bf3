// The JSON resources of a Poly RealPresence DMA's REST API that the dma
// collector reads, and their mapping to wire records (docs/agent.md "The dma
// source"). Polycom's JSON comes from XML: a list is an object holding one
// key whose value is an array of items, or a single item object when the
// list has one entry; both are accepted, absent means empty.
//
// Pure functions over untrusted input: a malformed document is an error
// value, an item that cannot be mapped is skipped with its identifier and a
// reason free of personal data. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "wire/wire.h"

namespace parley::agent {

inline constexpr std::string_view kDmaCallListMediaType = "application/vnd.plcm.plcm-call-list+json";
inline constexpr std::string_view kDmaDeviceListMediaType = "application/vnd.plcm.plcm-device-list+json";
inline constexpr std::string_view kDmaActiveCallListMediaType = "application/vnd.plcm.plcm-active-call-list+json";
inline constexpr std::string_view kDmaConferenceListMediaType = "application/vnd.plcm.plcm-conference-list+json";

struct DmaSkip {
  std::string call_id;  // the item's identifier; may be empty when it had none
  std::string reason;
};

// ------------------------------------------------ call history (/api/rest/calls)

struct DmaPage {
  std::vector<wire::CallRecord> records;
  std::vector<DmaSkip> skipped;
  std::optional<std::string> next;
  size_t items = 0;  // calls in the page, mapped or not
};

// "HH:MM:SS" (hours may exceed 24) -> seconds; nullopt if malformed.
std::optional<int64_t> ParseDmaDuration(std::string_view text);

// Parses one plcm-call-list page and maps each call to a CallRecord for
// `source`. Fails only when the page itself is malformed; a call that cannot
// be mapped is listed in `skipped` with its callIdentifier and the reason.
Result<DmaPage> ParseDmaCallList(std::string_view json, const std::string& source);

// ------------------------------------------------ devices (/api/rest/devices)

struct DmaDeviceList {
  std::vector<wire::DeviceRecord> devices;  // in document order
  std::vector<DmaSkip> skipped;
  size_t items = 0;
};

// plcm-device-list -> DeviceRecords observed at `observed_at` (Unix s).
Result<DmaDeviceList> ParseDmaDeviceList(std::string_view json, const std::string& source, int64_t observed_at);

// ------------------------------------------- active calls (/api/rest/active-calls)

struct DmaActiveCalls {
  size_t calls = 0;      // items in the snapshot
  size_t malformed = 0;  // items without callIdentifier or not objects
};
Result<DmaActiveCalls> ParseDmaActiveCalls(std::string_view json);

// ---------------------------------------------- conferences (/api/rest/conferences)

struct DmaLiveConference {
  std::string id;   // conferenceIdentifier
  std::string mcu;  // mcuName (the hub MCU when cascaded)
  std::string room; // conferenceRoomIdentifier or dialInNumber
};
struct DmaConferences {
  std::vector<DmaLiveConference> conferences;
  size_t malformed = 0;
};
Result<DmaConferences> ParseDmaConferences(std::string_view json);

}  // namespace parley::agent
