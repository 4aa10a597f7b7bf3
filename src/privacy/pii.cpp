#include "privacy/pii.h"

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

std::string UserEmailAad(std::string_view tenant_id, std::string_view user_id) {
  std::string aad = "parley:user-email:v1:";
  aad.append(tenant_id).append(":").append(user_id);
  return aad;
}

}  // namespace parley::privacy
