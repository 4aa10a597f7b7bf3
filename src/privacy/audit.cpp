#include "privacy/audit.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <unordered_map>
#include <utility>
#include <vector>

namespace parley::privacy {

namespace json = boost::json;

namespace {

constexpr size_t kRefHexChars = 16;  // 64 bits: enough to correlate, too short to be a full index
constexpr int64_t kPage = 1000;

std::string Prefix(std::string_view s) { return std::string(s.substr(0, std::min(s.size(), kRefHexChars))); }

std::string Quote(std::string_view s) { return json::serialize(json::value(json::string(s))); }

}  // namespace

std::string AuditUser(std::string_view user_id) { return "user:" + std::string(user_id); }
std::string AuditAgent(std::string_view agent_id) { return "agent:" + std::string(agent_id); }
std::string AuditSession(std::string_view session_id_hash) { return "session:" + Prefix(session_id_hash); }
std::string AuditEmailIndex(std::string_view blind_index) { return "email_index:" + Prefix(blind_index); }

std::string KeyedRef(const crypto::Key256& key, std::string_view kind, std::string_view value) {
  std::string input = "parley:audit:" + std::string(kind) + ":" + std::string(value);
  return std::string(kind) + ":" + Prefix(crypto::ToHex(crypto::HmacSha256(key, input)));
}

std::string AuditLog::GenesisHash(std::string_view chain) {
  return crypto::Sha256Hex("parley:audit:v1:" + std::string(chain));
}

std::string AuditLog::CanonicalJson(const json::value& value) {
  if (value.is_object()) {
    const json::object& o = value.get_object();
    std::vector<std::pair<std::string_view, const json::value*>> items;
    items.reserve(o.size());
    for (const auto& kv : o) items.emplace_back(kv.key(), &kv.value());
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string out = "{";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ",";
      out += Quote(items[i].first) + ":" + CanonicalJson(*items[i].second);
    }
    return out + "}";
  }
  if (value.is_array()) {
    std::string out = "[";
    const json::array& a = value.get_array();
    for (size_t i = 0; i < a.size(); ++i) {
      if (i) out += ",";
      out += CanonicalJson(a[i]);
    }
    return out + "]";
  }
  return json::serialize(value);
}

std::string AuditLog::ComputeEntryHash(const store::AuditEntry& e) {
  // details_json is hashed as stored (Append stores it canonical; Verify
  // also checks that it still is).
  std::string canonical = "{\"action\":" + Quote(e.action) + ",\"actor\":" + Quote(e.actor) +
                          ",\"details\":" + e.details_json + ",\"outcome\":" + Quote(e.outcome) +
                          ",\"seq\":" + std::to_string(e.seq) + ",\"target\":" + Quote(e.target) +
                          ",\"time\":" + std::to_string(e.at) + "}";
  return crypto::Sha256Hex(e.prev_hash + canonical);
}

Result<store::AuditEntry> AuditLog::Append(std::string_view chain, std::string_view actor, std::string_view action,
                                           std::string_view target, std::string_view outcome,
                                           const json::object& details) {
  if (chain.empty() || actor.empty() || action.empty() || outcome.empty())
    return InvalidArgument("audit: chain, actor, action and outcome are required");
  store::AuditEntry draft;
  draft.tenant_id = std::string(chain);
  draft.at = clock_.NowUnixSeconds();
  draft.actor = std::string(actor);
  draft.action = std::string(action);
  draft.target = std::string(target);
  draft.outcome = std::string(outcome);
  draft.details_json = CanonicalJson(details);
  return store_.AppendAudit(draft, GenesisHash(chain),
                            [](const store::AuditEntry& e) -> Result<std::string> { return ComputeEntryHash(e); });
}

Result<AuditVerifyReport> AuditLog::Verify(std::string_view chain_view) {
  const std::string chain(chain_view);
  AuditVerifyReport report;
  report.chain = chain;
  // The whole chain is loaded so a bad link can be told apart from a
  // reordering (a link to some other entry of the chain).
  std::vector<store::AuditEntry> entries;
  for (int64_t after = 0;;) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> page, store_.ListAudit(chain, false, after, kPage));
    const bool last_page = static_cast<int64_t>(page.size()) < kPage;
    if (!page.empty()) after = page.back().seq;
    for (auto& e : page) entries.push_back(std::move(e));
    if (last_page) break;
  }
  PARLEY_ASSIGN_OR_RETURN(std::optional<store::AuditChainHead> head, store_.GetAuditHead(chain));
  report.entries = static_cast<int64_t>(entries.size());
  std::unordered_map<std::string, int64_t> seq_of_hash;
  for (const auto& e : entries) seq_of_hash.emplace(e.entry_hash, e.seq);

  auto fail = [&report](int64_t seq, std::string problem) {
    report.ok = false;
    report.bad_seq = seq;
    report.problem = std::move(problem);
    return report;
  };
  std::string expected_prev = GenesisHash(chain);
  int64_t expected_seq = 1;
  for (const store::AuditEntry& e : entries) {
    const std::string s = std::to_string(expected_seq);
    if (e.seq != expected_seq) {
      return fail(expected_seq, "entry " + s + " is missing (removed entry or gap in seq); the next stored entry is " +
                                    std::to_string(e.seq));
    }
    const std::string recomputed = ComputeEntryHash(e);
    if (e.prev_hash != expected_prev) {
      auto other = seq_of_hash.find(e.prev_hash);
      if (other != seq_of_hash.end() && other->second != e.seq - 1) {
        return fail(e.seq, "entries reordered or swapped: entry " + s + " links to entry " +
                               std::to_string(other->second) + " instead of entry " + std::to_string(e.seq - 1));
      }
      return fail(e.seq, "broken link: prev_hash of entry " + s + " does not match the hash of " +
                             (e.seq == 1 ? std::string("the chain's genesis") : "entry " + std::to_string(e.seq - 1)));
    }
    if (recomputed != e.entry_hash) {
      return fail(e.seq, "altered entry: the fields of entry " + s + " do not match its entry_hash");
    }
    boost::system::error_code ec;
    json::value details = json::parse(e.details_json, ec);
    if (ec || !details.is_object() || CanonicalJson(details) != e.details_json) {
      return fail(e.seq, "altered entry: details of entry " + s + " are not canonical JSON");
    }
    expected_prev = e.entry_hash;
    ++expected_seq;
  }
  const int64_t last = expected_seq - 1;
  if (!head) {
    if (last > 0) return fail(last, "chain head missing: chain_heads has no row for a chain of " +
                                        std::to_string(last) + " entries");
    return report;
  }
  if (head->seq > last) {
    return fail(last + 1, "entries " + std::to_string(last + 1) + ".." + std::to_string(head->seq) +
                              " removed from the end of the chain (chain head records seq " +
                              std::to_string(head->seq) + ")");
  }
  if (head->seq < last) {
    return fail(head->seq + 1, "entries after the recorded chain head (seq " + std::to_string(head->seq) +
                                   ") were not written by Parley, or the head was rolled back");
  }
  if (head->entry_hash != expected_prev) {
    return fail(last, "chain head hash does not match entry " + std::to_string(last) + " (last entry replaced)");
  }
  return report;
}

}  // namespace parley::privacy
