// The agent's run loop with its collaborators injected. Run() (agent.h)
// builds the real ones from the configuration; tests pass fakes: a
// ServerClient subclass standing in for the server, collectors that fail,
// throw or hang, a FakeClock.
//
// Per source, one collecting thread: a source that fails, throws or hangs
// holds up no other source (it keeps at most the one batch slot it took
// before fetching). What the loop itself sees is part of the source's
// heartbeat health, on top of the collector's own health():
//   - a fetch that returned an error or threw -> failing, with the error's
//     detail or "internal error in the collector (exception)";
//   - a fetch running longer than stall_after -> failing, "no answer from the
//     source for N s (collection stalled)";
//   - records the server would refuse -> degraded; a batch it refused -> failing.
// On stop, source threads get stop_grace to return; one still stuck in a call
// is left behind (logged) so the agent still stops.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "agent/agent.h"
#include "agent/backoff.h"
#include "agent/collector.h"
#include "agent/server_client.h"
#include "common/clock.h"

namespace parley::agent {

struct LoopParts {
  const Clock* clock = &SystemClock::Instance();  // outlives the loop (and any source thread left behind)
  std::unique_ptr<Random> random;                  // default: SystemRandom
  std::vector<std::unique_ptr<Collector>> collectors;
  std::unique_ptr<ServerClient> collect_server;    // cursors (shared by the source threads, one at a time)
  // One uploading thread each; config.uploads_in_flight of them in Run().
  std::vector<std::unique_ptr<ServerClient>> upload_servers;
  std::unique_ptr<ServerClient> heartbeat_server;
  std::chrono::seconds stall_after{300};
  std::chrono::seconds stop_grace{10};
};

// Runs until stop is requested. REQUIRES: collect_server, heartbeat_server
// and at least one upload server set; `stop` outlives every source thread.
void RunLoop(const AgentConfig& config, StopSignal& stop, LoopParts parts);

}  // namespace parley::agent
