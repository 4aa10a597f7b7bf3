#include "portal/analytics_routes.h"

#include <boost/json.hpp>
#include <cmath>

#include "analytics/analytics.h"
#include "common/time_format.h"

namespace parley::portal {

namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

// ?name=YYYY-MM-DD; nullopt when absent or empty.
Result<std::optional<std::chrono::year_month_day>> DateParam(const Request& r, const char* name) {
  auto v = r.Query(name);
  if (!v || v->empty()) return std::optional<std::chrono::year_month_day>();
  auto d = analytics::ParseDate(*v);
  if (!d) return InvalidArgument(std::string(name) + " must be a calendar date YYYY-MM-DD");
  return std::optional<std::chrono::year_month_day>(*d);
}

// Rounded for display; the sums behind them are exact.
json::value Num(const std::optional<double>& v, int decimals) {
  if (!v) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return std::round(*v * scale) / scale;
}

json::object RangeJson(const analytics::LocalRange& range, const std::string& time_zone) {
  return json::object{{"time_zone", time_zone},
                      {"from", analytics::FormatDate(range.from)},
                      {"to", analytics::FormatDate(range.to)},
                      {"start", FormatUtc(range.first_hour)},
                      {"end", FormatUtc(range.end_hour)}};
}

json::object BucketJson(const analytics::UsageBucket& b) {
  return json::object{{"start", FormatUtc(b.start)},
                      {"label", b.label},
                      {"calls", b.calls},
                      {"completed", b.completed},
                      {"failed", b.failed},
                      {"seconds", b.seconds},
                      {"minutes", std::round(static_cast<double>(b.seconds) / 6.0) / 10.0},
                      {"peak_concurrent", b.peak_concurrent}};
}

json::object FiguresJson(const analytics::QualityFigures& f) {
  return json::object{{"key", f.key},
                      {"calls", f.calls},
                      {"streams", f.streams},
                      {"measured", json::object{{"loss", f.loss_n}, {"jitter", f.jitter_n},
                                                {"latency", f.latency_n}, {"mos", f.mos_n}}},
                      {"loss_pct_avg", Num(f.loss_pct_avg, 2)},
                      {"jitter_ms_avg", Num(f.jitter_ms_avg, 1)},
                      {"latency_ms_avg", Num(f.latency_ms_avg, 1)},
                      {"mos_avg", Num(f.mos_avg, 2)},
                      {"jitter_ms_p50", Num(f.jitter_ms_p50, 1)},
                      {"jitter_ms_p95", Num(f.jitter_ms_p95, 1)},
                      {"latency_ms_p50", Num(f.latency_ms_p50, 1)},
                      {"latency_ms_p95", Num(f.latency_ms_p95, 1)},
                      {"poor_jitter_share", Num(f.poor_jitter_share, 4)},
                      {"poor_latency_share", Num(f.poor_latency_share, 4)},
                      {"poor_share", Num(f.poor_share, 4)}};
}

}  // namespace

Response AnalyticsUsage(store::Store& store, const Request& r, const std::string& tenant_id, int64_t now) {
  auto from = DateParam(r, "from");
  if (!from.ok()) return Response::FromError(from.error());
  auto to = DateParam(r, "to");
  if (!to.ok()) return Response::FromError(to.error());
  analytics::UsageRequest q;
  q.from = *from;
  q.to = *to;
  auto grain = r.Query("grain");
  if (grain && !grain->empty() && *grain != "day") {
    if (*grain != "hour") return Response::FromError(InvalidArgument("grain must be hour or day"));
    q.grain = analytics::Grain::kHour;
  }
  if (auto source = r.Query("source"); source && !source->empty()) {
    if (source->size() > 200) return Response::FromError(InvalidArgument("source is longer than 200 characters"));
    q.source = *source;
  }
  auto tenant = store.GetTenant(tenant_id);
  if (!tenant.ok()) return Response::FromError(tenant.error());
  auto report = analytics::Usage(store, *tenant, q, now);
  if (!report.ok()) return Response::FromError(report.error());

  json::array buckets;
  buckets.reserve(report->buckets.size());
  for (const auto& b : report->buckets) buckets.push_back(BucketJson(b));
  json::array sources;
  for (const auto& s : report->sources) sources.push_back(json::value(s));
  const auto& t = report->total;
  auto hour = [](const std::optional<analytics::UsageBucket>& b, const char* figure) -> json::value {
    if (!b) return nullptr;
    return json::object{{"start", FormatUtc(b->start)},
                        {"label", b->label},
                        {figure, std::string_view(figure) == "calls" ? b->calls : b->peak_concurrent}};
  };
  json::object kpis{
      {"calls", t.calls},
      {"completed", t.completed},
      {"failed", t.failed},
      {"completion_rate", t.calls > 0 ? json::value(std::round(10000.0 * static_cast<double>(t.completed) /
                                                               static_cast<double>(t.calls)) / 10000.0)
                                      : json::value(nullptr)},
      {"seconds", t.seconds},
      {"hours", std::round(static_cast<double>(t.seconds) / 36.0) / 100.0},
      {"busiest_hour", hour(report->busiest_hour, "calls")},
      {"peak_concurrent", t.peak_concurrent},
      {"peak_hour", hour(report->peak_hour, "peak_concurrent")},
  };
  json::object out = RangeJson(report->range, report->time_zone);
  out["grain"] = report->grain == analytics::Grain::kHour ? "hour" : "day";
  out["source"] = report->source ? json::value(*report->source) : json::value(nullptr);
  out["sources"] = std::move(sources);
  out["kpis"] = std::move(kpis);
  out["buckets"] = std::move(buckets);
  return Response::Json(200, json::serialize(out));
}

Response AnalyticsQuality(store::Store& store, const Request& r, const std::string& tenant_id, int64_t now) {
  auto from = DateParam(r, "from");
  if (!from.ok()) return Response::FromError(from.error());
  auto to = DateParam(r, "to");
  if (!to.ok()) return Response::FromError(to.error());
  analytics::QualityRequest q;
  q.from = *from;
  q.to = *to;
  std::string dimension = r.Query("dimension").value_or("");
  if (dimension.empty()) dimension = "site";
  if (dimension == "model") q.dimension = analytics::QualityDimension::kModel;
  else if (dimension == "source") q.dimension = analytics::QualityDimension::kSource;
  else if (dimension != "site") return Response::FromError(InvalidArgument("dimension must be site, model or source"));
  auto tenant = store.GetTenant(tenant_id);
  if (!tenant.ok()) return Response::FromError(tenant.error());
  auto report = analytics::Quality(store, *tenant, q, now);
  if (!report.ok()) return Response::FromError(report.error());

  json::array rows;
  for (const auto& f : report->rows) rows.push_back(FiguresJson(f));
  json::object total = FiguresJson(report->total);
  total.erase("key");
  json::object out = RangeJson(report->range, report->time_zone);
  out["dimension"] = dimension;
  out["thresholds"] = json::object{{"loss_pct", analytics::kPoor.loss_pct},
                                   {"jitter_ms", analytics::kPoor.jitter_ms},
                                   {"latency_ms", analytics::kPoor.latency_ms},
                                   {"mos", analytics::kPoor.mos}};
  out["total"] = std::move(total);
  out["rows"] = std::move(rows);
  return Response::Json(200, json::serialize(out));
}

}  // namespace parley::portal
