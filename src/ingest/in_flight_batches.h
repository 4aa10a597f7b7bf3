// Orders one agent's concurrent batches on this server instance.
//
// An agent may have several batches of one source in flight at once, each
// naming the cursor it follows (wire "after"); the store refuses a batch
// whose predecessor is not stored yet (Code::kAborted, store.h). Over two
// connections the later batch can reach the store first, so a refused batch
// does not give up while another batch of the same agent is still being
// parsed or stored here: it waits for that one to finish and tries again.
// Waiting cannot help once every other batch of the agent is waiting too (or
// none is here: the predecessor is on another instance, or lost): then the
// refusal stands and the agent resends after its predecessor's answer.
//
// Thread-safe. A Ticket must not outlive the InFlightBatches that issued it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace parley::ingest {

class InFlightBatches {
 public:
  // One batch of one agent, counted as working from Enter until it waits or
  // is destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();

   private:
    friend class InFlightBatches;
    Ticket(InFlightBatches* owner, std::string agent_id) : owner_(owner), agent_id_(std::move(agent_id)) {}
    InFlightBatches* owner_;  // null once moved from
    std::string agent_id_;
  };

  Ticket Enter(const std::string& agent_id);

  // How many of the ticket's agent's batches have finished so far: taken
  // before a commit attempt, so one finishing during it is not missed.
  uint64_t Finished(const Ticket& ticket);

  // Waits (at most `limit`) until another batch of the ticket's agent has
  // finished since `since` (a Finished value). True if one has (worth
  // retrying the commit); false at once if none has and no other batch of the
  // agent is working, or after `limit`.
  bool AwaitAnother(const Ticket& ticket, uint64_t since, std::chrono::milliseconds limit);

  // For tests: batches of the agent currently working (not waiting).
  int Working(const std::string& agent_id);

 private:
  struct Flight {
    int working = 0;
    int waiting = 0;
    uint64_t finished = 0;  // batches of the agent that left since the entry was made
  };
  void Leave(const std::string& agent_id);

  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, Flight, std::less<>> flights_;  // GUARDED_BY(mu_); erased when empty
};

}  // namespace parley::ingest
