// The emulated Poly RealPresence Resource Manager (RPRM), on its own HTTPS
// port, as an http::Handler. Every path and JSON shape here is OUR
// ASSUMPTION modelled on the field names public sources show (domain.md
// 3.3: the UI's device details, the legacy JDeviceManager getters, the CDR
// beans EndpointUsageCdr and ConferenceUsageCdr); docs/devsim.md "RPRM API"
// marks, field by field, what is vendor-documented.
//
// Routes (all GET, HTTP Basic, realm "RPRM"), each a paged list with
// ?limit=1..1000&after=<token> and {"<list>":{"<item>":[...]},"next":...}
// where `next` is the last item's token on every non-empty page and null
// only for an empty page (the DMA call history's rule):
//   /api/rest/device-inventory      token: the last deviceId ("1042");
//       devices ascend by deviceId, which ascends in order of deployment
//   /api/rest/endpoint-usage-cdrs   token: "<end unix>.<cdrId>"; one CDR per
//       call per RPRM-managed (Poly) endpoint, with media quality
//   /api/rest/conference-usage-cdrs token: "<end unix>.<conferenceId>";
//       scheduled conferences once over, scheduled vs actual times
// Lists carry an ETag (If-None-Match -> 304); Accept, errors and fault flags
// as for the DMA (dma_api.h, api_options.h).
//
// Thread-safety: as MakeDmaHandler.
#pragma once

#include <string_view>

#include "common/clock.h"
#include "devsim/api_options.h"
#include "devsim/workload.h"
#include "http/http.h"

namespace parley::devsim {

inline constexpr std::string_view kInventoryMediaType = "application/vnd.plcm.plcm-device-inventory-list+json";
inline constexpr std::string_view kEndpointUsageMediaType = "application/vnd.plcm.plcm-endpoint-usage-cdr-list+json";
inline constexpr std::string_view kConferenceUsageCdrMediaType =
    "application/vnd.plcm.plcm-conference-usage-cdr-list+json";

http::Handler MakeRprmHandler(Workload& workload, const Clock& clock, Credentials credentials,
                              ApiOptions options = {});

}  // namespace parley::devsim
