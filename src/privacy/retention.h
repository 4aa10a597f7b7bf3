// Record retention: call detail records older than a number of whole months
// are deleted from the store, for every tenant at once (store.retention_months,
// applied by `parley serve` at start and daily; `parley retention apply` by
// hand; docs/operations.md, "Retention"). Rollups stay (store::RetentionResult
// says why). Each run that deleted something is recorded on the platform
// audit chain as data.retention, with counts and the boundary only.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.h"
#include "privacy/audit.h"
#include "store/store.h"

namespace parley::privacy {

// The first second (UTC) of the month `months` months before the month of
// `now`: records that started before it expire. On 2026-12-05 with 13
// months: 2025-11-01, so the 13 whole months before December and December
// so far are kept. REQUIRES: months >= 1.
int64_t RetentionCutoff(int64_t now, int64_t months);

// "YYYY-MM" → the first second of that month (UTC); nullopt otherwise.
std::optional<int64_t> ParseMonth(std::string_view text);

// Deletes (or, with dry_run, only counts) the records that started before
// the month boundary at or before `cutoff` (store::Store::DropRecordsBefore).
// A run that deleted rows or partitions is audited on the platform chain,
// actor `actor`; a failed audit append is an error after the deletion (the
// counts are lost to the caller, not the deletion).
Result<store::RetentionResult> ApplyRetention(store::Store& store, AuditLog& audit, int64_t cutoff, bool dry_run,
                                              std::string_view actor);

// The newest boundary any retention run recorded on the platform audit
// chain, 0 when there was none: rollups before it have no raw records left
// to be checked against (`parley rollups verify`).
Result<int64_t> RecordedRetentionBoundary(store::Store& store);

}  // namespace parley::privacy
