#include "agent/agent.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

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

// Per-source state shared by the three threads (guarded by Agent::mu_ except
// the collector pointer, which is fixed).
struct SourceState {
  std::unique_ptr<Collector> collector;
  std::string cursor;          // where the next fetch starts (after the last queued batch)
  uint64_t generation = 0;     // bumped to invalidate batches built before a reset
  bool needs_resync = true;    // re-read the server's cursor before fetching
  size_t outstanding = 0;      // batches queued or in flight
  TimePoint not_before{};      // rest until then (caught up, or after a failure)
  SourceStatus upload_status = SourceStatus::kOk;
  std::optional<std::string> upload_error;
  SourceStatus build_status = SourceStatus::kOk;
  std::optional<std::string> build_error;
};

// "server answered HTTP 400 invalid_argument: line 3: ..." -> the part before
// the server's detail, for last_error (short, no personal data).
std::string ShortError(const std::string& detail) {
  auto cut = detail.find(": ");
  return cut == std::string::npos ? detail : detail.substr(0, cut);
}

class Agent {
 public:
  Agent(const AgentConfig& config, StopSignal& stop, const Clock& clock, Random& random,
        std::vector<std::unique_ptr<Collector>> collectors, std::unique_ptr<ServerClient> collect_server,
        std::unique_ptr<ServerClient> upload_server, std::unique_ptr<ServerClient> heartbeat_server)
      : config_(config),
        stop_(stop),
        clock_(clock),
        random_(random),
        queue_(static_cast<size_t>(config.max_batches_in_memory)),
        collect_server_(std::move(collect_server)),
        upload_server_(std::move(upload_server)),
        heartbeat_server_(std::move(heartbeat_server)),
        started_(clock.Now()) {
    for (auto& c : collectors) {
      states_.emplace_back();
      states_.back().collector = std::move(c);
    }
  }

  void RunThreads() {
    std::thread collect([this] { CollectLoop(); });
    std::thread upload([this] { UploadLoop(); });
    std::thread heartbeat([this] { HeartbeatLoop(); });
    stop_.Wait();
    queue_.Close();
    collect.join();
    upload.join();
    heartbeat.join();
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

  // ------------------------------------------------------- collecting thread

  void CollectLoop() {
    Backoff backoff(Policy(), random_, clock_);
    size_t next_index = 0;
    while (!stop_.requested()) {
      if (ResyncPending()) {
        auto cursors = collect_server_->GetCursors();
        if (!cursors.ok()) {
          log::warn("cannot read cursors from the server: {}", cursors.error().detail);
          if (WaitBeforeRetry(*collect_server_, backoff)) break;
          continue;
        }
        backoff.Reset();
        ApplyServerCursors(*cursors);
      }
      std::optional<size_t> index = PickReadySource(next_index);
      if (!index) continue;  // PickReadySource waited
      next_index = *index + 1;
      CollectOnce(*index);
    }
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

  // Round-robin from `start`: the first source not resting. When none is
  // ready, sleeps until the earliest one is (at most 1 s while a reset waits
  // for its batches to drain) and returns nullopt.
  std::optional<size_t> PickReadySource(size_t start) {
    TimePoint now = clock_.Now();
    TimePoint earliest = TimePoint::max();
    bool resync_waiting = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < states_.size(); ++i) {
        size_t j = (start + i) % states_.size();
        const SourceState& s = states_[j];
        if (s.needs_resync) {
          resync_waiting = true;
          continue;
        }
        if (s.not_before <= now) return j;
        earliest = std::min(earliest, s.not_before);
      }
    }
    std::chrono::duration<double> wait = std::chrono::hours(1);
    if (earliest != TimePoint::max()) wait = earliest - now;
    if (resync_waiting) wait = std::min<std::chrono::duration<double>>(wait, std::chrono::seconds(1));
    stop_.WaitFor(wait);
    return std::nullopt;
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
    auto page = collector.FetchAfter(cursor, static_cast<size_t>(config_.max_batch_records));
    if (!page.ok()) {
      queue_.ReleaseSlot();
      log::warn("{}: collection failed: {}", collector.name(), page.error().detail);
      Rest(index, clock_.Now() + PollInterval());
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
                            static_cast<size_t>(config_.max_batch_records), crypto::RandomUuid(), &rejected);
    for (const RejectedRecord& r : rejected)
      log::warn("{}: skipped call {}: the server would refuse it ({})", collector.name(), r.id.substr(0, 64), r.reason);
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
      state.cursor = batch->next_cursor;
      ++state.outstanding;
      if (!more) state.not_before = clock_.Now() + PollInterval();
    }
    log::debug("{}: queued batch of {} record(s)", collector.name(), batch->records);
    queue_.Push(std::move(*batch));
  }

  // -------------------------------------------------------- uploading thread

  void UploadLoop() {
    Backoff backoff(Policy(), random_, clock_);
    while (std::optional<BuiltBatch> batch = queue_.Pop()) {
      size_t index = IndexOf(batch->source);
      UploadOne(index, *batch, backoff);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --states_[index].outstanding;
      }
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

  // Drops the source's pipeline and makes the collector re-read the server's
  // cursor (no earlier than `not_before`).
  void Reset(size_t index, TimePoint not_before) {
    std::lock_guard<std::mutex> lock(mu_);
    SourceState& s = states_[index];
    ++s.generation;
    s.needs_resync = true;
    s.not_before = std::max(s.not_before, not_before);
  }

  void MarkUploaded(size_t index, const BuiltBatch& b, const UploadResult& r) {
    log::info("{}: batch {} stored: {} record(s) accepted, {} already present{}", b.source, r.batch_id, r.accepted,
              r.already_present, r.duplicate ? " (duplicate batch)" : "");
    {
      std::lock_guard<std::mutex> lock(mu_);
      states_[index].upload_status = SourceStatus::kOk;
      states_[index].upload_error.reset();
    }
    auto it = r.cursors.find(b.source);
    if (it == r.cursors.end() || it->second != b.next_cursor) {
      log::warn("{}: the server's cursor differs from the batch's; re-reading it", b.source);
      Reset(index, clock_.Now());
    }
  }

  void UploadOne(size_t index, const BuiltBatch& b, Backoff& backoff) {
    while (!stop_.requested() && !Stale(index, b)) {
      auto r = upload_server_->UploadBatch(b.idempotency_key, b.body);
      if (r.ok()) {
        backoff.Reset();
        MarkUploaded(index, b, *r);
        return;
      }
      const Error& err = r.error();
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
      if (WaitBeforeRetry(*upload_server_, backoff)) return;
      if (err.code != Code::kUnavailable) continue;  // 429: just resend

      // The server or the network failed: once it answers again, its cursor
      // says whether this batch was stored, is still due, or is obsolete.
      std::optional<Cursors> cursors;
      while (!stop_.requested() && !cursors) {
        auto c = upload_server_->GetCursors();
        if (c.ok()) {
          cursors = std::move(*c);
        } else {
          log::warn("{}: cannot read cursors: {}", b.source, c.error().detail);
          if (WaitBeforeRetry(*upload_server_, backoff)) return;
        }
      }
      if (!cursors) return;
      auto it = cursors->find(b.source);
      std::string server_cursor = it == cursors->end() ? std::string() : it->second;
      if (server_cursor == b.next_cursor && b.next_cursor != b.base_cursor) {
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

  std::vector<SourceReport> Health() {
    std::vector<SourceReport> out;
    for (const SourceState& s : states_) {
      SourceReport report{s.collector->name(), std::string(s.collector->type()), s.collector->health()};
      std::lock_guard<std::mutex> lock(mu_);
      for (auto [status, error] : {std::pair{s.upload_status, s.upload_error}, std::pair{s.build_status, s.build_error}}) {
        if (static_cast<int>(status) > static_cast<int>(report.health.status)) {
          report.health.status = status;
          report.health.last_error = error;
        }
      }
      out.push_back(std::move(report));
    }
    return out;
  }

  const AgentConfig& config_;
  StopSignal& stop_;
  const Clock& clock_;
  Random& random_;
  BatchQueue queue_;
  std::unique_ptr<ServerClient> collect_server_;    // collecting thread only
  std::unique_ptr<ServerClient> upload_server_;     // uploading thread only
  std::unique_ptr<ServerClient> heartbeat_server_;  // heartbeat thread only
  const TimePoint started_;
  std::mutex mu_;
  std::vector<SourceState> states_;  // fixed size; fields guarded by mu_ (see SourceState)
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

Status Check(const AgentConfig& config) {
  PARLEY_TRY(CheckFiles(config));
  StopSignal never;
  PARLEY_ASSIGN_OR_RETURN(auto collectors, MakeCollectors(config, never));
  log::info("configuration OK: {} source(s)", collectors.size());
  PARLEY_ASSIGN_OR_RETURN(auto server, MakeServerClient(config, never, SystemClock::Instance()));
  auto cursors = server->GetCursors();
  if (!cursors.ok()) return Unavailable("server " + config.server_url + ": " + cursors.error().detail);
  log::info("server {} reachable; client certificate accepted", config.server_url);
  for (auto& c : collectors) {
    auto it = cursors->find(c->name());
    auto page = c->FetchAfter(it == cursors->end() ? std::string() : it->second, 1);
    if (!page.ok()) return Unavailable("source " + c->name() + ": " + page.error().detail);
    log::info("source {}: reachable ({} new record(s) in a 1-record probe)", c->name(), page->records.size());
  }
  return Ok();
}

Status Run(const AgentConfig& config, StopSignal& stop) {
  PARLEY_TRY(CheckFiles(config));
  PARLEY_ASSIGN_OR_RETURN(auto collectors, MakeCollectors(config, stop));
  const Clock& clock = SystemClock::Instance();
  PARLEY_ASSIGN_OR_RETURN(auto collect_server, MakeServerClient(config, stop, clock));
  PARLEY_ASSIGN_OR_RETURN(auto upload_server, MakeServerClient(config, stop, clock));
  PARLEY_ASSIGN_OR_RETURN(auto heartbeat_server, MakeServerClient(config, stop, clock));
  SystemRandom random;

  if (collectors.empty()) log::warn("no [[sources]] configured: only heartbeats will be sent");
  log::info("parley-agent {} starting: {} source(s), server {}", kAgentVersion, collectors.size(),
            config.server_url);
  Agent agent(config, stop, clock, random, std::move(collectors), std::move(collect_server),
              std::move(upload_server), std::move(heartbeat_server));
  agent.RunThreads();
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
