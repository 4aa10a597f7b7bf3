// What the emulated DMA and RPRM APIs share: HTTP Basic credentials and the
// fault flags (docs/devsim.md "Fault flags").
//
// Faults come from two places:
//   - rules given at start (`--fault KIND[/N]`): the fault hits every N-th
//     authenticated, well-formed request to that API (N = 1: every request),
//     counted per API from 1, so a run is reproducible;
//   - a single request: header `X-Devsim-Fault: KIND[,KIND...]` or query
//     parameter `devsim-fault=KIND[,KIND...]`; `X-Devsim-Delay-Ms` /
//     `devsim-delay-ms` set the delay of `slow` for that request.
// KIND is one of 401, 429 (with Retry-After), 500, slow (answer after a
// delay), malformed (200 with the body cut in half: invalid JSON or a broken
// ZIP), repeat (a paged list ignores `after` and serves its first page again).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::devsim {

struct Credentials {
  std::string user;
  std::string password;
};

enum class Fault : uint8_t { kUnauthorized, kTooManyRequests, kServerError, kSlow, kMalformed, kRepeat };

// "401", "429", "500", "slow", "malformed", "repeat".
std::string_view FaultName(Fault fault);
std::optional<Fault> ParseFault(std::string_view name);

struct FaultRule {
  Fault fault = Fault::kServerError;
  uint32_t every = 1;  // hits requests number every, 2*every, ... (1 = all)
};

// "KIND" or "KIND/N" (N >= 1), e.g. "429/5".
Result<FaultRule> ParseFaultRule(std::string_view spec);

inline constexpr std::chrono::milliseconds kMaxFaultDelay{120000};

struct ApiOptions {
  std::vector<FaultRule> faults;                 // standing rules
  std::chrono::milliseconds slow_delay{3000};    // delay of `slow` (0..kMaxFaultDelay)
  int retry_after_s = 5;                         // Retry-After of `429`
  // How `slow` waits. Empty: std::this_thread::sleep_for. Tests pass a
  // recorder; the process passes a sleep that ends early on shutdown.
  std::function<void(std::chrono::milliseconds)> sleep;
};

}  // namespace parley::devsim
