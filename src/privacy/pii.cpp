#include "privacy/pii.h"

#include <algorithm>

#include <boost/json.hpp>

namespace parley::privacy {

namespace json = boost::json;

Result<crypto::Key256> KeyRing::DataKey(const std::string& tenant_id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = keys_.find(tenant_id); it != keys_.end()) return it->second;
  }
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store_.GetTenant(tenant_id));
  PARLEY_ASSIGN_OR_RETURN(crypto::Key256 key, master_.UnwrapDataKey(tenant.wrapped_data_key, tenant_id));
  std::lock_guard lock(mu_);
  keys_[tenant_id] = key;
  return key;
}

std::string KeyRing::NewWrappedDataKey(const std::string& tenant_id) const {
  return master_.WrapDataKey(crypto::RandomKey(), tenant_id);
}

std::string NormalizeEmail(std::string_view email) {
  while (!email.empty() && std::isspace(static_cast<unsigned char>(email.front()))) email.remove_prefix(1);
  while (!email.empty() && std::isspace(static_cast<unsigned char>(email.back()))) email.remove_suffix(1);
  std::string out(email);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string KeyRing::EmailIndex(std::string_view email) const {
  return crypto::BlindIndex(master_.DeriveIndexKey(), "email:" + NormalizeEmail(email));
}

crypto::Key256 KeyRing::SearchKey(const std::string& tenant_id) const {
  const std::string mac = crypto::HmacSha256(master_.DeriveIndexKey(), "parley:search-key:v1:" + tenant_id);
  crypto::Key256 key{};
  std::copy(mac.begin(), mac.end(), key.begin());
  return key;
}

std::string CallAad(std::string_view tenant_id, std::string_view source, std::string_view call_id) {
  std::string aad = "parley:call:v1:";
  aad.append(tenant_id).append(":").append(source).append(":").append(call_id);
  return aad;
}

namespace {
json::object PartyPii(const wire::Party& p) {
  return json::object{{"name", p.name}, {"number", p.number}, {"uri", p.uri}, {"ip", p.ip}};
}
void ReadPartyPii(const json::value* v, wire::Party& p) {
  if (!v || !v->is_object()) return;
  const auto& o = v->as_object();
  auto get = [&](const char* k) -> std::string {
    auto* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  p.name = get("name");
  p.number = get("number");
  p.uri = get("uri");
  p.ip = get("ip");
}
}  // namespace

std::string SealCallPii(const crypto::Key256& key, std::string_view tenant_id, const wire::CallRecord& call) {
  json::object o{{"orig", PartyPii(call.orig)}, {"dest", PartyPii(call.dest)}};
  return crypto::Seal(key, json::serialize(o), CallAad(tenant_id, call.source, call.id));
}

Status OpenCallPii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                   std::string_view call_id, std::string_view sealed, wire::Party& orig, wire::Party& dest) {
  PARLEY_ASSIGN_OR_RETURN(std::string plain, crypto::Open(key, sealed, CallAad(tenant_id, source, call_id)));
  boost::system::error_code ec;
  json::value v = json::parse(plain, ec);
  if (ec || !v.is_object()) return Internal("personal data of a call is not valid JSON");
  ReadPartyPii(v.as_object().if_contains("orig"), orig);
  ReadPartyPii(v.as_object().if_contains("dest"), dest);
  return Ok();
}

std::string RecordAad(std::string_view kind, std::string_view tenant_id, std::string_view source,
                      std::string_view id) {
  // Source names cannot contain ':' (wire v1) and tenant ids are UUIDs, so
  // the fields cannot be shifted into one another; the id comes last.
  std::string aad = "parley:";
  aad.append(kind).append(":v1:").append(tenant_id).append(":").append(source).append(":").append(id);
  return aad;
}

namespace {

Result<json::object> OpenJsonObject(const crypto::Key256& key, std::string_view sealed, const std::string& aad,
                                    std::string_view what) {
  PARLEY_ASSIGN_OR_RETURN(std::string plain, crypto::Open(key, sealed, aad));
  boost::system::error_code ec;
  json::value v = json::parse(plain, ec);
  if (ec || !v.is_object()) return Internal("personal data of a " + std::string(what) + " is not valid JSON");
  return std::move(v.as_object());
}

std::string GetString(const json::object& o, std::string_view k) {
  auto* f = o.if_contains(k);
  return f && f->is_string() ? std::string(f->as_string()) : std::string();
}

}  // namespace

std::string SealConferencePii(const crypto::Key256& key, std::string_view tenant_id,
                              const wire::ConferenceRecord& conference) {
  json::object o{{"name", conference.name}};
  return crypto::Seal(key, json::serialize(o), RecordAad("conference", tenant_id, conference.source, conference.id));
}

Status OpenConferencePii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                         std::string_view conference_id, std::string_view sealed, std::string& name) {
  PARLEY_ASSIGN_OR_RETURN(json::object o, OpenJsonObject(key, sealed, RecordAad("conference", tenant_id, source,
                                                                                conference_id), "conference"));
  name = GetString(o, "name");
  return Ok();
}

std::string SealParticipantPii(const crypto::Key256& key, std::string_view tenant_id,
                               const wire::ParticipantRecord& participant) {
  return crypto::Seal(key, json::serialize(PartyPii(participant.party)),
                      RecordAad("participant", tenant_id, participant.source, participant.id));
}

Status OpenParticipantPii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                          std::string_view participant_id, std::string_view sealed, wire::Party& party) {
  PARLEY_ASSIGN_OR_RETURN(json::object o, OpenJsonObject(key, sealed, RecordAad("participant", tenant_id, source,
                                                                                participant_id), "participant"));
  json::value v(std::move(o));
  ReadPartyPii(&v, party);
  return Ok();
}

std::string SealDevicePii(const crypto::Key256& key, std::string_view tenant_id, const wire::DeviceRecord& device) {
  json::object o{{"name", device.name}, {"serial", device.serial}, {"ip", device.ip}, {"mac", device.mac},
                 {"owner", device.owner}};
  return crypto::Seal(key, json::serialize(o), RecordAad("device", tenant_id, device.source, device.id));
}

Status OpenDevicePii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                     std::string_view device_id, std::string_view sealed, wire::DeviceRecord& device) {
  PARLEY_ASSIGN_OR_RETURN(json::object o,
                          OpenJsonObject(key, sealed, RecordAad("device", tenant_id, source, device_id), "device"));
  device.name = GetString(o, "name");
  device.serial = GetString(o, "serial");
  device.ip = GetString(o, "ip");
  device.mac = GetString(o, "mac");
  device.owner = GetString(o, "owner");
  return Ok();
}

std::string UserEmailAad(std::string_view tenant_id, std::string_view user_id) {
  std::string aad = "parley:user-email:v1:";
  aad.append(tenant_id).append(":").append(user_id);
  return aad;
}

}  // namespace parley::privacy
