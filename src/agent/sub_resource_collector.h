// SubResourceCollector: the shared engine of collectors that read several
// resources of one device (dma, rprm). Each sub-resource is either
//   - a feed: it resumes after its own sub-cursor in the source's cursor
//     (a JSON object of sub-cursors, sub_cursor.h), or
//   - a snapshot: it keeps no cursor; its records are upserts (devices) or it
//     only contributes health (live snapshots), and after a restart it is
//     simply read again.
//
// One FetchAfter runs the sub-resources in their fixed order, skipping those
// already done in this round, until one yields records or moves its
// sub-cursor; that page's `more` says whether any is still due in the round.
// A round ends when FetchAfter returns more=false (the agent then rests the
// source a poll interval); the next call starts a new round. A sub-resource
// that fails is not retried before the next round; a transport failure
// (kUnavailable: unreachable, timeout) ends the round at once, so a dead
// device costs one timeout per poll, not one per sub-resource.
//
// Health: failing when every sub-resource failed in its last run, degraded
// when some failed or skipped records (last_error "<sub>: <reason>"), else ok.
//
// When FetchAfter is given a cursor other than the one it last returned (the
// agent went back to the server's cursor after a refused batch or a
// restart), OnCursorReset() lets the subclass forget what it believed shipped.
//
// Threading: the Collector contract (FetchAfter on one thread at a time;
// health() from any thread).
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/collector.h"
#include "agent/sub_cursor.h"

namespace parley::agent {

class SubResourceCollector : public Collector {
 public:
  const std::string& name() const override { return name_; }
  Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) override;
  SourceHealth health() const override;
  // `check`: runs every sub-resource once (at most one record each, nothing
  // shipped) and lists them: "history ok (new records); devices ok". An
  // error names every sub-resource that failed.
  Result<std::string> Probe(const std::string& cursor) override;

 protected:
  struct SubResult {
    std::vector<wire::Record> records;
    size_t skipped = 0;          // records the device sent that could not be mapped
    bool cursor_moved = false;   // the sub-resource changed its entry in the SubCursors
    bool caught_up = true;       // false: call again in this round
    std::optional<std::string> warning;  // degrades without failing
  };

  // `subs`: the enabled sub-resources in the order they run. `legacy_key`:
  // the sub-cursor a cursor that is not a JSON object belongs to.
  SubResourceCollector(std::string name, std::vector<std::string> subs, std::string legacy_key);

  // Runs one step of `sub`: at most max_records records; may update its
  // entry in `cursors`. An error means nothing was collected.
  virtual Result<SubResult> RunSub(const std::string& sub, SubCursors& cursors, size_t max_records) = 0;
  virtual void OnCursorReset() {}

  // Repeating pages: a device that answers "after T" with an earlier page
  // sends the cursor backwards, and the feed would loop for ever. A feed
  // remembers the last kRememberedTokens `next` tokens it moved to;
  // CheckNextToken refuses a page whose token is one of them (or equals
  // `after`). Forgotten when the agent resets to the server's cursor (an
  // older page is then legitimate) and by ForgetTokens(feed).
  static constexpr size_t kRememberedTokens = 256;
  Status CheckNextToken(const std::string& feed, const std::string& after, const std::string& next);
  void RememberToken(const std::string& feed, const std::string& next);
  void ForgetTokens(const std::string& feed) { seen_tokens_.erase(feed); }

  // A feed's pages read in a row after its sub-cursor `feed`, each of at
  // most `page_limit` items, until `max_records` of the device's items
  // (skipped ones included, so the batch never outgrows max_records) are
  // read or a short page says the device has no more: one batch, one
  // transaction on the server, whatever the device's page limit.
  // `fetch(after, limit)` returns one page already checked against the
  // paging rules (a Result of a type with records, skipped, items and next);
  // `on_page(page)` sees each page first (to log its skips). If a page fails
  // after others were read, those are returned and the next fetch meets the
  // failure.
  template <typename Fetch, typename OnPage>
  Result<SubResult> ReadFeedPages(const std::string& feed, SubCursors& cursors, size_t max_records,
                                  size_t page_limit, Fetch fetch, OnPage on_page) {
    std::string after;
    if (auto it = cursors.find(feed); it != cursors.end()) after = it->second;
    SubResult out;
    for (size_t items = 0; items < max_records;) {
      const size_t limit = std::min(page_limit, max_records - items);
      auto page = fetch(after, limit);
      if (!page.ok()) {
        if (out.records.empty()) return page.error();
        out.caught_up = false;
        break;
      }
      on_page(*page);
      out.skipped += page->skipped.size();
      items += page->items;
      for (auto& r : page->records) out.records.emplace_back(std::move(r));
      if (page->next && *page->next != after) {
        after = *page->next;
        cursors[feed] = after;
        RememberToken(feed, after);
        out.cursor_moved = true;
      }
      // A short page means the device had no more; a full one, fetch again now.
      out.caught_up = !(page->next && page->items >= limit);
      if (out.caught_up) break;
    }
    return out;
  }

  const std::string name_;

 private:
  struct SubState {
    std::string name;
    bool done_in_round = false;
    SourceStatus status = SourceStatus::kOk;
    std::optional<std::string> last_error;
  };
  void UpdateHealth();

  const std::string legacy_key_;
  std::map<std::string, std::deque<std::string>, std::less<>> seen_tokens_;
  std::vector<SubState> subs_;
  bool round_open_ = false;
  std::optional<std::string> last_returned_cursor_;
  mutable std::mutex mu_;
  SourceHealth health_;  // guarded by mu_
};

}  // namespace parley::agent
