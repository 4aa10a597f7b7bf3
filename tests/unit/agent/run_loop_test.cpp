// The run loop keeps going when sources misbehave: a collector that fails,
// one that throws, one that hangs forever do not stop a good source from
// shipping everything, the heartbeat reports each of them (ok / failing with
// a short last_error), and the agent still stops on request even though the
// hanging collector never returns in time.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "agent/agent_loop.h"
#include "wire/wire.h"

namespace parley::agent {
namespace {

using namespace std::chrono_literals;

// What the fake server saw, shared by its three clients.
struct ServerState {
  std::mutex mu;
  std::condition_variable cv;
  Cursors cursors;
  std::map<std::string, size_t> records;  // per source
  std::vector<SourceReport> last_heartbeat;
  size_t heartbeats = 0;
  bool saw_after = false;  // a cursor line named the cursor it follows
};

class FakeServer final : public ServerClient {
 public:
  explicit FakeServer(std::shared_ptr<ServerState> state)
      : ServerClient("https://server.test", nullptr, SystemClock::Instance()), state_(std::move(state)) {}

  Result<Cursors> GetCursors() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->cursors;
  }
  Result<UploadResult> UploadBatch(const std::string&, const std::string& body) override {
    wire::ParseOutcome parsed = wire::ParseBatch(body, wire::BatchLimits{});
    if (!parsed.batch) return InvalidArgument("server answered HTTP 400: " + parsed.summary);
    std::lock_guard<std::mutex> lock(state_->mu);
    UploadResult r;
    r.batch_id = "b";
    for (const auto& c : parsed.batch->calls) ++state_->records[c.source];
    r.accepted = static_cast<int64_t>(parsed.batch->calls.size());
    for (const auto& c : parsed.batch->cursors) {
      state_->cursors[c.source] = c.value;
      state_->saw_after |= c.after.has_value();
    }
    r.cursors = state_->cursors;
    state_->cv.notify_all();
    return r;
  }
  Result<HeartbeatResponse> Heartbeat(const HeartbeatRequest& request) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->last_heartbeat = request.sources;
    ++state_->heartbeats;
    state_->cv.notify_all();
    return HeartbeatResponse{};
  }
  std::optional<std::chrono::seconds> last_retry_after() const override { return std::nullopt; }

 private:
  std::shared_ptr<ServerState> state_;
};

class FakeCollector : public Collector {
 public:
  explicit FakeCollector(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "fake"; }
  SourceHealth health() const override { return {}; }

 private:
  std::string name_;
};

// `total` calls, pages of at most max_records; the cursor is the count sent.
class GoodCollector final : public FakeCollector {
 public:
  explicit GoodCollector(size_t total = 25, std::string name = "good") : FakeCollector(name), total_(total) {}
  Result<CollectedPage> FetchAfter(const std::string& cursor, size_t max_records) override {
    size_t from = cursor.empty() ? 0 : std::stoul(cursor);
    CollectedPage page;
    size_t to = std::min<size_t>(total_, from + max_records);
    for (size_t i = from; i < to; ++i) {
      wire::CallRecord r;
      r.source = name();
      r.id = "call-" + std::to_string(i);
      r.start = 1796371200 + static_cast<int64_t>(i) * 60;
      r.end = r.start + 30;
      r.duration_s = 30;
      r.protocol = "SIP";
      page.records.emplace_back(std::move(r));
    }
    page.next_cursor = std::to_string(to);
    page.more = to < total_;
    return page;
  }

 private:
  size_t total_;
};

// Fails every time and (a bug) never says so in health().
class FailingCollector final : public FakeCollector {
 public:
  FailingCollector() : FakeCollector("failing") {}
  Result<CollectedPage> FetchAfter(const std::string&, size_t) override {
    return Unavailable("device answered HTTP 503");
  }
};

// Throws from both FetchAfter and health().
class ThrowingCollector final : public FakeCollector {
 public:
  ThrowingCollector() : FakeCollector("throwing") {}
  Result<CollectedPage> FetchAfter(const std::string&, size_t) override { throw std::runtime_error("boom"); }
  SourceHealth health() const override { throw std::logic_error("health boom"); }
};

// Blocks in FetchAfter until the test releases it, ignoring the stop signal
// (like a read on a hung network file system).
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  bool entered = false;
  bool returned = false;
  bool destroyed = false;
};

class HangingCollector final : public FakeCollector {
 public:
  explicit HangingCollector(std::shared_ptr<Latch> latch) : FakeCollector("hanging"), latch_(std::move(latch)) {}
  ~HangingCollector() override {
    std::lock_guard<std::mutex> lock(latch_->mu);
    latch_->destroyed = true;
    latch_->cv.notify_all();
  }
  Result<CollectedPage> FetchAfter(const std::string&, size_t) override {
    std::unique_lock<std::mutex> lock(latch_->mu);
    latch_->entered = true;
    latch_->cv.notify_all();
    latch_->cv.wait(lock, [&] { return latch_->released; });
    latch_->returned = true;
    latch_->cv.notify_all();
    return CollectedPage{};
  }

 private:
  std::shared_ptr<Latch> latch_;
};

// Pages of 10, 4 in memory, 1 s polls and backoff, rare heartbeats.
AgentConfig FastConfig(int64_t uploads_in_flight) {
  AgentConfig config;
  config.server_url = "https://server.test";
  config.poll_interval_seconds = 1;
  config.heartbeat_interval_seconds = 60;
  config.max_batch_records = 10;
  config.max_batches_in_memory = 4;
  config.backoff_cap_seconds = 1;
  config.uploads_in_flight = uploads_in_flight;
  return config;
}

const SourceReport* Find(const std::vector<SourceReport>& reports, const std::string& name) {
  for (const auto& r : reports)
    if (r.name == name) return &r;
  return nullptr;
}

TEST(RunLoop, MisbehavingSourcesDegradeOnlyThemselves) {
  AgentConfig config = FastConfig(/*uploads_in_flight=*/1);
  config.heartbeat_interval_seconds = 1;

  auto state = std::make_shared<ServerState>();
  auto latch = std::make_shared<Latch>();
  LoopParts parts;
  parts.collectors.push_back(std::make_unique<HangingCollector>(latch));
  parts.collectors.push_back(std::make_unique<ThrowingCollector>());
  parts.collectors.push_back(std::make_unique<FailingCollector>());
  parts.collectors.push_back(std::make_unique<GoodCollector>());
  parts.collect_server = std::make_unique<FakeServer>(state);
  parts.upload_servers.push_back(std::make_unique<FakeServer>(state));
  parts.heartbeat_server = std::make_unique<FakeServer>(state);
  parts.stall_after = 1s;
  parts.stop_grace = 1s;

  StopSignal stop;
  std::thread loop([&] { RunLoop(config, stop, std::move(parts)); });

  // Everything from the good source arrives, and a heartbeat tells the
  // state of each source.
  bool seen = false;
  {
    std::unique_lock<std::mutex> lock(state->mu);
    seen = state->cv.wait_for(lock, 20s, [&] {
      const auto& hb = state->last_heartbeat;
      const SourceReport* hanging = Find(hb, "hanging");
      const SourceReport* throwing = Find(hb, "throwing");
      const SourceReport* failing = Find(hb, "failing");
      const SourceReport* good = Find(hb, "good");
      return state->records["good"] == 25 && hanging && throwing && failing && good &&
             hanging->health.status == SourceStatus::kFailing &&
             throwing->health.status == SourceStatus::kFailing &&
             failing->health.status == SourceStatus::kFailing && good->health.status == SourceStatus::kOk;
    });
  }
  std::vector<SourceReport> hb;
  {
    std::lock_guard<std::mutex> lock(state->mu);
    hb = state->last_heartbeat;
    EXPECT_EQ(state->records["good"], 25u);
    EXPECT_EQ(state->cursors["good"], "25");
  }
  EXPECT_TRUE(seen) << "the good source was held up, or a bad one was not reported";
  if (seen) {
    EXPECT_NE(Find(hb, "hanging")->health.last_error->find("collection stalled"), std::string::npos);
    EXPECT_EQ(*Find(hb, "throwing")->health.last_error, "internal error in the collector (health)");
    EXPECT_EQ(*Find(hb, "failing")->health.last_error, "device answered HTTP 503");
    EXPECT_FALSE(Find(hb, "good")->health.last_error);
  }

  // Stop: RunLoop returns although the hanging collector is still inside FetchAfter.
  auto t0 = std::chrono::steady_clock::now();
  stop.Request();
  loop.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  {
    std::unique_lock<std::mutex> lock(latch->mu);
    EXPECT_TRUE(latch->entered);
    EXPECT_FALSE(latch->returned);
    // Released later, the abandoned thread finishes and frees the agent.
    latch->released = true;
    latch->cv.notify_all();
    EXPECT_TRUE(latch->cv.wait_for(lock, 5s, [&] { return latch->destroyed; }));
  }
}

// ---- Several uploads in flight

// A server that keeps a source's batches in order as the real one does: a
// batch whose "after" is not the stored cursor is refused with kAborted,
// nothing stored; a known batch id is a duplicate. Each batch is applied
// after `hold` returns, outside the lock, so batches overtake each other.
struct OrderedServerState {
  std::mutex mu;
  std::condition_variable cv;
  Cursors cursors;
  std::map<std::string, int> stored;  // call id -> times stored
  std::set<std::string> batch_ids;
  int aborted = 0;
  int refused = 0;
  int lost_answers = 0;
  std::function<void(const std::string& next_cursor)> hold;  // runs before a batch is applied
  std::set<std::string> lose_answer_of;                      // next cursors: stored, answer lost (once)
  std::set<std::string> refuse;                              // next cursors: refused with 400 (once)
};

class OrderedServer final : public ServerClient {
 public:
  explicit OrderedServer(std::shared_ptr<OrderedServerState> state)
      : ServerClient("https://server.test", nullptr, SystemClock::Instance()), state_(std::move(state)) {}

  Result<Cursors> GetCursors() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->cursors;
  }
  Result<UploadResult> UploadBatch(const std::string& id, const std::string& body) override {
    wire::ParseOutcome parsed = wire::ParseBatch(body, wire::BatchLimits{});
    if (!parsed.batch || parsed.batch->cursors.size() != 1) return InvalidArgument("server answered HTTP 400");
    const wire::CursorUpdate cursor = parsed.batch->cursors[0];
    if (state_->hold) state_->hold(cursor.value);
    std::lock_guard<std::mutex> lock(state_->mu);
    UploadResult r;
    r.batch_id = id;
    if (state_->batch_ids.count(id)) {
      r.duplicate = true;
      r.cursors = state_->cursors;
      return r;
    }
    if (state_->refuse.erase(cursor.value)) {
      ++state_->refused;
      return InvalidArgument("server answered HTTP 400 invalid_batch: line 1: refused by the test");
    }
    auto stored = state_->cursors.find(cursor.source);
    if (!cursor.after || *cursor.after != (stored == state_->cursors.end() ? "" : stored->second)) {
      ++state_->aborted;
      state_->cv.notify_all();
      return Aborted("server answered HTTP 409 aborted: the batch follows a cursor that is not stored yet");
    }
    state_->batch_ids.insert(id);
    for (const auto& c : parsed.batch->calls) ++state_->stored[c.id];
    r.accepted = static_cast<int64_t>(parsed.batch->calls.size());
    state_->cursors[cursor.source] = cursor.value;
    r.cursors = state_->cursors;
    state_->cv.notify_all();
    if (state_->lose_answer_of.erase(cursor.value)) {
      ++state_->lost_answers;
      return Unavailable("transport failure: connection reset");
    }
    return r;
  }
  Result<HeartbeatResponse> Heartbeat(const HeartbeatRequest&) override { return HeartbeatResponse{}; }
  std::optional<std::chrono::seconds> last_retry_after() const override { return std::chrono::seconds(0); }

 private:
  std::shared_ptr<OrderedServerState> state_;
};

// Two uploads in flight: batches overtake their predecessors (the first one
// is held until a later one was refused), one answer is lost after the batch
// was stored, one batch is refused outright. Every call is still stored
// exactly once and the cursor ends at the last call.
TEST(RunLoop, TwoUploadsInFlightStoreEveryCallOnceInOrder) {
  const AgentConfig config = FastConfig(/*uploads_in_flight=*/2);
  auto state = std::make_shared<OrderedServerState>();
  state->lose_answer_of = {"50"};
  state->refuse = {"80"};
  state->hold = [s = state.get()](const std::string& next) {
    if (next != "10") return;
    std::unique_lock<std::mutex> lock(s->mu);
    s->cv.wait_for(lock, 5s, [&] { return s->aborted > 0; });  // the first batch waits to be overtaken
  };
  LoopParts parts;
  parts.collectors.push_back(std::make_unique<GoodCollector>(200));
  parts.collect_server = std::make_unique<OrderedServer>(state);
  for (int i = 0; i < 2; ++i) parts.upload_servers.push_back(std::make_unique<OrderedServer>(state));
  parts.heartbeat_server = std::make_unique<OrderedServer>(state);
  StopSignal stop;
  std::thread loop([&] { RunLoop(config, stop, std::move(parts)); });
  bool done = false;
  {
    std::unique_lock<std::mutex> lock(state->mu);
    done = state->cv.wait_for(lock, 30s, [&] { return state->cursors["good"] == "200"; });
  }
  stop.Request();
  loop.join();
  std::lock_guard<std::mutex> lock(state->mu);
  EXPECT_TRUE(done) << "cursor at " << state->cursors["good"];
  EXPECT_EQ(state->stored.size(), 200u);
  for (const auto& [id, times] : state->stored) EXPECT_EQ(times, 1) << id;
  EXPECT_GE(state->aborted, 1);  // the first batch was overtaken
  EXPECT_EQ(state->lost_answers, 1);
  EXPECT_EQ(state->refused, 1);
}

// With one upload in flight the cursor line stays as servers before "after"
// know it.
TEST(RunLoop, OneUploadInFlightSendsNoAfter) {
  const AgentConfig config = FastConfig(/*uploads_in_flight=*/1);
  auto state = std::make_shared<ServerState>();
  LoopParts parts;
  parts.collectors.push_back(std::make_unique<GoodCollector>(25));
  parts.collect_server = std::make_unique<FakeServer>(state);
  parts.upload_servers.push_back(std::make_unique<FakeServer>(state));
  parts.heartbeat_server = std::make_unique<FakeServer>(state);
  StopSignal stop;
  std::thread loop([&] { RunLoop(config, stop, std::move(parts)); });
  {
    std::unique_lock<std::mutex> lock(state->mu);
    EXPECT_TRUE(state->cv.wait_for(lock, 20s, [&] { return state->records["good"] == 25; }));
    EXPECT_FALSE(state->saw_after);
  }
  stop.Request();
  loop.join();
}

}  // namespace
}  // namespace parley::agent
