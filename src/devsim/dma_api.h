// The emulated Poly RealPresence DMA REST API (call history), as an
// http::Handler: tests call it with a Request, no sockets involved.
//
// Routes (docs/devsim.md "API"):
//   GET /api/rest/calls?limit=1..1000&after=<token>
//       -> 200 application/vnd.plcm.plcm-call-list+json
//          {"plcm-call-list":{"plcm-call":[...]},"next":<token>|null}
//       Calls ascending by (endTime, callIdentifier), only those ended at or
//       before the clock's now, strictly after the `after` token. `next` is
//       the token of the page's last call, on every non-empty page (also the
//       last one), and null only for an empty page: a client stores it and
//       resumes from it later. The path and the paging are OUR GUESS: the DMA
//       documents neither (domain.md 3.1).
//   GET /api/rest/calls/count -> 200 {"count": N}
// Every request needs HTTP Basic credentials (401 + WWW-Authenticate
// otherwise); an Accept header that admits no JSON gets 406; malformed
// parameters get 400 {"error":"invalid_argument","detail":...}; other paths
// 404, other methods 405.
//
// Thread-safety: the handler may run on several threads at once (the
// Workload locks internally). `workload` and `clock` must outlive it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "devsim/workload.h"
#include "http/http.h"

namespace parley::devsim {

struct Credentials {
  std::string user;
  std::string password;
};

inline constexpr std::string_view kCallListMediaType = "application/vnd.plcm.plcm-call-list+json";
inline constexpr size_t kDefaultPageLimit = 100;
inline constexpr size_t kMaxPageLimit = 1000;

// Page token "<endTime unix seconds>.<callIdentifier>": the key of the last
// call of a page. Clients should treat it as opaque; it is documented so an
// agent can rebuild it from the last call it stored.
std::string EncodePageToken(const CallKey& key);
std::optional<CallKey> DecodePageToken(std::string_view token);

http::Handler MakeDmaHandler(Workload& workload, const Clock& clock, Credentials credentials);

}  // namespace parley::devsim
