#include "agent/sub_resource_collector.h"

#include <algorithm>

#include "common/log.h"

namespace parley::agent {

SubResourceCollector::SubResourceCollector(std::string name, std::vector<std::string> subs, std::string legacy_key)
    : name_(std::move(name)), legacy_key_(std::move(legacy_key)) {
  for (std::string& s : subs) {
    SubState state;
    state.name = std::move(s);
    subs_.push_back(std::move(state));
  }
}

SourceHealth SubResourceCollector::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

void SubResourceCollector::UpdateHealth() {
  SourceHealth h;
  size_t failing = 0;
  for (const SubState& s : subs_) {
    if (s.status == SourceStatus::kOk) continue;
    if (s.status == SourceStatus::kFailing) ++failing;
    if (!h.last_error) h.last_error = s.name + ": " + s.last_error.value_or("error");
    h.status = SourceStatus::kDegraded;
  }
  if (failing > 0 && failing == subs_.size()) h.status = SourceStatus::kFailing;
  std::lock_guard<std::mutex> lock(mu_);
  health_ = std::move(h);
}

Status SubResourceCollector::CheckNextToken(const std::string& feed, const std::string& after,
                                            const std::string& next) {
  if (!after.empty() && next == after) return FailedPrecondition("device repeated a page (its next token did not advance)");
  auto it = seen_tokens_.find(feed);
  if (it != seen_tokens_.end() && std::find(it->second.begin(), it->second.end(), next) != it->second.end())
    return FailedPrecondition("device repeated an earlier page (its next token went back)");
  return Ok();
}

void SubResourceCollector::RememberToken(const std::string& feed, const std::string& next) {
  std::deque<std::string>& tokens = seen_tokens_[feed];
  tokens.push_back(next);
  if (tokens.size() > kRememberedTokens) tokens.pop_front();
}

Result<std::string> SubResourceCollector::Probe(const std::string& cursor) {
  auto decoded = DecodeSubCursors(cursor, legacy_key_);
  if (!decoded.ok()) return FailedPrecondition(decoded.error().detail);
  std::string ok, failed;
  std::optional<Code> code;
  for (SubState& sub : subs_) {
    SubCursors attempt = *decoded;
    auto r = RunSub(sub.name, attempt, 1);
    if (!r.ok()) {
      failed += (failed.empty() ? "" : "; ") + sub.name + ": " + r.error().detail;
      code = r.error().code;
      if (r.error().code == Code::kUnavailable) break;  // the device is unreachable: one timeout is enough
      continue;
    }
    ok += (ok.empty() ? "" : "; ") + sub.name + " ok" + (r->records.empty() ? "" : " (new records)");
    if (r->warning) ok += " (" + *r->warning + ")";
  }
  if (!failed.empty()) return Error{*code, failed + (ok.empty() ? "" : " [" + ok + "]")};
  return ok.empty() ? std::string("nothing to collect") : ok;
}

Result<CollectedPage> SubResourceCollector::FetchAfter(const std::string& cursor, size_t max_records) {
  if (last_returned_cursor_ && *last_returned_cursor_ != cursor) {
    seen_tokens_.clear();
    OnCursorReset();
    round_open_ = false;
  }
  last_returned_cursor_ = cursor;
  auto decoded = DecodeSubCursors(cursor, legacy_key_);
  if (!decoded.ok()) {
    for (SubState& s : subs_) {
      s.status = SourceStatus::kFailing;
      s.last_error = decoded.error().detail;
    }
    UpdateHealth();
    return FailedPrecondition(name_ + ": " + decoded.error().detail);
  }
  const SubCursors cursors = std::move(*decoded);

  if (!round_open_) {
    for (SubState& s : subs_) s.done_in_round = false;
    round_open_ = true;
  }
  std::optional<Error> last_failure;
  size_t ran = 0, failed = 0;
  for (SubState& sub : subs_) {
    if (sub.done_in_round) continue;
    SubCursors attempt = cursors;
    auto result = RunSub(sub.name, attempt, max_records);
    ++ran;
    if (!result.ok()) {
      ++failed;
      sub.done_in_round = true;
      sub.status = SourceStatus::kFailing;
      sub.last_error = result.error().detail;
      log::warn("{}: {} failed: {}", name_, sub.name, result.error().detail);
      last_failure = result.error();
      if (result.error().code == Code::kUnavailable) {
        // The device is unreachable: every sub-resource is, too.
        for (SubState& other : subs_) {
          other.done_in_round = true;
          other.status = SourceStatus::kFailing;
          other.last_error = result.error().detail;
        }
        break;
      }
      continue;
    }
    if (result->warning) {
      sub.status = SourceStatus::kDegraded;
      sub.last_error = result->warning;
    } else if (result->skipped > 0) {
      sub.status = SourceStatus::kDegraded;
      sub.last_error = std::to_string(result->skipped) + " record(s) could not be mapped";
    } else {
      sub.status = SourceStatus::kOk;
      sub.last_error.reset();
    }
    if (result->caught_up) sub.done_in_round = true;
    if (result->records.size() > max_records) {
      sub.status = SourceStatus::kFailing;
      sub.last_error = "internal: page larger than requested";
      sub.done_in_round = true;
      continue;
    }
    if (result->records.empty() && !result->cursor_moved) continue;

    auto encoded = EncodeSubCursors(attempt);
    if (!encoded.ok()) {
      sub.status = SourceStatus::kFailing;
      sub.last_error = encoded.error().detail;
      sub.done_in_round = true;
      UpdateHealth();
      return FailedPrecondition(name_ + ": " + encoded.error().detail);
    }
    CollectedPage page;
    page.records = std::move(result->records);
    page.skipped = result->skipped;
    page.next_cursor = std::move(*encoded);
    page.more = std::any_of(subs_.begin(), subs_.end(), [](const SubState& s) { return !s.done_in_round; });
    if (!page.more) round_open_ = false;
    last_returned_cursor_ = page.next_cursor;
    UpdateHealth();
    return page;
  }
  round_open_ = false;
  UpdateHealth();
  if (ran > 0 && failed == ran && last_failure) return Error{last_failure->code, name_ + ": " + last_failure->detail};
  CollectedPage page;
  page.next_cursor = cursor;
  return page;
}

}  // namespace parley::agent
