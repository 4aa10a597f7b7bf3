#include "privacy/pii.h"

#include <algorithm>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>

namespace parley::privacy {

namespace json = boost::json;

Result<std::string> OpenSealed(const TenantDataKeys& keys, std::string_view sealed, std::string_view aad) {
  auto plain = crypto::Open(keys.current, sealed, aad);
  if (plain.ok() || !keys.retiring) return plain;
  return crypto::Open(*keys.retiring, sealed, aad);
}

KeyRing::KeyRing(store::Store& store, const crypto::MasterKey& master, KeyRingOptions options)
    : store_(store), options_(std::move(options)), master_(master) {}

int64_t KeyRing::Now() const {
  return (options_.clock ? *options_.clock : static_cast<const Clock&>(SystemClock::Instance())).NowUnixSeconds();
}

crypto::MasterKey KeyRing::master() const {
  std::lock_guard lock(mu_);
  return master_;
}

bool KeyRing::ReloadMasterIf(const std::function<bool(const crypto::MasterKey&)>& opens) {
  if (options_.master_key_file.empty() || crypto::MasterKey::FromEnvironment()) return false;
  auto reloaded = crypto::MasterKey::Load(options_.master_key_file);
  if (!reloaded.ok() || !opens(*reloaded)) return false;
  std::lock_guard lock(mu_);
  master_ = *reloaded;
  return true;
}

Result<crypto::Key256> KeyRing::Unwrap(const std::string& wrapped, const std::string& tenant_id) {
  auto key = master().UnwrapDataKey(wrapped, tenant_id);
  if (key.ok()) return key;
  // A rotation may have added a new active key to the file since start-up.
  ReloadMasterIf([&](const crypto::MasterKey& m) {
    key = m.UnwrapDataKey(wrapped, tenant_id);
    return key.ok();
  });
  return key;
}

Result<TenantDataKeys> KeyRing::DataKeys(const std::string& tenant_id) {
  const int64_t now = Now();
  {
    std::lock_guard lock(mu_);
    if (auto it = keys_.find(tenant_id); it != keys_.end() && now - it->second.fetched_at < options_.cache_seconds &&
                                         now >= it->second.fetched_at)
      return it->second.keys;
  }
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store_.GetTenant(tenant_id));
  TenantDataKeys keys;
  PARLEY_ASSIGN_OR_RETURN(keys.current, Unwrap(tenant.wrapped_data_key, tenant_id));
  if (!tenant.retiring_data_key.empty()) {
    PARLEY_ASSIGN_OR_RETURN(crypto::Key256 retiring, Unwrap(tenant.retiring_data_key, tenant_id));
    keys.retiring = retiring;
  }
  std::lock_guard lock(mu_);
  keys_[tenant_id] = Cached{keys, now};
  return keys;
}

void KeyRing::ForgetCachedKeys() {
  std::lock_guard lock(mu_);
  keys_.clear();
}

std::string KeyRing::NewWrappedDataKey(const std::string& tenant_id) {
  // Re-read the file first: after a master-key rotation, a key wrapped with
  // the key this process started with would be unreadable once that key is
  // dropped from the file.
  ReloadMasterIf([](const crypto::MasterKey&) { return true; });
  return master().WrapDataKey(crypto::RandomKey(), tenant_id);
}

Status KeyRing::LoadIndexKey() {
  {
    std::lock_guard lock(mu_);
    if (index_key_) return Ok();
  }
  crypto::MasterKey master = this->master();
  auto wrapped = store_.GetPlatformKey(kIndexKeyName);
  if (!wrapped.ok() && wrapped.error().code == Code::kNotFound) {
    // First start since migration 0010: the key every blind index was made
    // with so far, now kept wrapped. A concurrent first start may store it
    // first; both wrote the same key, so read back whichever won.
    crypto::Key256 derived = master.DeriveIndexKey();
    auto stored = store_.SwapPlatformKey(kIndexKeyName, "", master.WrapPlatformKey(derived, kIndexKeyName), Now());
    if (!stored.ok() && stored.error().code != Code::kFailedPrecondition) return stored;
    wrapped = store_.GetPlatformKey(kIndexKeyName);
  }
  if (!wrapped.ok()) return wrapped.error();
  auto key = master.UnwrapPlatformKey(*wrapped, kIndexKeyName);
  if (!key.ok()) {
    ReloadMasterIf([&](const crypto::MasterKey& m) {
      key = m.UnwrapPlatformKey(*wrapped, kIndexKeyName);
      return key.ok();
    });
  }
  if (!key.ok()) return Internal("the blind-index key does not open with the master key: " + key.error().detail);
  std::lock_guard lock(mu_);
  index_key_ = *key;
  return Ok();
}

crypto::Key256 KeyRing::IndexKey() {
  if (Status st = LoadIndexKey(); !st.ok()) {
    // serve loads it at start-up; reaching this means a caller skipped that
    // and the store failed: no blind index can be made correctly.
    std::fprintf(stderr, "parley: fatal: cannot load the blind-index key: %s\n", st.error().detail.c_str());
    std::abort();
  }
  std::lock_guard lock(mu_);
  return *index_key_;
}

std::string NormalizeEmail(std::string_view email) {
  while (!email.empty() && std::isspace(static_cast<unsigned char>(email.front()))) email.remove_prefix(1);
  while (!email.empty() && std::isspace(static_cast<unsigned char>(email.back()))) email.remove_suffix(1);
  std::string out(email);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string KeyRing::EmailIndex(std::string_view email) {
  return crypto::BlindIndex(IndexKey(), "email:" + NormalizeEmail(email));
}

crypto::Key256 KeyRing::SearchKey(const std::string& tenant_id) {
  const std::string mac = crypto::HmacSha256(IndexKey(), "parley:search-key:v1:" + tenant_id);
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
json::object PartyPii(const wire::Party& p, json::storage_ptr sp = {}) {
  json::object o(4, std::move(sp));
  o.emplace("name", p.name);
  o.emplace("number", p.number);
  o.emplace("uri", p.uri);
  o.emplace("ip", p.ip);
  return o;
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

std::string SealCallPii(crypto::Sealer& sealer, std::string_view tenant_id, const wire::CallRecord& call) {
  // Built in an arena on the stack, each party's object moved into place: an
  // initializer list copied both whole, from the heap (ingest seals every
  // call this way).
  unsigned char buffer[2048];
  json::monotonic_resource arena(buffer, sizeof buffer);
  json::object o(2, &arena);
  o.emplace("orig", PartyPii(call.orig, &arena));
  o.emplace("dest", PartyPii(call.dest, &arena));
  return sealer.Seal(json::serialize(o), CallAad(tenant_id, call.source, call.id));
}

Status OpenCallPii(const TenantDataKeys& key, std::string_view tenant_id, std::string_view source,
                   std::string_view call_id, std::string_view sealed, wire::Party& orig, wire::Party& dest) {
  PARLEY_ASSIGN_OR_RETURN(std::string plain, OpenSealed(key, sealed, CallAad(tenant_id, source, call_id)));
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

Result<json::object> OpenJsonObject(const TenantDataKeys& key, std::string_view sealed, const std::string& aad,
                                    std::string_view what) {
  PARLEY_ASSIGN_OR_RETURN(std::string plain, OpenSealed(key, sealed, aad));
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

std::string SealConferencePii(crypto::Sealer& sealer, std::string_view tenant_id,
                              const wire::ConferenceRecord& conference) {
  json::object o{{"name", conference.name}};
  return sealer.Seal(json::serialize(o), RecordAad("conference", tenant_id, conference.source, conference.id));
}

Status OpenConferencePii(const TenantDataKeys& key, std::string_view tenant_id, std::string_view source,
                         std::string_view conference_id, std::string_view sealed, std::string& name) {
  PARLEY_ASSIGN_OR_RETURN(json::object o, OpenJsonObject(key, sealed, RecordAad("conference", tenant_id, source,
                                                                                conference_id), "conference"));
  name = GetString(o, "name");
  return Ok();
}

std::string SealParticipantPii(crypto::Sealer& sealer, std::string_view tenant_id,
                               const wire::ParticipantRecord& participant) {
  return sealer.Seal(json::serialize(PartyPii(participant.party)),
                      RecordAad("participant", tenant_id, participant.source, participant.id));
}

Status OpenParticipantPii(const TenantDataKeys& key, std::string_view tenant_id, std::string_view source,
                          std::string_view participant_id, std::string_view sealed, wire::Party& party) {
  PARLEY_ASSIGN_OR_RETURN(json::object o, OpenJsonObject(key, sealed, RecordAad("participant", tenant_id, source,
                                                                                participant_id), "participant"));
  json::value v(std::move(o));
  ReadPartyPii(&v, party);
  return Ok();
}

std::string SealDevicePii(crypto::Sealer& sealer, std::string_view tenant_id, const wire::DeviceRecord& device) {
  json::object o{{"name", device.name}, {"serial", device.serial}, {"ip", device.ip}, {"mac", device.mac},
                 {"owner", device.owner}};
  return sealer.Seal(json::serialize(o), RecordAad("device", tenant_id, device.source, device.id));
}

Status OpenDevicePii(const TenantDataKeys& key, std::string_view tenant_id, std::string_view source,
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

std::string TokenEmailAad(std::string_view tenant_id, std::string_view token_hash) {
  return "parley:account-token:v1:" + std::string(tenant_id) + ":" + std::string(token_hash);
}

std::string TotpSecretAad(std::string_view tenant_id, std::string_view user_id) {
  return "parley:totp:v1:" + std::string(tenant_id) + ":" + std::string(user_id);
}

std::string SealedFieldAad(store::SealedField field, std::string_view tenant_id, std::string_view source,
                           std::string_view id) {
  using store::SealedField;
  switch (field) {
    case SealedField::kUserEmail: return UserEmailAad(tenant_id, id);
    case SealedField::kAccountTokenEmail: return TokenEmailAad(tenant_id, id);
    case SealedField::kTotpSecret: return TotpSecretAad(tenant_id, id);
    case SealedField::kDevice: return RecordAad("device", tenant_id, source, id);
    case SealedField::kConference: return RecordAad("conference", tenant_id, source, id);
    case SealedField::kParticipant: return RecordAad("participant", tenant_id, source, id);
    case SealedField::kCall: return CallAad(tenant_id, source, id);
  }
  return {};
}

}  // namespace parley::privacy
