// The dashboard routes (docs/api.md, "Analytics"): GET /api/v1/analytics/usage
// and GET /api/v1/analytics/quality. They parse the query, call
// analytics/analytics.h and shape its figures as JSON; the route table in
// portal.cpp authorizes the caller first (any role of the tenant: rollups hold
// no personal data).
#pragma once

#include <cstdint>
#include <string>

#include "http/http.h"
#include "store/store.h"

namespace parley::portal {

// ?from=YYYY-MM-DD&to=YYYY-MM-DD&grain=hour|day&source=S
http::Response AnalyticsUsage(store::Store& store, const http::Request& r, const std::string& tenant_id, int64_t now);
// ?from=YYYY-MM-DD&to=YYYY-MM-DD&dimension=site|model|source
http::Response AnalyticsQuality(store::Store& store, const http::Request& r, const std::string& tenant_id,
                                int64_t now);

}  // namespace parley::portal
