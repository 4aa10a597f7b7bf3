// parley-rollup-bench: the dashboard queries at scale (issue 4, part b).
//
// Fills one tenant with --calls calls spread over the year 2025 through
// Store::CommitBatch (batches of --batch calls, rollups maintained as in
// production), then times the queries the dashboards make through the Store
// interface (ListRollups, ListHourlyPeaks; --reps repetitions, p50/p99) and
// the same aggregates computed by a full scan of the raw calls in the same
// engine (SQL GROUP BY over calls; --scan-reps repetitions). Writes one JSON
// object to --out. Run by bench/rollup_queries.py (`make bench`); see
// docs/performance.md.
//
//   parley-rollup-bench --store sqlite:/tmp/x.db --calls 10000000 --out r.json
//   parley-rollup-bench --store postgresql://app@... --migrate-url postgresql://owner@...
//                       --scan-url postgresql://app@... --calls 2000000 --out r.json
#include <sqlite3.h>
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "store/store.h"

namespace {

using parley::store::Store;
namespace st = parley::store;
using Clock = std::chrono::steady_clock;

constexpr int64_t kYearStart = 1735689600;  // 2025-01-01T00:00:00Z
constexpr int64_t kYearEnd = kYearStart + 365 * 86400;
constexpr const char* kTenant = "bench";
constexpr const char* kAgent = "bench-agent";

struct Options {
  std::string store_url, migrate_url, scan_url, out;
  int64_t calls = 1'000'000;
  int64_t batch = 5000;
  int64_t pii_bytes = 243;  // the mean sealed blob of devsim calls as Parley stores them
  int reps = 200;
  int scan_reps = 3;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "parley-rollup-bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename R>
auto Must(R r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().detail);
  if constexpr (!std::is_same_v<R, parley::Status>) return std::move(r).value();
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// A call of the synthetic workload: deterministic from its index, starts in
// index order over the year (as an agent ships them), 4 sources, 20 sites,
// 8 models, 95% completed, two audio quality samples (one per end) and a
// sealed-blob stand-in of the size Parley stores.
st::StoredCall MakeCall(int64_t i, int64_t n, std::mt19937_64& rng, const std::string& blob) {
  static const char* kStatus[] = {"completed", "failed"};
  st::StoredCall c;
  const double spacing = static_cast<double>(kYearEnd - kYearStart - 4 * 3600) / static_cast<double>(n);
  c.source = "dma-" + std::to_string(i % 4 + 1);
  c.call_id = "call-" + std::to_string(i);
  c.start_at = kYearStart + static_cast<int64_t>(spacing * static_cast<double>(i)) +
               static_cast<int64_t>(rng() % std::max<uint64_t>(1, static_cast<uint64_t>(spacing)));
  c.duration_s = 60 + static_cast<int64_t>(rng() % 3540);
  c.end_at = c.start_at + c.duration_s + 5;
  c.status = kStatus[rng() % 20 == 0 ? 1 : 0];
  if (c.status == std::string("failed")) c.duration_s = 0;
  c.protocol = "sip";
  c.call_type = "video";
  c.cause = "normal";
  c.bitrate_kbps = 1920;
  c.orig_site = "site-" + std::to_string(rng() % 20);
  c.dest_site = "site-" + std::to_string(rng() % 20);
  c.orig_model = "model-" + std::to_string(rng() % 8);
  c.dest_model = "model-" + std::to_string(rng() % 8);
  c.orig_version = c.dest_version = "10.2.1";
  c.pii_sealed = blob;
  if (c.status == std::string("completed")) {
    for (const char* party : {"orig", "dest"}) {
      st::QualitySample q;
      q.party = party;
      q.direction = "rx";
      q.media = "audio";
      q.codec = "opus";
      q.bitrate_kbps = 64;
      q.packet_loss_pct_avg = static_cast<double>(rng() % 300) / 100.0;
      q.jitter_ms_avg = static_cast<double>(rng() % 4000) / 100.0;
      q.latency_ms_avg = 20 + static_cast<double>(rng() % 20000) / 100.0;
      q.mos = 3.0 + static_cast<double>(rng() % 150) / 100.0;
      c.quality.push_back(std::move(q));
    }
  }
  return c;
}

boost::json::object Fill(Store& store, const Options& o) {
  // Already there when an earlier run filled the same database.
  st::Tenant tenant;
  tenant.id = kTenant;
  tenant.name = "bench";
  tenant.wrapped_data_key = "k";
  tenant.created_at = kYearStart;
  (void)store.CreateTenant(tenant);
  st::Agent agent;
  agent.id = kAgent;
  agent.tenant_id = kTenant;
  agent.name = "bench";
  agent.cert_fingerprint = "fp-bench";
  agent.created_at = kYearStart;
  (void)store.CreateAgent(agent);
  const int64_t have = Must(store.CountCalls(kTenant, std::nullopt), "CountCalls");
  boost::json::object out{{"calls_before", have}};
  if (have >= o.calls) return out;  // a filled database from an earlier run
  std::mt19937_64 rng(42);
  std::string blob(static_cast<size_t>(o.pii_bytes), '\0');
  for (char& ch : blob) ch = static_cast<char>(rng());
  const auto t0 = Clock::now();
  double commit_ms = 0;
  for (int64_t first = have; first < o.calls; first += o.batch) {
    st::BatchCommit b;
    b.tenant_id = kTenant;
    b.agent_id = kAgent;
    b.batch_id = "fill-" + std::to_string(first);
    b.digest = "sha-256=:bench:";
    b.received_at = kYearEnd;
    for (int64_t i = first; i < std::min(o.calls, first + o.batch); ++i) b.calls.push_back(MakeCall(i, o.calls, rng, blob));
    const auto c0 = Clock::now();
    Must(store.CommitBatch(b), "CommitBatch");
    commit_ms += Ms(Clock::now() - c0);
    if ((first / o.batch) % 100 == 0)
      std::fprintf(stderr, "filled %lld calls, %.0f calls/s\n", static_cast<long long>(first + o.batch),
                   static_cast<double>(first + o.batch - have) / (Ms(Clock::now() - t0) / 1000));
  }
  const double total_ms = Ms(Clock::now() - t0);
  out["calls_filled"] = o.calls - have;
  out["fill_seconds"] = total_ms / 1000;
  out["commit_seconds"] = commit_ms / 1000;
  out["fill_calls_per_second"] = static_cast<double>(o.calls - have) / (commit_ms / 1000);
  out["batch_calls"] = o.batch;
  return out;
}

boost::json::object Percentiles(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[static_cast<size_t>(std::ceil(q * static_cast<double>(ms.size()))) - 1]; };
  return {{"n", ms.size()}, {"p50_ms", at(0.5)}, {"p99_ms", at(0.99)}, {"max_ms", ms.back()}};
}

// Runs `query` `reps` times (after one warm-up run); returns the timings and
// the size of the last answer.
// The calling thread's CPU time in ms: on a shared machine wall-clock
// percentiles include time spent waiting for a core, this does not (the
// engine runs in this thread for SQLite; for PostgreSQL it is the client's
// share only).
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

boost::json::object Time(int reps, const std::function<size_t()>& query) {
  size_t rows = query();
  std::vector<double> ms, cpu_ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    const double c0 = ThreadCpuMs();
    rows = query();
    cpu_ms.push_back(ThreadCpuMs() - c0);
    ms.push_back(Ms(Clock::now() - t0));
  }
  boost::json::object o = Percentiles(ms);
  boost::json::object cpu = Percentiles(cpu_ms);
  o["cpu_p50_ms"] = cpu["p50_ms"];
  o["cpu_p99_ms"] = cpu["p99_ms"];
  o["rows"] = rows;
  return o;
}

// The dashboard queries, through the Store interface, each returning what a
// dashboard shows (so the client-side merging is timed too).
std::map<std::string, std::function<size_t()>> StoreQueries(Store& store) {
  // As the portal asks: usage views without the media quality.
  auto rollups = [&store](st::RollupGrain grain, st::RollupDimension dim, bool with_quality) {
    st::RollupQuery q;
    q.grain = grain;
    q.dimension = dim;
    q.with_quality = with_quality;
    q.from = kYearStart;
    q.to = kYearEnd;
    return Must(store.ListRollups(kTenant, q), "ListRollups");
  };
  return {
      {"calls_minutes_per_hour", [=] { return rollups(st::RollupGrain::kHour, st::RollupDimension::kTenant, false).size(); }},
      {"calls_minutes_per_day", [=] { return rollups(st::RollupGrain::kDay, st::RollupDimension::kTenant, false).size(); }},
      {"daily_peak_concurrency",
       [&store] {
         std::map<int64_t, int64_t> daily;
         for (const st::HourlyPeak& h : Must(store.ListHourlyPeaks(kTenant, "", kYearStart, kYearEnd), "Peaks")) {
           int64_t& d = daily[h.hour - h.hour % 86400];
           d = std::max(d, h.peak);
         }
         return daily.size();
       }},
      {"quality_per_site",
       [=] {
         std::map<std::string, st::QualityAggregate> sites;
         for (const st::RollupRow& r : rollups(st::RollupGrain::kDay, st::RollupDimension::kSite, true))
           sites[r.key].Merge(r.usage.quality);
         return sites.size();
       }},
  };
}

// The same aggregates from the raw calls (and their quality samples), in
// SQL both engines run. Minutes count at the call's start hour/day (the
// rollups split them over the buckets they fall in): the scan does less.
std::map<std::string, std::string> ScanQueries(const std::string& tenant_filter) {
  const std::string where = " WHERE " + tenant_filter + " AND start_at >= " + std::to_string(kYearStart) +
                            " AND start_at < " + std::to_string(kYearEnd);
  auto per = [&](int64_t step) {
    const std::string b = "start_at - start_at % " + std::to_string(step);
    return "SELECT " + b + " AS b, count(*), sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END), sum(duration_s)" +
           " FROM calls" + where + " GROUP BY " + b + " ORDER BY 1";
  };
  return {
      {"calls_minutes_per_hour", per(3600)},
      {"calls_minutes_per_day", per(86400)},
      {"daily_peak_concurrency",
       "WITH ev AS (SELECT start_at / 60 AS m, 1 AS d FROM calls" + where +
           " AND status = 'completed' UNION ALL SELECT end_at / 60 + 1, -1 FROM calls" + where +
           " AND status = 'completed'), per_minute AS (SELECT m, sum(d) AS d FROM ev GROUP BY m),"
           " level AS (SELECT m, sum(d) OVER (ORDER BY m) AS n FROM per_minute)"
           " SELECT m / 1440, max(n) FROM level GROUP BY m / 1440 ORDER BY 1"},
      {"quality_per_site",
       "SELECT CASE WHEN q.party = 'dest' THEN c.dest_site ELSE c.orig_site END AS site,"
       " avg(q.packet_loss_pct_avg), avg(q.jitter_ms_avg), avg(q.latency_ms_avg), avg(q.mos), count(*)"
       " FROM calls c JOIN quality_samples q ON q.tenant_id = c.tenant_id AND q.source = c.source"
       " AND q.record_kind = 'call' AND q.record_id = c.call_id" +
           std::string(" WHERE c.tenant_id = '") + kTenant + "' AND c.start_at >= " + std::to_string(kYearStart) +
           " AND c.start_at < " + std::to_string(kYearEnd) + " GROUP BY 1 ORDER BY 1"},
  };
}

// A raw connection to the same database, for the full scans.
class RawDb {
 public:
  RawDb(const std::string& sqlite_path_or_pg_url, bool pg, bool as_tenant = true) {
    if (pg) {
      pg_ = PQconnectdb(sqlite_path_or_pg_url.c_str());
      if (PQstatus(pg_) != CONNECTION_OK) Die(std::string("scan connection: ") + PQerrorMessage(pg_));
      // The application role sees the tenant's rows through row-level
      // security, as the server does.
      if (as_tenant) Rows(std::string("SELECT set_config('parley.tenant_id', '") + kTenant + "', false)");
    } else if (sqlite3_open_v2(sqlite_path_or_pg_url.c_str(), &lite_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      Die("cannot open " + sqlite_path_or_pg_url);
    }
  }
  ~RawDb() {
    if (pg_) PQfinish(pg_);
    if (lite_) sqlite3_close(lite_);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Runs `sql` and reads every row; returns how many.
  size_t Rows(const std::string& sql) {
    if (pg_) {
      PGresult* r = PQexec(pg_, sql.c_str());
      const ExecStatusType status = PQresultStatus(r);
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) Die(std::string("scan: ") + PQerrorMessage(pg_));
      const size_t n = static_cast<size_t>(PQntuples(r));
      PQclear(r);
      return n;
    }
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(lite_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) Die(sqlite3_errmsg(lite_));
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) ++n;
    if (rc != SQLITE_DONE) Die(sqlite3_errmsg(lite_));
    sqlite3_finalize(s);
    return n;
  }

 private:
  PGconn* pg_ = nullptr;
  sqlite3* lite_ = nullptr;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--store") o.store_url = v;
    else if (k == "--migrate-url") o.migrate_url = v;
    else if (k == "--scan-url") o.scan_url = v;
    else if (k == "--out") o.out = v;
    else if (k == "--calls") o.calls = std::stoll(v);
    else if (k == "--batch") o.batch = std::stoll(v);
    else if (k == "--pii-bytes") o.pii_bytes = std::stoll(v);
    else if (k == "--reps") o.reps = std::stoi(v);
    else if (k == "--scan-reps") o.scan_reps = std::stoi(v);
    else Die("unknown option " + k);
  }
  if (o.store_url.empty() || o.out.empty()) Die("usage: --store URL --out FILE [--calls N] [see bench/rollup_queries.py]");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = Parse(argc, argv);
  const bool pg = o.store_url.rfind("postgres", 0) == 0;
  auto store = Must(st::OpenStore(o.store_url, {.migrate_url = o.migrate_url}), "OpenStore");
  boost::json::object result{{"backend", pg ? "postgresql" : "sqlite"}, {"calls", o.calls}};
  result["fill"] = Fill(*store, o);
  if (pg && !o.migrate_url.empty()) {
    // Statistics for both sides, as autovacuum would have gathered them on a
    // server that grew over a year: a fast fill outruns it, and a full scan
    // planned without statistics measures the planner's guess, not the scan
    // (a 100k-call run spent more than 10 minutes in one). Only the owner
    // may ANALYZE (PostgreSQL 15).
    const auto a0 = Clock::now();
    RawDb(o.migrate_url, true, /*as_tenant=*/false)
        .Rows("ANALYZE calls, quality_samples, rollup_hour, rollup_day, concurrency_hour, concurrency_minute");
    result["analyze_seconds"] = Ms(Clock::now() - a0) / 1000;
  }

  boost::json::object queries;
  for (const auto& [name, query] : StoreQueries(*store)) {
    std::fprintf(stderr, "store query %s\n", name.c_str());
    queries[name].emplace_object()["store"] = Time(o.reps, query);
  }
  if (o.scan_reps == 0) {  // queries only (bench/rollup_queries.py --scans-from)
    result["queries"] = std::move(queries);
    std::ofstream(o.out) << boost::json::serialize(result) << "\n";
    return 0;
  }
  RawDb raw(pg ? (o.scan_url.empty() ? o.store_url : o.scan_url) : o.store_url.substr(std::string("sqlite:").size()), pg);
  for (const auto& [name, sql] : ScanQueries(std::string("tenant_id = '") + kTenant + "'")) {
    std::fprintf(stderr, "full scan %s\n", name.c_str());
    boost::json::object scan = Time(o.scan_reps, [&raw, &sql] { return raw.Rows(sql); });
    scan["sql"] = sql;
    boost::json::object& q = queries[name].as_object();
    q["speedup_p50"] = scan["p50_ms"].as_double() / q["store"].as_object()["p50_ms"].as_double();
    q["full_scan"] = std::move(scan);
  }
  result["queries"] = std::move(queries);
  std::ofstream(o.out) << boost::json::serialize(result) << "\n";
  std::printf("%s\n", boost::json::serialize(result).c_str());
  return 0;
}
