#include "ingest/in_flight_batches.h"

namespace parley::ingest {

InFlightBatches::Ticket::Ticket(Ticket&& other) noexcept
    : owner_(other.owner_), agent_id_(std::move(other.agent_id_)) {
  other.owner_ = nullptr;
}

InFlightBatches::Ticket::~Ticket() {
  if (owner_ != nullptr) owner_->Leave(agent_id_);
}

InFlightBatches::Ticket InFlightBatches::Enter(const std::string& agent_id) {
  std::lock_guard lock(mu_);
  ++flights_[agent_id].working;
  return Ticket(this, agent_id);
}

void InFlightBatches::Leave(const std::string& agent_id) {
  {
    std::lock_guard lock(mu_);
    auto it = flights_.find(agent_id);
    if (it == flights_.end()) return;
    Flight& f = it->second;
    --f.working;
    ++f.finished;
    if (f.working == 0 && f.waiting == 0) flights_.erase(it);
  }
  changed_.notify_all();
}

uint64_t InFlightBatches::Finished(const Ticket& ticket) {
  std::lock_guard lock(mu_);
  return flights_.at(ticket.agent_id_).finished;  // present: the ticket counts in it
}

bool InFlightBatches::AwaitAnother(const Ticket& ticket, uint64_t since, std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  Flight& f = flights_.at(ticket.agent_id_);
  if (f.finished != since) return true;
  if (f.working <= 1) return false;  // only this batch works: nobody to wait for
  --f.working;
  ++f.waiting;
  // Others waiting may now find that nobody works any more.
  changed_.notify_all();
  const bool another_finished =
      changed_.wait_for(lock, limit, [&] { return f.finished != since || f.working == 0; }) && f.finished != since;
  --f.waiting;
  ++f.working;
  return another_finished;
}

int InFlightBatches::Working(const std::string& agent_id) {
  std::lock_guard lock(mu_);
  auto it = flights_.find(agent_id);
  return it == flights_.end() ? 0 : it->second.working;
}

}  // namespace parley::ingest
