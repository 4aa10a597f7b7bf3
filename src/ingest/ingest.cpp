#include "ingest/ingest.h"

#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>

#include <boost/json.hpp>

#include "common/log.h"
#include "common/time_format.h"
#include "privacy/audit.h"
#include "privacy/search_terms.h"

namespace parley::ingest {

namespace json = boost::json;

namespace {

// Refused records named in one answer (all are counted).
constexpr size_t kMaxRefusedListed = 20;
// How long a batch that overtook its predecessor waits for one of the agent's
// other batches here to finish; well within the agent's 120 s request timeout.
constexpr std::chrono::milliseconds kPredecessorWait{30000};

constexpr IngestService::RouteInfo kRoutes[] = {
    {"POST", "/ingest/v1/enroll", "Exchange a one-time enrollment token and a CSR for an agent certificate", false},
    {"GET", "/ingest/v1/cursors", "The calling agent's per-source cursors", true},
    {"POST", "/ingest/v1/batches", "Upload one NDJSON batch of records and a cursor advance", true},
    {"POST", "/ingest/v1/heartbeat", "Report agent version, uptime and per-source health", true},
};

http::Response JsonOk(const json::value& v) { return http::Response::Json(200, json::serialize(v)); }

Result<json::object> ParseJsonObject(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return InvalidArgument("body is not valid JSON: " + ec.message());
  if (!v.is_object()) return InvalidArgument("body must be a JSON object");
  return std::move(v.as_object());
}

std::string StringField(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool IsJson(const http::Request& r) {
  std::string ct = r.Header("content-type");
  return ct.rfind("application/json", 0) == 0;
}

Result<std::string> Decompress(std::string_view body, int64_t limit) {
  std::unique_ptr<ZSTD_DStream, size_t (*)(ZSTD_DStream*)> ds(ZSTD_createDStream(), ZSTD_freeDStream);
  if (!ds) return Internal("cannot allocate a zstd stream");
  ZSTD_initDStream(ds.get());
  std::string out;
  ZSTD_inBuffer in{body.data(), body.size(), 0};
  std::string chunk(ZSTD_DStreamOutSize(), '\0');
  size_t last = 1;
  while (in.pos < in.size) {
    ZSTD_outBuffer ob{chunk.data(), chunk.size(), 0};
    last = ZSTD_decompressStream(ds.get(), &ob, &in);
    if (ZSTD_isError(last)) return InvalidArgument(std::string("zstd body is corrupt: ") + ZSTD_getErrorName(last));
    out.append(chunk.data(), ob.pos);
    if (static_cast<int64_t>(out.size()) > limit)
      return PayloadTooLarge("decompressed body exceeds " + std::to_string(limit) + " bytes");
  }
  if (last != 0) return InvalidArgument("zstd body is truncated");
  return out;
}

std::vector<store::QualitySample> ToStored(std::vector<wire::QualitySample>&& samples) {
  std::vector<store::QualitySample> out;
  out.reserve(samples.size());
  for (wire::QualitySample& q : samples) {
    store::QualitySample s;
    s.party = std::move(q.party);
    s.direction = std::move(q.direction);
    s.media = std::move(q.media);
    s.codec = std::move(q.codec);
    s.bitrate_kbps = q.bitrate_kbps;
    s.packet_loss_pct_avg = q.packet_loss_pct_avg;
    s.packet_loss_pct_max = q.packet_loss_pct_max;
    s.jitter_ms_avg = q.jitter_ms_avg;
    s.jitter_ms_max = q.jitter_ms_max;
    s.latency_ms_avg = q.latency_ms_avg;
    s.latency_ms_max = q.latency_ms_max;
    s.mos = q.mos;
    out.push_back(std::move(s));
  }
  return out;
}

store::StoredConference ToStored(wire::ConferenceRecord&& c, const store::Agent& agent, std::string sealed,
                                 int64_t now) {
  store::StoredConference s;
  s.tenant_id = agent.tenant_id;
  s.source = std::move(c.source);
  s.conference_id = std::move(c.id);
  s.agent_id = agent.id;
  s.start_at = c.start;
  s.end_at = c.end;
  s.room = std::move(c.room);
  s.mcu = std::move(c.mcu);
  s.participant_count = c.participant_count;
  s.max_resources_used = c.max_resources_used;
  s.scheduled_start = c.scheduled_start;
  s.scheduled_end = c.scheduled_end;
  s.pii_sealed = std::move(sealed);
  s.ingested_at = now;
  return s;
}

store::StoredParticipant ToStored(wire::ParticipantRecord&& p, const store::Agent& agent, std::string sealed,
                                  int64_t now) {
  store::StoredParticipant s;
  s.tenant_id = agent.tenant_id;
  s.source = std::move(p.source);
  s.participant_id = std::move(p.id);
  s.conference_id = std::move(p.conference_id);
  s.call_id = std::move(p.call_id);
  s.agent_id = agent.id;
  s.start_at = p.start;
  s.end_at = p.end;
  s.duration_s = p.duration_s;
  s.protocol = std::move(p.protocol);
  s.role = std::move(p.role);
  s.disconnect_reason = std::move(p.disconnect_reason);
  s.model = std::move(p.party.model);
  s.version = std::move(p.party.version);
  s.site = std::move(p.party.site);
  s.pii_sealed = std::move(sealed);
  s.ingested_at = now;
  s.quality = ToStored(std::move(p.quality));
  return s;
}

store::StoredDevice ToStored(wire::DeviceRecord&& d, const store::Agent& agent, std::string sealed, int64_t now) {
  store::StoredDevice s;
  s.tenant_id = agent.tenant_id;
  s.source = std::move(d.source);
  s.device_id = std::move(d.id);
  s.agent_id = agent.id;
  s.observed_at = d.observed_at;
  s.device_type = std::move(d.type);
  s.model = std::move(d.model);
  s.version = std::move(d.version);
  s.site = std::move(d.site);
  s.status = std::move(d.status);
  s.registration = std::move(d.registration);
  s.timezone = std::move(d.timezone);
  s.pii_sealed = std::move(sealed);
  s.updated_at = now;
  return s;
}

store::StoredCall ToStored(wire::CallRecord&& c, const store::Agent& agent, std::string sealed, int64_t now) {
  store::StoredCall s;
  s.tenant_id = agent.tenant_id;
  s.source = std::move(c.source);
  s.call_id = std::move(c.id);
  s.agent_id = agent.id;
  s.start_at = c.start;
  s.end_at = c.end;
  s.duration_s = c.duration_s;
  s.status = std::string(wire::CallStatusName(c.status));
  s.protocol = std::move(c.protocol);
  s.call_type = std::move(c.call_type);
  s.cause = std::move(c.cause);
  s.bitrate_kbps = c.bitrate_kbps;
  s.conference_id = std::move(c.conference_id);
  s.orig_model = std::move(c.orig.model);
  s.orig_version = std::move(c.orig.version);
  s.orig_site = std::move(c.orig.site);
  s.dest_model = std::move(c.dest.model);
  s.dest_version = std::move(c.dest.version);
  s.dest_site = std::move(c.dest.site);
  s.pii_sealed = std::move(sealed);
  s.ingested_at = now;
  s.quality = ToStored(std::move(c.quality));
  return s;
}

json::object CursorsJson(const std::vector<store::CursorValue>& cursors) {
  json::object o;
  for (const auto& c : cursors) o[c.source] = c.value;
  return o;
}

}  // namespace

std::span<const IngestService::RouteInfo> IngestService::Routes() { return kRoutes; }

IngestService::IngestService(store::Store& store, privacy::KeyRing& keys, crypto::KeyAndCert agent_ca, Clock& clock,
                             IngestLimits limits)
    : store_(store), keys_(keys), agent_ca_(std::move(agent_ca)), clock_(clock), limits_(limits) {}

http::Response IngestService::Handle(const http::Request& r) {
  if (r.path == "/healthz") return http::Response::Json(200, R"({"status":"ok"})");
  bool known = false;
  for (const auto& route : kRoutes) {
    if (r.path != route.path) continue;
    known = true;
    if (r.method != route.method) {
      auto res = http::Response::FromError({Code::kInvalidArgument, "use " + std::string(route.method)});
      res.status = 405;
      res.SetHeader("Allow", route.method);
      return res;
    }
  }
  if (!known) return http::Response::FromError(NotFound("no such ingest route: " + r.path));
  if (r.path == "/ingest/v1/enroll") return Enroll(r);
  auto agent = AuthenticateAgent(r);
  if (!agent.ok()) return http::Response::FromError(agent.error());
  if (r.path == "/ingest/v1/cursors") return Cursors(*agent);
  if (r.path == "/ingest/v1/batches") return Batches(r, *agent);
  return Heartbeat(r, *agent);
}

Result<store::Agent> IngestService::AuthenticateAgent(const http::Request& r) {
  // The TLS layer has verified the chain to the agent CA; the fingerprint
  // ties the certificate to one enrolled agent (and so to one tenant).
  if (r.client_cert_pem.empty()) return Unauthenticated("a client certificate issued at enrollment is required");
  PARLEY_ASSIGN_OR_RETURN(std::string fp, crypto::CertFingerprint(r.client_cert_pem));
  auto agent = store_.FindAgentByFingerprint(fp);
  if (!agent.ok()) {
    if (agent.error().code == Code::kNotFound) return Unauthenticated("this client certificate is not enrolled");
    return agent.error();
  }
  return agent;
}

http::Response IngestService::Enroll(const http::Request& r) {
  if (!IsJson(r)) return http::Response::FromError({Code::kUnsupportedMediaType, "send application/json"});
  auto body = ParseJsonObject(r.body);
  if (!body.ok()) return http::Response::FromError(body.error());
  std::string token = StringField(*body, "token");
  std::string csr = StringField(*body, "csr");
  std::string name = StringField(*body, "name");
  if (token.empty() || csr.empty())
    return http::Response::FromError(InvalidArgument("fields \"token\" and \"csr\" are required"));
  if (name.size() > 255) name.resize(255);
  auto tenant = store_.ConsumeEnrollToken(crypto::Sha256Hex(token), clock_.NowUnixSeconds());
  if (!tenant.ok()) {
    log::warn("ingest: enrollment refused from {}: {}", r.remote_address, tenant.error().detail);
    return http::Response::FromError(tenant.error());
  }
  store::Agent agent;
  agent.id = crypto::RandomUuid();
  agent.tenant_id = *tenant;
  agent.name = name;
  agent.created_at = clock_.NowUnixSeconds();
  auto cert = crypto::SignClientCsr(agent_ca_, csr, agent.id, limits_.client_cert_days);
  if (!cert.ok()) return http::Response::FromError(cert.error());
  auto fp = crypto::CertFingerprint(*cert);
  if (!fp.ok()) return http::Response::FromError(fp.error());
  agent.cert_fingerprint = *fp;
  if (auto st = store_.CreateAgent(agent); !st.ok()) return http::Response::FromError(st.error());
  // Audit log (docs/security.md): the token by its hash prefix, the agent by id.
  if (auto logged = privacy::AuditLog(store_, clock_)
                        .Append(agent.tenant_id, "enroll_token:" + crypto::Sha256Hex(token).substr(0, 16),
                                privacy::audit_action::kAgentEnroll, privacy::AuditAgent(agent.id),
                                privacy::audit_outcome::kSuccess, json::object{{"cert_fingerprint", agent.cert_fingerprint}});
      !logged.ok())
    log::error("ingest: audit entry for the enrollment of agent {} not written: {}", agent.id, logged.error().detail);
  log::info("ingest: agent {} enrolled for tenant {}", agent.id, agent.tenant_id);
  return JsonOk(json::object{{"agent_id", agent.id}, {"certificate", *cert}, {"ca_certificate", agent_ca_.cert_pem}});
}

http::Response IngestService::Cursors(const store::Agent& agent) {
  auto cursors = store_.GetCursors(agent.tenant_id, agent.id);
  if (!cursors.ok()) return http::Response::FromError(cursors.error());
  return JsonOk(json::object{{"cursors", CursorsJson(*cursors)}});
}

http::Response IngestService::Batches(const http::Request& r, const store::Agent& agent) {
  if (!accepting_) {
    auto res = http::Response::FromError(Unavailable("server is shutting down; retry shortly"));
    res.SetHeader("Retry-After", "5");
    return res;
  }
  if (int64_t wait = TakeBatchToken(agent.id); wait > 0) {
    auto res = http::Response::FromError(
        {Code::kResourceExhausted, "this agent sends batches faster than ingest.agent_batches_per_second allows"});
    res.SetHeader("Retry-After", std::to_string(wait));
    return res;
  }
  // Counted from before the parse: a batch that overtakes this one waits
  // for it only while it is known here.
  const InFlightBatches::Ticket ticket = in_flight_.Enter(agent.id);
  if (r.Header("content-type").rfind(wire::kNdjsonMediaType, 0) != 0)
    return http::Response::FromError(
        {Code::kUnsupportedMediaType, "send Content-Type: " + std::string(wire::kNdjsonMediaType)});
  std::string batch_id = r.Header("idempotency-key");
  if (!wire::IsUuid(batch_id))
    return http::Response::FromError(InvalidArgument("Idempotency-Key must be the batch's UUID"));
  std::string digest = r.Header("content-digest");
  if (digest.empty()) return http::Response::FromError(InvalidArgument("Content-Digest header is required"));
  if (auto st = wire::VerifyContentDigest(digest, r.body); !st.ok()) return http::Response::FromError(st.error());

  std::string decoded;
  std::string_view ndjson = r.body;
  std::string encoding = r.Header("content-encoding");
  if (encoding == "zstd") {
    auto d = Decompress(r.body, limits_.max_decompressed_bytes);
    if (!d.ok()) return http::Response::FromError(d.error());
    decoded = std::move(*d);
    ndjson = decoded;
  } else if (!encoding.empty() && encoding != "identity") {
    return http::Response::FromError({Code::kUnsupportedMediaType, "Content-Encoding must be zstd or absent"});
  }

  const int64_t received_at = clock_.NowUnixSeconds();
  wire::ParseOutcome parsed = wire::ParseBatch(
      ndjson, {.max_records = limits_.max_records_per_batch,
               .earliest_time = kEarliestRecordTime,
               .latest_time = received_at + limits_.future_tolerance_seconds});
  if (!parsed.batch) {
    json::array errors;
    for (const auto& e : parsed.errors) errors.push_back(json::object{{"line", e.line}, {"reason", e.reason}});
    json::object body{{"error", "invalid_batch"}, {"detail", parsed.summary}, {"errors", std::move(errors)}};
    log::warn("ingest: batch {} from agent {} refused: {}", batch_id, agent.id, parsed.summary);
    return http::Response::Json(400, json::serialize(body));
  }
  auto keys = keys_.DataKeys(agent.tenant_id);
  if (!keys.ok()) return http::Response::FromError(keys.error());

  const int64_t now = received_at;
  store::BatchCommit commit;
  commit.tenant_id = agent.tenant_id;
  commit.agent_id = agent.id;
  commit.batch_id = batch_id;
  commit.digest = digest;
  commit.received_at = now;
  // Personal fields are sealed here, before anything reaches the store; the
  // store sees only blobs (docs/formats/model.md lists what is sealed) and
  // the blind-index search terms of the parties (privacy/search_terms.h).
  // Each record is sealed and its terms worked out first; then its strings
  // are moved, not copied, into the stored record.
  wire::Batch& batch = *parsed.batch;
  crypto::Sealer sealer(keys->current);
  const crypto::HmacSha256Key search_key(keys_.SearchKey(agent.tenant_id));
  privacy::PartyTerms party_terms(search_key);
  commit.calls.reserve(batch.calls.size());
  for (wire::CallRecord& call : batch.calls) {
    std::string sealed = privacy::SealCallPii(sealer, agent.tenant_id, call);
    std::vector<std::string> terms;
    for (const wire::Party* party : {&call.orig, &call.dest}) party_terms.Add(*party, terms);
    commit.calls.push_back(ToStored(std::move(call), agent, std::move(sealed), now));
    commit.calls.back().search_terms = std::move(terms);
  }
  commit.conferences.reserve(batch.conferences.size());
  for (wire::ConferenceRecord& c : batch.conferences) {
    std::string sealed = privacy::SealConferencePii(sealer, agent.tenant_id, c);
    commit.conferences.push_back(ToStored(std::move(c), agent, std::move(sealed), now));
  }
  commit.participants.reserve(batch.participants.size());
  for (wire::ParticipantRecord& p : batch.participants) {
    std::string sealed = privacy::SealParticipantPii(sealer, agent.tenant_id, p);
    std::vector<std::string> terms;
    party_terms.Add(p.party, terms);
    commit.participants.push_back(ToStored(std::move(p), agent, std::move(sealed), now));
    commit.participants.back().search_terms = std::move(terms);
  }
  commit.devices.reserve(batch.devices.size());
  for (wire::DeviceRecord& d : batch.devices) {
    std::string sealed = privacy::SealDevicePii(sealer, agent.tenant_id, d);
    std::vector<std::string> terms;
    privacy::AddSearchTerms(search_key, privacy::DeviceSearchValues(d), terms);
    commit.devices.push_back(ToStored(std::move(d), agent, std::move(sealed), now));
    commit.devices.back().search_terms = std::move(terms);
  }
  for (const auto& c : batch.cursors) commit.cursors.push_back({c.source, c.value, c.after});
  // Refused records are counted, grouped, in the batch's own transaction.
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> refused_groups;
  for (const auto& refused : parsed.refused) ++refused_groups[{refused.source, refused.type, refused.reason}];
  for (const auto& [group, count] : refused_groups)
    commit.quarantined.push_back({std::get<0>(group), std::get<1>(group), std::get<2>(group), count});

  // Refused as following an unstored cursor, it retries while its
  // predecessor may be the agent's other batch being parsed or stored here
  // (in_flight_batches.h).
  uint64_t finished = in_flight_.Finished(ticket);
  auto result = store_.CommitBatch(commit);
  while (!result.ok() && result.error().code == Code::kAborted &&
         in_flight_.AwaitAnother(ticket, finished, kPredecessorWait)) {
    finished = in_flight_.Finished(ticket);
    result = store_.CommitBatch(commit);
  }
  if (!result.ok() && result.error().code == Code::kAborted) {
    // Expected now and then with several batches in flight: the agent resends.
    log::info("ingest: batch {} from agent {} not stored yet: {}", batch_id, agent.id, result.error().detail);
    return http::Response::FromError(result.error());
  }
  if (!result.ok()) {
    log::error("ingest: batch {} from agent {} not stored: {}", batch_id, agent.id, result.error().detail);
    auto res = http::Response::FromError(result.error());
    if (result.error().code == Code::kUnavailable) res.SetHeader("Retry-After", "2");
    return res;
  }
  auto cursors = store_.GetCursors(agent.tenant_id, agent.id);
  if (!cursors.ok()) return http::Response::FromError(cursors.error());
  log::info("ingest: batch {} agent {}: {} new, {} already stored, {} refused{}", batch_id, agent.id,
            result->inserted, result->already_present, parsed.refused.size(),
            result->duplicate ? " (duplicate batch)" : "");
  json::array refused;
  for (const auto& rec : parsed.refused) {
    if (refused.size() == kMaxRefusedListed) break;
    refused.push_back(json::object{{"line", rec.line}, {"type", rec.type}, {"reason", rec.reason}});
  }
  return JsonOk(json::object{{"batch_id", batch_id},
                             {"duplicate", result->duplicate},
                             {"accepted", result->inserted},
                             {"already_present", result->already_present},
                             {"quarantined", static_cast<int64_t>(parsed.refused.size())},
                             {"refused", std::move(refused)},
                             {"cursors", CursorsJson(*cursors)}});
}

int64_t IngestService::TakeBatchToken(const std::string& agent_id) {
  const double now = std::chrono::duration<double>(clock_.Now().time_since_epoch()).count();
  const double rate = static_cast<double>(limits_.agent_batches_per_second);
  const double burst = static_cast<double>(limits_.agent_burst_batches);
  std::lock_guard lock(buckets_mu_);
  auto [it, fresh] = buckets_.try_emplace(agent_id, Bucket{burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst, b.tokens + std::max(0.0, now - b.updated_at) * rate);
    b.updated_at = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - b.tokens) / rate)));
}

http::Response IngestService::Heartbeat(const http::Request& r, const store::Agent& agent) {
  if (!IsJson(r)) return http::Response::FromError({Code::kUnsupportedMediaType, "send application/json"});
  auto body = ParseJsonObject(r.body);
  if (!body.ok()) return http::Response::FromError(body.error());
  // Keep only the fields we know, so a heartbeat cannot smuggle arbitrary
  // (possibly personal) data into the store.
  json::object kept;
  if (auto* v = body->if_contains("agent_version"); v && v->is_string()) kept["agent_version"] = *v;
  if (auto* v = body->if_contains("uptime_s"); v && v->is_int64()) kept["uptime_s"] = *v;
  json::array sources;
  if (auto* v = body->if_contains("sources"); v && v->is_array()) {
    for (const auto& s : v->as_array()) {
      if (!s.is_object()) continue;
      json::object src;
      for (const char* k : {"name", "type", "status", "last_error"})
        if (auto* f = s.as_object().if_contains(k); f && (f->is_string() || f->is_null())) src[k] = *f;
      sources.push_back(std::move(src));
    }
  }
  kept["sources"] = std::move(sources);
  int64_t now = clock_.NowUnixSeconds();
  if (auto st = store_.RecordHeartbeat(agent.tenant_id, agent.id, json::serialize(kept), now); !st.ok())
    return http::Response::FromError(st.error());
  return JsonOk(json::object{{"server_time", FormatUtc(now)}, {"settings_version", 1}});
}

Result<std::string> CreateEnrollToken(store::Store& store, const std::string& tenant_id, int64_t now,
                                      int64_t valid_seconds) {
  PARLEY_TRY(store.GetTenant(tenant_id));
  std::string token = crypto::RandomToken();
  PARLEY_TRY(store.CreateEnrollToken(crypto::Sha256Hex(token), tenant_id, now + valid_seconds));
  return token;
}

}  // namespace parley::ingest
