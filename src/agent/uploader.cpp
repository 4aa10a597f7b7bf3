#include "agent/uploader.h"

#include "wire/wire.h"

namespace parley::agent {

Result<BuiltBatch> BuildBatch(const std::string& source, const std::string& base_cursor, CollectedPage page,
                              size_t max_batch_records, std::string idempotency_key,
                              std::vector<RejectedRecord>* rejected, CursorLine cursor_line) {
  if (page.records.size() > max_batch_records)
    return FailedPrecondition(source + ": page of " + std::to_string(page.records.size()) +
                              " records exceeds max_batch_records " + std::to_string(max_batch_records));
  BuiltBatch b;
  b.source = source;
  b.base_cursor = base_cursor;
  b.next_cursor = std::move(page.next_cursor);
  b.idempotency_key = std::move(idempotency_key);
  for (const wire::Record& r : page.records) {
    wire::RecordCheck check = wire::CheckRecord(r);
    if (!check.reason.empty()) {
      if (rejected) rejected->push_back({wire::RecordId(r), std::move(check.reason)});
      continue;
    }
    b.body += check.line;
    b.body += '\n';
    ++b.records;
  }
  wire::CursorUpdate cursor{source, b.next_cursor};
  if (cursor_line == CursorLine::kWithAfter) cursor.after = base_cursor;
  std::string line = wire::SerializeCursor(cursor);
  if (!wire::ParseBatch(line, wire::BatchLimits{1}).batch)
    return FailedPrecondition(source + ": cursor value the server would refuse (too long or not UTF-8)");
  b.body += line;
  b.body += '\n';
  return b;
}

bool BatchQueue::AcquireSlot() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return closed_ || held_ < capacity_; });
  if (closed_) return false;
  ++held_;
  return true;
}

void BatchQueue::ReleaseSlot() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (held_ > 0) --held_;
  }
  cv_.notify_all();
}

void BatchQueue::Push(BuiltBatch batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(batch));
  }
  cv_.notify_all();
}

std::optional<BuiltBatch> BatchQueue::Pop() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return closed_ || !queue_.empty(); });
  if (closed_) return std::nullopt;
  BuiltBatch b = std::move(queue_.front());
  queue_.pop_front();
  return b;
}

void BatchQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    queue_.clear();
  }
  cv_.notify_all();
}

size_t BatchQueue::slots_held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_;
}

}  // namespace parley::agent
