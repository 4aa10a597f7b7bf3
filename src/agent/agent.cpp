#include "agent/agent.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>
#include <vector>

#include "agent/agent_loop.h"
#include "agent/backoff.h"
#include "agent/collector.h"
#include "agent/server_client.h"
#include "agent/uploader.h"
#include "common/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/time_format.h"
#include "crypto/crypto.h"
#include "crypto/pki.h"

namespace parley::agent {

// ---------------------------------------------------------------- StopSignal

void StopSignal::Request() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    flag_.store(true);
  }
  cv_.notify_all();
}

bool StopSignal::WaitFor(std::chrono::duration<double> d) {
  std::unique_lock<std::mutex> lock(mu_);
  if (d.count() > 0) {
    cv_.wait_for(lock, std::chrono::duration_cast<std::chrono::milliseconds>(d), [this] { return flag_.load(); });
  }
  return flag_.load();
}

void StopSignal::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return flag_.load(); });
}

void StopOnSignals(StopSignal& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([&stop, set] {
    int sig = 0;
    if (sigwait(&set, &sig) == 0) {
      log::info("signal {} received: stopping", sig);
      stop.Request();
    }
  }).detach();
}

// ---------------------------------------------------------------- Run

namespace {

using std::chrono::duration_cast;

// Per-source state shared by the threads (guarded by Agent::mu_ except the
// collector pointer, which is fixed).
struct SourceState {
  std::unique_ptr<Collector> collector;
  std::string cursor;          // where the next fetch starts (after the last queued batch)
  uint64_t generation = 0;     // bumped to invalidate batches built before a reset
  bool needs_resync = true;    // re-read the server's cursor before fetching
  size_t outstanding = 0;      // batches queued or in flight, of any generation
  // This generation's batches by sequence, from the oldest one not yet
  // answered on: with several uploads in flight, a batch's outcome is judged
  // against its predecessors (still due?) and successors (stored beyond it?).
  struct Issued {
    std::string next_cursor;
    bool answered = false;  // acknowledged, given up or dropped
  };
  std::map<uint64_t, Issued> issued;
  uint64_t next_sequence = 0;
  TimePoint not_before{};      // rest until then (caught up, or after a failure)
  SourceStatus upload_status = SourceStatus::kOk;
  std::optional<std::string> upload_error;
  SourceStatus build_status = SourceStatus::kOk;
  std::optional<std::string> build_error;
  // The last fetch as the loop saw it: covers collectors that fail without
  // saying so in health(), or throw.
  SourceStatus fetch_status = SourceStatus::kOk;
  std::optional<std::string> fetch_error;
  bool fetching = false;       // a FetchAfter is in progress ...
  TimePoint fetch_started{};   // ... since then (stall detection)
};

// "server answered HTTP 400 invalid_argument: line 3: ..." -> the part before
// the server's detail, for last_error (short, no personal data).
std::string ShortError(const std::string& detail) {
  auto cut = detail.find(": ");
  return cut == std::string::npos ? detail : detail.substr(0, cut);
}

std::string Cut(std::string s, size_t n = 200) {
  if (s.size() > n) s = s.substr(0, n - 3) + "...";
  return s;
}

// Shared by the threads it starts; a source thread that does not stop in
// time is left behind holding a reference (see RunThreads).
class Agent : public std::enable_shared_from_this<Agent> {
 public:
  Agent(const AgentConfig& config, StopSignal& stop, LoopParts parts)
      : config_(config),
        stop_(stop),
        clock_(*parts.clock),
        random_(std::move(parts.random)),
        queue_(static_cast<size_t>(config.max_batches_in_memory)),
        collect_server_(std::move(parts.collect_server)),
        upload_servers_(std::move(parts.upload_servers)),
        heartbeat_server_(std::move(parts.heartbeat_server)),
        stall_after_(parts.stall_after),
        stop_grace_(parts.stop_grace),
        started_(clock_.Now()),
        states_(parts.collectors.size()) {
    for (size_t i = 0; i < parts.collectors.size(); ++i) states_[i].collector = std::move(parts.collectors[i]);
  }

  // One collecting thread per source, so a source that fails, throws or
  // hangs never holds up the others; one uploading thread per upload client
  // (agent.uploads_in_flight) and one heartbeat thread.
  void RunThreads() {
    auto self = shared_from_this();
    struct SourceThread {
      std::thread thread;
      std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
    };
    std::vector<SourceThread> sources(states_.size());
    for (size_t i = 0; i < states_.size(); ++i) {
      auto done = sources[i].done;
      sources[i].thread = std::thread([self, i, done] {
        self->SourceLoop(i);
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          done->store(true);
        }
        self->stopped_cv_.notify_all();
      });
    }
    std::vector<std::thread> uploads;
    for (auto& server : upload_servers_) uploads.emplace_back([this, &server] { UploadLoop(*server); });
    std::thread heartbeat([this] { HeartbeatLoop(); });
    stop_.Wait();
    queue_.Close();
    for (std::thread& upload : uploads) upload.join();
    heartbeat.join();
    // A collector in a transfer sees the abort flag and returns; one stuck in
    // a system call (a hung network file system) may not: after stop_grace it
    // is left behind (it owns a reference to this Agent and exits as soon as
    // its call returns), so SIGTERM still stops the agent.
    std::unique_lock<std::mutex> lock(mu_);
    stopped_cv_.wait_for(lock, stop_grace_, [&] {
      return std::all_of(sources.begin(), sources.end(), [](const SourceThread& t) { return t.done->load(); });
    });
    lock.unlock();
    abandoned_.store(true);
    for (size_t i = 0; i < sources.size(); ++i) {
      if (sources[i].done->load()) {
        sources[i].thread.join();
      } else {
        log::error("{}: the collector did not stop within {} s; leaving it behind", states_[i].collector->name(),
                   stop_grace_.count());
        sources[i].thread.detach();
      }
    }
  }

  // The heartbeat's per-source report (public for tests through RunLoop's observer).
  std::vector<SourceReport> Health() {
    std::vector<SourceReport> out;
    const TimePoint now = clock_.Now();
    for (const SourceState& s : states_) {
      SourceReport report{s.collector->name(), std::string(s.collector->type()), SafeHealth(*s.collector)};
      std::lock_guard<std::mutex> lock(mu_);
      std::optional<std::string> stalled;
      if (s.fetching && now - s.fetch_started > stall_after_) {
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - s.fetch_started).count();
        stalled = "no answer from the source for " + std::to_string(secs) + " s (collection stalled)";
      }
      for (auto [status, error] : {std::pair{s.upload_status, s.upload_error},
                                   std::pair{s.build_status, s.build_error},
                                   std::pair{s.fetch_status, s.fetch_error},
                                   std::pair{stalled ? SourceStatus::kFailing : SourceStatus::kOk, stalled}}) {
        if (static_cast<int>(status) > static_cast<int>(report.health.status)) {
          report.health.status = status;
          report.health.last_error = error;
        }
      }
      // A collector that fails without an explanation still gets one.
      if (report.health.status != SourceStatus::kOk && !report.health.last_error)
        report.health.last_error = "unspecified error";
      out.push_back(std::move(report));
    }
    return out;
  }

 private:
  BackoffPolicy Policy() const {
    BackoffPolicy p;
    p.cap = Seconds(static_cast<double>(config_.backoff_cap_seconds));
    return p;
  }
  std::chrono::seconds PollInterval() const { return std::chrono::seconds(config_.poll_interval_seconds); }

  // Waits the server's Retry-After if it sent one, else the next backoff step.
  bool WaitBeforeRetry(ServerClient& server, Backoff& backoff) {
    Seconds delay = server.last_retry_after() ? Seconds(*server.last_retry_after()) : backoff.NextDelay();
    return stop_.WaitFor(delay);
  }

  // Collector calls never let an exception out (errors are values, but a
  // collector's bug must not take the agent down).
  static SourceHealth SafeHealth(const Collector& c) {
    try {
      return c.health();
    } catch (...) {
      return SourceHealth{SourceStatus::kFailing, std::string("internal error in the collector (health)")};
    }
  }

  Result<CollectedPage> SafeFetch(SourceState& state, const std::string& cursor) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      state.fetching = true;
      state.fetch_started = clock_.Now();
    }
    Result<CollectedPage> page = Internal("not fetched");
    try {
      page = state.collector->FetchAfter(cursor, static_cast<size_t>(config_.max_batch_records));
    } catch (const std::exception& e) {
      log::error("{}: the collector threw: {}", state.collector->name(), Cut(e.what(), 120));
      page = Internal("internal error in the collector (exception)");
    } catch (...) {
      log::error("{}: the collector threw a non-standard exception", state.collector->name());
      page = Internal("internal error in the collector (exception)");
    }
    std::lock_guard<std::mutex> lock(mu_);
    state.fetching = false;
    if (page.ok()) {
      state.fetch_status = SourceStatus::kOk;
      state.fetch_error.reset();
    } else {
      state.fetch_status = SourceStatus::kFailing;
      state.fetch_error = Cut(page.error().detail);
    }
    return page;
  }

  // ------------------------------------------------------- collecting threads

  // One source: re-read its cursor from the server when needed, then fetch,
  // build and queue pages, resting when caught up or after a failure. Sleeps
  // at most 1 s at a time so a reset from the uploading thread is seen soon.
  void SourceLoop(size_t index) {
    Backoff backoff(Policy(), *random_, clock_);
    while (!stop_.requested()) {
      bool resync = false, draining = false;
      TimePoint not_before;
      {
        std::lock_guard<std::mutex> lock(mu_);
        const SourceState& s = states_[index];
        resync = s.needs_resync;
        draining = s.needs_resync && s.outstanding != 0;
        not_before = s.not_before;
      }
      const TimePoint now = clock_.Now();
      if (draining) {
        stop_.WaitFor(std::chrono::milliseconds(200));
        continue;
      }
      if (resync) {
        if (ResyncCursors(backoff)) backoff.Reset();
        continue;
      }
      if (not_before > now) {
        stop_.WaitFor(std::min<std::chrono::duration<double>>(not_before - now, std::chrono::seconds(1)));
        continue;
      }
      CollectOnce(index);
    }
  }

  // Reads the server's cursors for every source waiting for them (one
  // request serves all: the sources' threads take turns on one client).
  // False after a failure (having waited the backoff).
  bool ResyncCursors(Backoff& backoff) {
    std::unique_lock<std::mutex> server_lock(collect_server_mu_);
    if (!ResyncPending()) return true;  // another source's thread just did it
    auto cursors = collect_server_->GetCursors();
    if (!cursors.ok()) {
      log::warn("cannot read cursors from the server: {}", cursors.error().detail);
      std::optional<std::chrono::seconds> retry_after = collect_server_->last_retry_after();
      server_lock.unlock();
      stop_.WaitFor(retry_after ? Seconds(*retry_after) : backoff.NextDelay());
      return false;
    }
    ApplyServerCursors(*cursors);
    return true;
  }

  bool ResyncPending() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::any_of(states_.begin(), states_.end(),
                       [](const SourceState& s) { return s.needs_resync && s.outstanding == 0; });
  }

  void ApplyServerCursors(const Cursors& cursors) {
    std::lock_guard<std::mutex> lock(mu_);
    for (SourceState& s : states_) {
      if (!s.needs_resync || s.outstanding != 0) continue;
      auto it = cursors.find(s.collector->name());
      s.cursor = it == cursors.end() ? std::string() : it->second;
      s.needs_resync = false;
      log::info("{}: resuming from the server's cursor{}", s.collector->name(),
                it == cursors.end() ? " (none yet: from the beginning)" : "");
    }
  }

  void Rest(size_t index, TimePoint until) {
    std::lock_guard<std::mutex> lock(mu_);
    states_[index].not_before = std::max(states_[index].not_before, until);
  }

  void CollectOnce(size_t index) {
    SourceState& state = states_[index];
    Collector& collector = *state.collector;
    if (!queue_.AcquireSlot()) return;  // closed: stopping
    std::string cursor;
    uint64_t generation = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cursor = state.cursor;
      generation = state.generation;
    }
    auto page = SafeFetch(state, cursor);
    if (abandoned_.load()) return;  // the agent stopped without us (see RunThreads)
    if (!page.ok()) {
      queue_.ReleaseSlot();
      log::warn("{}: collection failed: {}", collector.name(), page.error().detail);
      Rest(index, clock_.Now() + PollInterval());
      return;
    }
    if (page->records.size() > static_cast<size_t>(config_.max_batch_records)) {
      // A collector that ignores max_records would break the memory bound.
      queue_.ReleaseSlot();
      log::error("{}: the collector returned {} records for a page of at most {}", collector.name(),
                 page->records.size(), config_.max_batch_records);
      std::lock_guard<std::mutex> lock(mu_);
      state.fetch_status = SourceStatus::kFailing;
      state.fetch_error = "internal error in the collector (page too large)";
      state.not_before = clock_.Now() + PollInterval();
      return;
    }
    bool more = page->more;
    if (page->records.empty() && page->next_cursor == cursor) {
      queue_.ReleaseSlot();
      Rest(index, clock_.Now() + PollInterval());
      return;
    }
    std::vector<RejectedRecord> rejected;
    auto batch = BuildBatch(collector.name(), cursor, std::move(*page),
                            static_cast<size_t>(config_.max_batch_records), crypto::RandomUuid(), &rejected,
                            config_.uploads_in_flight > 1 ? CursorLine::kWithAfter : CursorLine::kValueOnly);
    for (const RejectedRecord& r : rejected)
      log::warn("{}: skipped record {}: the server would refuse it ({})", collector.name(), r.id.substr(0, 64),
                r.reason);
    if (!batch.ok()) {
      queue_.ReleaseSlot();
      log::error("{}: {}", collector.name(), batch.error().detail);
      std::lock_guard<std::mutex> lock(mu_);
      state.build_status = SourceStatus::kFailing;
      state.build_error = batch.error().detail;
      state.not_before = clock_.Now() + PollInterval();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (state.generation != generation || state.needs_resync) {
        queue_.ReleaseSlot();  // reset while fetching: this page is stale
        return;
      }
      state.build_status = rejected.empty() ? SourceStatus::kOk : SourceStatus::kDegraded;
      state.build_error = rejected.empty() ? std::nullopt
                                           : std::optional<std::string>(std::to_string(rejected.size()) +
                                                                        " record(s) failed validation");
      batch->generation = generation;
      batch->sequence = state.next_sequence++;
      state.issued[batch->sequence] = {batch->next_cursor};
      state.cursor = batch->next_cursor;
      ++state.outstanding;
      if (!more) state.not_before = clock_.Now() + PollInterval();
    }
    log::debug("{}: queued batch of {} record(s)", collector.name(), batch->records);
    queue_.Push(std::move(*batch));
  }

  // ------------------------------------------------------- uploading threads

  // One per upload client. With several, consecutive batches of one source
  // are in flight at once; each names the cursor it follows, so the server
  // stores them in order or refuses one whose predecessor is not stored yet
  // (kAborted), which is resent once that predecessor has been answered.
  void UploadLoop(ServerClient& server) {
    Backoff backoff(Policy(), *random_, clock_);
    while (std::optional<BuiltBatch> batch = queue_.Pop()) {
      size_t index = IndexOf(batch->source);
      UploadOne(server, index, *batch, backoff);
      {
        std::lock_guard<std::mutex> lock(mu_);
        SourceState& s = states_[index];
        --s.outstanding;
        if (auto it = s.issued.find(batch->sequence); it != s.issued.end()) it->second.answered = true;
        while (!s.issued.empty() && s.issued.begin()->second.answered) s.issued.erase(s.issued.begin());
      }
      answered_cv_.notify_all();
      queue_.ReleaseSlot();
    }
  }

  size_t IndexOf(const std::string& name) const {
    for (size_t i = 0; i < states_.size(); ++i)
      if (states_[i].collector->name() == name) return i;
    return 0;  // batches only ever carry configured source names
  }

  bool Stale(size_t index, const BuiltBatch& b) {
    std::lock_guard<std::mutex> lock(mu_);
    return states_[index].generation != b.generation;
  }

  // True once every earlier batch of b's source and generation has been
  // answered. REQUIRES: mu_ held.
  bool PredecessorsAnsweredLocked(size_t index, const BuiltBatch& b) const {
    const auto& issued = states_[index].issued;
    return issued.empty() || issued.begin()->first >= b.sequence;
  }
  bool PredecessorsAnswered(size_t index, const BuiltBatch& b) {
    std::lock_guard<std::mutex> lock(mu_);
    return PredecessorsAnsweredLocked(index, b);
  }

  // Waits until b's predecessors have been answered; false if b went stale
  // meanwhile (one failed and reset the source) or the agent is stopping.
  bool AwaitPredecessors(size_t index, const BuiltBatch& b) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_.requested() && states_[index].generation == b.generation) {
      if (PredecessorsAnsweredLocked(index, b)) return true;
      answered_cv_.wait_for(lock, std::chrono::milliseconds(200));  // and looks at stop_ now and then
    }
    return false;
  }

  // Whether the server's cursor for b's source says b is stored: it is b's
  // own new cursor, or that of a later batch of b's generation (which the
  // server stores only after b).
  bool StoredAtOrBeyond(size_t index, const BuiltBatch& b, const std::string& server_cursor) {
    if (server_cursor == b.next_cursor) return b.next_cursor != b.base_cursor;
    std::lock_guard<std::mutex> lock(mu_);
    if (states_[index].generation != b.generation) return false;
    const auto& issued = states_[index].issued;
    for (auto it = issued.upper_bound(b.sequence); it != issued.end(); ++it)
      if (it->second.next_cursor == server_cursor) return true;
    return false;
  }

  // Drops the source's pipeline and makes the collector re-read the server's
  // cursor (no earlier than `not_before`).
  void Reset(size_t index, TimePoint not_before) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      SourceState& s = states_[index];
      ++s.generation;
      s.issued.clear();  // the batches still queued or in flight are stale now
      s.needs_resync = true;
      s.not_before = std::max(s.not_before, not_before);
    }
    answered_cv_.notify_all();
  }

  void MarkUploaded(size_t index, const BuiltBatch& b, const UploadResult& r) {
    log::info("{}: batch {} stored: {} record(s) accepted, {} already present{}", b.source, r.batch_id, r.accepted,
              r.already_present, r.duplicate ? " (duplicate batch)" : "");
    if (r.quarantined > 0)
      log::warn("{}: batch {}: the server refused {} record(s) with implausible times (first: {}); they are "
                "counted in the portal's quarantine and will not be sent again",
                b.source, r.batch_id, r.quarantined, r.first_refusal);
    {
      std::lock_guard<std::mutex> lock(mu_);
      states_[index].upload_status = SourceStatus::kOk;
      states_[index].upload_error.reset();
    }
    auto it = r.cursors.find(b.source);
    if (it == r.cursors.end() || !(it->second == b.next_cursor || StoredAtOrBeyond(index, b, it->second))) {
      log::warn("{}: the server's cursor differs from the batch's; re-reading it", b.source);
      Reset(index, clock_.Now());
    }
  }

  void UploadOne(ServerClient& server, size_t index, const BuiltBatch& b, Backoff& backoff) {
    while (!stop_.requested() && !Stale(index, b)) {
      const bool first_in_line = PredecessorsAnswered(index, b);
      auto r = server.UploadBatch(b.idempotency_key, b.body);
      if (r.ok()) {
        backoff.Reset();
        MarkUploaded(index, b, *r);
        return;
      }
      const Error& err = r.error();
      if (err.code == Code::kAborted) {
        // The server has not stored the cursor this batch follows: normal
        // while an earlier batch is in flight, so resend once that one is
        // answered. With none before it, the server's cursor is elsewhere.
        if (first_in_line) {
          log::warn("{}: the server's cursor is not where this batch starts; re-reading it", b.source);
          Reset(index, clock_.Now());
          return;
        }
        if (!AwaitPredecessors(index, b)) return;
        continue;
      }
      if (!IsRetryable(err)) {
        log::error("{}: the server refused a batch of {} record(s): {}; retrying from the server's cursor in {} s",
                   b.source, b.records, err.detail, config_.poll_interval_seconds);
        {
          std::lock_guard<std::mutex> lock(mu_);
          states_[index].upload_status = SourceStatus::kFailing;
          states_[index].upload_error = "batch refused: " + ShortError(err.detail);
        }
        Reset(index, clock_.Now() + PollInterval());
        return;
      }
      log::warn("{}: upload failed: {}; will retry", b.source, err.detail);
      if (WaitBeforeRetry(server, backoff)) return;
      if (err.code != Code::kUnavailable) continue;  // 429: just resend

      // The server or the network failed: once it answers again, and the
      // batches before this one have been answered, its cursor says whether
      // this batch was stored, is still due, or is obsolete.
      if (!AwaitPredecessors(index, b)) return;
      std::optional<Cursors> cursors;
      while (!stop_.requested() && !cursors) {
        auto c = server.GetCursors();
        if (c.ok()) {
          cursors = std::move(*c);
        } else {
          log::warn("{}: cannot read cursors: {}", b.source, c.error().detail);
          if (WaitBeforeRetry(server, backoff)) return;
        }
      }
      if (!cursors) return;
      auto it = cursors->find(b.source);
      std::string server_cursor = it == cursors->end() ? std::string() : it->second;
      if (StoredAtOrBeyond(index, b, server_cursor)) {
        backoff.Reset();
        log::info("{}: the batch was stored before the failure", b.source);
        std::lock_guard<std::mutex> lock(mu_);
        states_[index].upload_status = SourceStatus::kOk;
        states_[index].upload_error.reset();
        return;
      }
      if (server_cursor != b.base_cursor) {
        log::warn("{}: the server's cursor moved; resuming from it", b.source);
        Reset(index, clock_.Now());
        return;
      }
      // Still due: resend with the same Idempotency-Key.
    }
  }

  // -------------------------------------------------------- heartbeat thread

  void HeartbeatLoop() {
    bool warned_skew = false;
    do {
      HeartbeatRequest request;
      request.uptime_s = duration_cast<std::chrono::seconds>(clock_.Now() - started_).count();
      request.sources = Health();
      auto r = heartbeat_server_->Heartbeat(request);
      if (!r.ok()) {
        log::warn("heartbeat failed: {}", r.error().detail);
      } else if (auto server_time = ParseRfc3339(r->server_time)) {
        int64_t skew = clock_.NowUnixSeconds() - *server_time;
        if (std::abs(skew) > 60 && !warned_skew) {
          log::warn("this machine's clock is {} s off the server's; fix NTP", skew);
          warned_skew = true;
        }
      }
    } while (!stop_.WaitFor(std::chrono::seconds(config_.heartbeat_interval_seconds)));
  }

  const AgentConfig config_;  // a copy: a source thread left behind may outlive the caller's
  StopSignal& stop_;
  const Clock& clock_;
  std::unique_ptr<Random> random_;
  BatchQueue queue_;
  std::mutex collect_server_mu_;                    // the source threads take turns on collect_server_
  std::unique_ptr<ServerClient> collect_server_;    // source threads, under collect_server_mu_
  std::vector<std::unique_ptr<ServerClient>> upload_servers_;  // one per uploading thread
  std::unique_ptr<ServerClient> heartbeat_server_;  // heartbeat thread only
  const std::chrono::seconds stall_after_;
  const std::chrono::seconds stop_grace_;
  const TimePoint started_;
  std::mutex mu_;
  std::condition_variable stopped_cv_;  // a source thread finished (with mu_)
  std::condition_variable answered_cv_;  // an upload was answered or a source reset (with mu_)
  std::atomic<bool> abandoned_{false};  // RunThreads returned without some source threads
  std::vector<SourceState> states_;     // fixed size; fields guarded by mu_ (see SourceState)
};

Result<std::unique_ptr<ServerClient>> MakeServerClient(const AgentConfig& config, const StopSignal& stop,
                                                       const Clock& clock) {
  HttpClientOptions options;
  options.ca_file = config.server_ca_file;
  options.cert_file = config.cert_file;
  options.key_file = config.key_file;
  options.abort = &stop.flag();
  auto http = HttpClient::Create(std::move(options));
  if (!http.ok()) return ConfigError("server: " + http.error().detail);
  return std::make_unique<ServerClient>(config.server_url, std::move(*http), clock);
}

Status CheckFiles(const AgentConfig& config) {
  if (Status s = CheckPrivateFile(config.key_file); !s.ok()) return ConfigError("server.key_file: " + s.error().detail);
  std::error_code ec;
  if (!std::filesystem::exists(config.cert_file, ec))
    return ConfigError("server.cert_file: " + config.cert_file.string() + " does not exist (run parley-agent enroll)");
  if (!std::filesystem::exists(config.server_ca_file, ec))
    return ConfigError("server.ca_file: " + config.server_ca_file.string() + " does not exist");
  return Ok();
}

Result<std::vector<std::unique_ptr<Collector>>> MakeCollectors(const AgentConfig& config, const StopSignal& stop) {
  std::vector<std::unique_ptr<Collector>> collectors;
  for (const SourceConfig& source : config.sources) {
    PARLEY_ASSIGN_OR_RETURN(auto collector, MakeCollector(source, &stop.flag()));
    collectors.push_back(std::move(collector));
  }
  return collectors;
}

}  // namespace

// ---------------------------------------------------------------- Check

namespace {

// "https://host:port/x" -> "host:port" (never user-info, path or query).
std::string HostOf(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  return std::string(url);
}

bool Contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// An error as an installer should read it: what failed and what to check.
std::string Explain(const std::string& detail, bool pinned) {
  // libcurl's words (http_client.cpp passes them through in the detail).
  if (Contains(detail, "certificate rejected") && pinned) return "TLS: certificate not trusted (pin mismatch)";
  if (auto p = detail.find("SSL certificate problem: "); p != std::string::npos) {
    std::string why = detail.substr(p + 25);
    why = why.substr(0, why.find(')'));
    return "TLS: certificate not trusted (" + why + ")";
  }
  if (Contains(detail, "no alternative certificate subject name matches") ||
      Contains(detail, "does not match target host name"))
    return "TLS: certificate does not match the host name";
  if (Contains(detail, "unable to set private key file") || Contains(detail, "could not load PEM client certificate"))
    return "TLS: cannot use the client certificate/key (" + Cut(detail, 120) + ")";
  if (Contains(detail, "Could not resolve host")) return "host name not found (DNS)";
  if (Contains(detail, "Couldn't connect") || Contains(detail, "Connection refused"))
    return "cannot connect (connection refused or no route)";
  if (Contains(detail, "Timeout was reached") || Contains(detail, "timed out")) return "timed out";
  if (Contains(detail, "HTTP 401")) return "401 Unauthorized: check username/password_file";
  if (Contains(detail, "HTTP 403")) return "403 Forbidden: the user lacks the rights to read";
  return Cut(detail, 160);
}

std::string Target(const SourceConfig& s) {
  if (!s.url.empty()) return HostOf(s.url);
  if (!s.dir.empty()) return s.dir.string();
  if (!s.db_path.empty()) return s.db_path.string();
  if (!s.db_url.empty()) return HostOf(s.db_url);
  return "-";
}

std::string StripSourcePrefix(const std::string& detail, const std::string& name) {
  std::string prefix = "source " + name + ": ";
  return detail.rfind(prefix, 0) == 0 ? detail.substr(prefix.size()) : detail;
}

}  // namespace

std::vector<CheckRow> Check(const AgentConfig& config) {
  std::vector<CheckRow> rows;
  StopSignal never;

  CheckRow server{"server", "server", HostOf(config.server_url), "FAIL", ""};
  std::optional<Cursors> cursors;
  if (Status files = CheckFiles(config); !files.ok()) {
    server.detail = files.error().detail;
  } else if (auto client = MakeServerClient(config, never, SystemClock::Instance()); !client.ok()) {
    server.detail = client.error().detail;
  } else if (auto got = (*client)->GetCursors(); !got.ok()) {
    const Error& e = got.error();
    if (e.code == Code::kUnauthenticated || e.code == Code::kPermissionDenied) {
      server.detail = "client certificate refused (" + Cut(e.detail, 60) + "): enrolled with this server?";
    } else {
      server.detail = Explain(e.detail, false);
    }
  } else {
    cursors = std::move(*got);
    server.result = "OK";
    server.detail = "client certificate accepted; " + std::to_string(cursors->size()) + " source cursor(s) stored";
  }
  rows.push_back(std::move(server));

  for (const SourceConfig& source : config.sources) {
    CheckRow row{source.name, source.type, Target(source), "FAIL", ""};
    auto collector = MakeCollector(source, &never.flag());
    if (!collector.ok()) {
      row.detail = StripSourcePrefix(collector.error().detail, source.name);
      rows.push_back(std::move(row));
      continue;
    }
    std::string cursor;
    if (cursors) {
      auto it = cursors->find(source.name);
      if (it != cursors->end()) cursor = it->second;
    }
    Result<std::string> probe = Internal("not probed");
    try {
      probe = (*collector)->Probe(cursor);
    } catch (...) {
      probe = Internal("internal error in the collector (exception)");
    }
    if (probe.ok()) {
      row.result = "OK";
      row.detail = *probe;
    } else {
      row.detail = Explain(StripSourcePrefix(probe.error().detail, source.name), !source.pin_sha256.empty());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

bool AllChecksOk(const std::vector<CheckRow>& rows) {
  return std::all_of(rows.begin(), rows.end(), [](const CheckRow& r) { return r.result == "OK"; });
}

std::string FormatCheckTable(const std::vector<CheckRow>& rows) {
  const char* headers[] = {"NAME", "TYPE", "TARGET", "RESULT", "DETAIL"};
  size_t width[4] = {4, 4, 6, 6};
  for (const CheckRow& r : rows) {
    width[0] = std::max(width[0], r.name.size());
    width[1] = std::max(width[1], r.type.size());
    width[2] = std::max(width[2], r.target.size());
    width[3] = std::max(width[3], r.result.size());
  }
  auto line = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& d,
                  const std::string& e) {
    std::string out;
    const std::string* cols[] = {&a, &b, &c, &d};
    for (size_t i = 0; i < 4; ++i) out += *cols[i] + std::string(width[i] - cols[i]->size() + 2, ' ');
    return out + e + "\n";
  };
  std::string out = line(headers[0], headers[1], headers[2], headers[3], headers[4]);
  for (const CheckRow& r : rows) out += line(r.name, r.type, r.target, r.result, r.detail);
  return out;
}

// ---------------------------------------------------------------- Run

void RunLoop(const AgentConfig& config, StopSignal& stop, LoopParts parts) {
  if (!parts.random) parts.random = std::make_unique<SystemRandom>();
  auto agent = std::make_shared<Agent>(config, stop, std::move(parts));
  agent->RunThreads();
}

Status Run(const AgentConfig& config, StopSignal& stop) {
  PARLEY_TRY(CheckFiles(config));
  LoopParts parts;
  PARLEY_ASSIGN_OR_RETURN(parts.collectors, MakeCollectors(config, stop));
  const Clock& clock = SystemClock::Instance();
  parts.clock = &clock;
  PARLEY_ASSIGN_OR_RETURN(parts.collect_server, MakeServerClient(config, stop, clock));
  for (int64_t i = 0; i < std::max<int64_t>(1, config.uploads_in_flight); ++i) {
    PARLEY_ASSIGN_OR_RETURN(auto upload, MakeServerClient(config, stop, clock));
    parts.upload_servers.push_back(std::move(upload));
  }
  PARLEY_ASSIGN_OR_RETURN(parts.heartbeat_server, MakeServerClient(config, stop, clock));
  parts.random = std::make_unique<SystemRandom>();

  if (parts.collectors.empty()) log::warn("no [[sources]] configured: only heartbeats will be sent");
  log::info("parley-agent {} starting: {} source(s), server {}", kAgentVersion, parts.collectors.size(),
            config.server_url);
  RunLoop(config, stop, std::move(parts));
  log::info("parley-agent stopped");
  return Ok();
}

// ---------------------------------------------------------------- Enroll

Result<EnrollResult> Enroll(const EnrollOptions& options) {
  if (!IsCredentialFreeHttpsUrl(options.server_url))
    return InvalidArgument("--server must be https://host:port without credentials");
  std::string server_url = options.server_url;
  while (server_url.back() == '/') server_url.pop_back();
  if (options.token.empty()) return InvalidArgument("no enrollment token (set PARLEY_ENROLL_TOKEN or --token-file)");
  PARLEY_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(options.ca_file));

  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(options.dir, ec)) {
    if (!fs::create_directories(options.dir, ec))
      return Internal("cannot create " + options.dir.string() + ": " + ec.message());
    fs::permissions(options.dir, fs::perms::owner_all, ec);
  }
  const fs::path key_file = options.dir / "agent.key";
  const fs::path cert_file = options.dir / "agent.crt";
  const fs::path ca_file = options.dir / "server-ca.crt";
  const fs::path config_file = options.dir / "agent.toml";
  if (fs::exists(cert_file, ec))
    return AlreadyExists(cert_file.string() + " exists: this directory is already enrolled (remove it to enroll again)");

  std::string name = options.name;
  if (name.empty()) {
    char host[256] = {0};
    if (::gethostname(host, sizeof host - 1) == 0) name = host;
    if (name.empty()) name = "parley-agent";
  }

  std::string key_pem = crypto::GenerateEcPrivateKeyPem();
  PARLEY_TRY(WriteFileAtomic(key_file, key_pem, 0600));
  PARLEY_ASSIGN_OR_RETURN(std::string csr, crypto::MakeCsr(key_pem, name));

  HttpClientOptions http_options;
  http_options.ca_file = options.ca_file;
  PARLEY_ASSIGN_OR_RETURN(auto http, HttpClient::Create(std::move(http_options)));
  ServerClient server(server_url, std::move(http), SystemClock::Instance());
  PARLEY_ASSIGN_OR_RETURN(EnrollResponse response, server.Enroll({options.token, csr, name}));

  PARLEY_TRY(WriteFileAtomic(cert_file, response.certificate, 0644));
  PARLEY_TRY(WriteFileAtomic(ca_file, ca_pem, 0644));
  EnrollResult result;
  result.agent_id = response.agent_id;
  result.config_file = config_file;
  if (!fs::exists(config_file, ec)) {
    PARLEY_TRY(WriteFileAtomic(config_file, RenderAgentConfig(server_url), 0644));
    result.config_written = true;
  }
  return result;
}

}  // namespace parley::agent
