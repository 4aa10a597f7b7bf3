// Logging. Parley logs never carry personal data or secrets: log identifiers
// (tenant id, agent id, batch id, counts), never names, numbers, addresses,
// e-mail addresses, passwords, tokens or keys. Tests grep the logs for the
// emulated personal data. Thin wrapper over spdlog so the rule has one home.
#pragma once

#include <spdlog/spdlog.h>

namespace parley::log {

// Sets up the process-wide logger: `component` prefixes each line, `level` is
// one of trace, debug, info, warn, error.
void Init(const std::string& component, const std::string& level = "info");

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::warn;

}  // namespace parley::log
