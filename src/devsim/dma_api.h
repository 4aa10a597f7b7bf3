// The emulated Poly RealPresence DMA REST API, as an http::Handler: tests
// call it with a Request, no sockets involved. Shapes, field by field:
// docs/devsim.md "DMA API".
//
// Routes (all GET, all behind HTTP Basic, realm "DMA"):
//   /api/rest/calls?limit=1..1000&after=<token>
//       -> 200 application/vnd.plcm.plcm-call-list+json
//          {"plcm-call-list":{"plcm-call":[...]},"next":<token>|null}
//       Calls ascending by (endTime, callIdentifier), only those ended at or
//       before the clock's now, strictly after the `after` token. `next` is
//       the token of the page's last call, on every non-empty page (also the
//       last one), and null only for an empty page: a client stores it and
//       resumes from it later. The path and the paging are OUR GUESS: the DMA
//       documents neither (domain.md 3.1).
//   /api/rest/calls/count -> 200 {"count": N}
//   /api/rest/active-calls[?site=&protocol=&sort-key=]
//       -> application/vnd.plcm.plcm-active-call-list+json (PlcmActiveCallV3)
//   /api/rest/conferences -> …plcm-conference-list+json (active, PlcmConferenceV3)
//   /api/rest/conferences/usage -> …plcm-conference-usage+json (ports in use vs licensed)
//   /api/rest/devices -> …plcm-device-list+json (registered devices, PlcmDevice)
//   /api/rest/cdr-export?ended-after=&ended-before= -> application/zip,
//       cdrExport.zip (calls.csv, conferences.csv, cdrExport.txt); one at a
//       time (503 + Retry-After while another runs). The path is OUR CHOICE.
// Lists carry an ETag; If-None-Match with it -> 304. An Accept header that
// admits no acceptable type gets 406; malformed parameters 400
// {"error":"invalid_argument","detail":...}; other paths 404, other methods
// 405. Fault flags: api_options.h.
//
// Thread-safety: the handler may run on several threads at once (the
// Workload locks internally). `workload` and `clock` must outlive it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "devsim/api_options.h"
#include "devsim/workload.h"
#include "http/http.h"

namespace parley::devsim {

inline constexpr std::string_view kCallListMediaType = "application/vnd.plcm.plcm-call-list+json";
inline constexpr std::string_view kActiveCallListMediaType = "application/vnd.plcm.plcm-active-call-list+json";
inline constexpr std::string_view kConferenceListMediaType = "application/vnd.plcm.plcm-conference-list+json";
inline constexpr std::string_view kConferenceUsageMediaType = "application/vnd.plcm.plcm-conference-usage+json";
inline constexpr std::string_view kDeviceListMediaType = "application/vnd.plcm.plcm-device-list+json";
inline constexpr std::string_view kZipMediaType = "application/zip";
inline constexpr size_t kDefaultPageLimit = 100;
inline constexpr size_t kMaxPageLimit = 1000;
inline constexpr size_t kMaxExportCalls = 100000;  // per CDR export (our choice)
inline constexpr int kExportBusyRetryAfterS = 5;

// Page token "<end unix seconds>.<uuid>": the key of the last item of a
// page (a call; for RPRM also an endpoint CDR or a conference). Clients
// should treat it as opaque; it is documented so an agent can rebuild it from
// the last item it stored.
std::string EncodePageToken(const CallKey& key);
std::optional<CallKey> DecodePageToken(std::string_view token);

// With prerender_history, each history call's entry of the call list is
// serialized here, once, and pages are put together from those (the same
// bytes): for benchmarks, so that serving the history costs devsim little of
// the CPU it shares with the system it feeds (~1 KB of memory per call).
http::Handler MakeDmaHandler(Workload& workload, const Clock& clock, Credentials credentials,
                             ApiOptions options = {}, bool prerender_history = false);

}  // namespace parley::devsim
