// Building batches and bounding how many exist.
//
// BuildBatch turns one collected page into the NDJSON body of one
// POST /ingest/v1/batches: the call records (wire::SerializeCall), then one
// cursor line (wire::SerializeCursor) carrying the page's next cursor, so the
// server stores records and cursor in one transaction. Each record is checked
// with the server's own validator first (wire::CheckRecord: ParseBatch's
// field readers): a record the server would refuse would make it refuse the
// whole batch forever, so it is left out instead and reported in `rejected`.
//
// BatchQueue is the agent's only buffer, between the collecting thread and the
// uploading thread. MEMORY BOUND: a slot is taken (AcquireSlot) *before* a
// page is fetched and given back (ReleaseSlot) only once the server has
// acknowledged the batch or it was given up, so at most `capacity`
// (agent.max_batches_in_memory) pages/batches — fetched, built, queued or in
// flight — exist at any time; each holds at most agent.max_batch_records
// records. Nothing is ever written to disk.
//
// Thread-safe. Close() wakes every waiter; afterwards AcquireSlot and Pop
// return false / nullopt.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/collector.h"
#include "common/result.h"

namespace parley::agent {

struct RejectedRecord {
  std::string id;
  std::string reason;  // the validator's reason; names fields, never values
};

struct BuiltBatch {
  std::string source;
  std::string base_cursor;      // the cursor the page was fetched after
  std::string next_cursor;      // the cursor line's value
  std::string idempotency_key;  // a UUID, reused for every retry of this batch
  std::string body;             // NDJSON, ends with the cursor line
  size_t records = 0;
  uint64_t generation = 0;      // the source's pipeline generation (agent.cpp)
  uint64_t sequence = 0;        // the source's batches in the order they were fetched (agent.cpp)
};

// Whether the cursor line names the cursor the page was fetched after
// ("after"): needed for several batches in flight (agent.uploads_in_flight),
// refused by servers older than that field.
enum class CursorLine { kValueOnly, kWithAfter };

// REQUIRES: page.records.size() <= max_batch_records (else kFailedPrecondition).
Result<BuiltBatch> BuildBatch(const std::string& source, const std::string& base_cursor, CollectedPage page,
                              size_t max_batch_records, std::string idempotency_key,
                              std::vector<RejectedRecord>* rejected, CursorLine cursor_line = CursorLine::kValueOnly);

class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}

  // Blocks until fewer than `capacity` slots are held; false once closed.
  bool AcquireSlot();
  // Gives a slot back (page empty, fetch failed, batch acknowledged or dropped).
  void ReleaseSlot();
  // REQUIRES: the caller holds the slot this batch occupies.
  void Push(BuiltBatch batch);
  // Blocks for the next batch (FIFO); nullopt once closed.
  std::optional<BuiltBatch> Pop();
  void Close();

  size_t slots_held() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BuiltBatch> queue_;  // guarded by mu_
  size_t held_ = 0;               // guarded by mu_
  bool closed_ = false;           // guarded by mu_
};

}  // namespace parley::agent
