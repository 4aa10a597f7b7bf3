#include "agent/collector.h"

#include "agent/dma_collector.h"

namespace parley::agent {

std::string_view SourceStatusName(SourceStatus status) {
  switch (status) {
    case SourceStatus::kOk: return "ok";
    case SourceStatus::kDegraded: return "degraded";
    case SourceStatus::kFailing: return "failing";
  }
  return "failing";
}

Result<std::unique_ptr<Collector>> MakeCollector(const SourceConfig& source, const std::atomic<bool>* abort) {
  if (source.type == "dma") {
    auto c = DmaCollector::Create(source, abort);
    if (!c.ok()) return c.error();
    return std::unique_ptr<Collector>(std::move(*c));
  }
  return ConfigError("source " + source.name + ": unknown type \"" + source.type + "\"");
}

}  // namespace parley::agent
