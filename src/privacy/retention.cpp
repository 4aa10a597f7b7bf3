#include "privacy/retention.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

namespace parley::privacy {
namespace {

constexpr int64_t kAuditPage = 1000;

int64_t MonthStart(std::chrono::year_month ym) {
  using namespace std::chrono;
  return duration_cast<seconds>(sys_days(ym / 1).time_since_epoch()).count();
}

}  // namespace

int64_t RetentionCutoff(int64_t now, int64_t months) {
  using namespace std::chrono;
  const year_month_day today(floor<days>(sys_seconds(seconds(now))));
  return MonthStart(year_month(today.year(), today.month()) - std::chrono::months(months));
}

std::optional<int64_t> ParseMonth(std::string_view text) {
  if (text.size() != 7 || text[4] != '-') return std::nullopt;
  int y = 0;
  unsigned m = 0;
  const char* end = text.data() + text.size();
  if (auto r = std::from_chars(text.data(), text.data() + 4, y); r.ec != std::errc() || r.ptr != text.data() + 4)
    return std::nullopt;
  if (auto r = std::from_chars(text.data() + 5, end, m); r.ec != std::errc() || r.ptr != end) return std::nullopt;
  const std::chrono::year_month ym{std::chrono::year(y), std::chrono::month(m)};
  if (!ym.ok() || y < 1970) return std::nullopt;
  return MonthStart(ym);
}

Result<store::RetentionResult> ApplyRetention(store::Store& store, AuditLog& audit, int64_t cutoff, bool dry_run,
                                              std::string_view actor) {
  if (dry_run) return store.CountRecordsBefore(cutoff);
  PARLEY_ASSIGN_OR_RETURN(store::RetentionResult r, store.DropRecordsBefore(cutoff));
  const bool deleted = r.calls + r.conferences + r.participants + r.quality_samples + r.search_terms + r.partitions > 0;
  if (deleted) {
    auto logged = audit.Append(store::kPlatformAuditChain, actor, audit_action::kRetention, "records",
                               audit_outcome::kSuccess,
                               boost::json::object{{"boundary", r.boundary},
                                                   {"calls", r.calls},
                                                   {"conferences", r.conferences},
                                                   {"participants", r.participants},
                                                   {"quality_samples", r.quality_samples},
                                                   {"search_terms", r.search_terms},
                                                   {"partitions", r.partitions}});
    if (!logged.ok()) return logged.error();
  }
  return r;
}

Result<int64_t> RecordedRetentionBoundary(store::Store& store) {
  const std::string chain(store::kPlatformAuditChain);
  int64_t boundary = 0;
  for (int64_t after = 0;;) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> page, store.ListAudit(chain, false, after, kAuditPage));
    for (const store::AuditEntry& e : page) {
      if (e.action != audit_action::kRetention) continue;
      boost::system::error_code ec;
      const boost::json::value details = boost::json::parse(e.details_json, ec);
      if (ec || !details.is_object()) continue;
      if (const boost::json::value* b = details.get_object().if_contains("boundary"); b != nullptr && b->is_int64())
        boundary = std::max(boundary, b->get_int64());
    }
    if (static_cast<int64_t>(page.size()) < kAuditPage) break;
    after = page.back().seq;
  }
  return boundary;
}

}  // namespace parley::privacy
