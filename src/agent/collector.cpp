#include "agent/collector.h"

#include "agent/cucm_collector.h"
#include "agent/dma_collector.h"
#include "agent/pexip_collector.h"
#include "agent/rprm_collector.h"
#include "agent/kamailio_collector.h"

namespace parley::agent {

std::string_view SourceStatusName(SourceStatus status) {
  switch (status) {
    case SourceStatus::kOk: return "ok";
    case SourceStatus::kDegraded: return "degraded";
    case SourceStatus::kFailing: return "failing";
  }
  return "failing";
}

Result<std::string> Collector::Probe(const std::string& cursor) {
  auto page = FetchAfter(cursor, 1);
  if (!page.ok()) return page.error();
  if (page->records.empty()) return std::string("reachable; nothing new after the server's cursor");
  return std::string("reachable; new records after the server's cursor");
}

Result<std::unique_ptr<Collector>> MakeCollector(const SourceConfig& source, const std::atomic<bool>* abort) {
  if (source.type == "dma") {
    auto c = DmaCollector::Create(source, abort);
    if (!c.ok()) return c.error();
    return std::unique_ptr<Collector>(std::move(*c));
  }
  if (source.type == "kamailio") {
    auto c = KamailioCollector::Create(source);
    if (!c.ok()) return c.error();
    return std::unique_ptr<Collector>(std::move(*c));
  }
  if (source.type == "rprm") {
    auto c = RprmCollector::Create(source, abort);
    if (!c.ok()) return c.error();
    return std::unique_ptr<Collector>(std::move(*c));
  }
  if (source.type == "cucm") {
    auto c = CucmCollector::Create(source, SystemClock::Instance());
    if (!c.ok()) return c.error();
    return std::unique_ptr<Collector>(std::move(*c));
  }
  if (source.type == "pexip") {
    auto c = PexipCollector::Create(source, abort, SystemClock::Instance());
    if (!c.ok()) return c.error();
    return std::unique_ptr<Collector>(std::move(*c));
  }
  return ConfigError("source " + source.name + ": unknown type \"" + source.type + "\"");
}

}  // namespace parley::agent
