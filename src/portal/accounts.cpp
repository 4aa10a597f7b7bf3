#include "portal/accounts.h"

#include "crypto/crypto.h"

namespace parley::portal {

Result<store::Tenant> CreateTenant(store::Store& store, privacy::KeyRing& keys, const std::string& name,
                                   const std::vector<std::string>& domains, int64_t now) {
  if (name.empty()) return InvalidArgument("tenant name must not be empty");
  store::Tenant t;
  t.id = crypto::RandomUuid();
  t.name = name;
  for (const auto& d : domains) t.domains.push_back(privacy::NormalizeEmail(d));
  t.wrapped_data_key = keys.NewWrappedDataKey(t.id);
  t.created_at = now;
  PARLEY_TRY(store.CreateTenant(t));
  return t;
}

Result<store::User> CreateUser(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id,
                               const std::string& email, const std::string& password, store::Role role, int64_t now) {
  std::string normalized = privacy::NormalizeEmail(email);
  auto at = normalized.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 >= normalized.size())
    return InvalidArgument("not an e-mail address");
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store.GetTenant(tenant_id));
  std::string domain = normalized.substr(at + 1);
  bool authorized = false;
  for (const auto& d : tenant.domains) authorized |= d == domain;
  if (!authorized) return InvalidArgument("the e-mail domain is not authorized for this tenant");
  if (password.size() < kMinPasswordLength)
    return InvalidArgument("password must be at least " + std::to_string(kMinPasswordLength) + " characters");
  PARLEY_ASSIGN_OR_RETURN(crypto::Key256 key, keys.DataKey(tenant_id));
  store::User u;
  u.id = crypto::RandomUuid();
  u.tenant_id = tenant_id;
  u.email_index = keys.EmailIndex(normalized);
  u.email_sealed = crypto::Seal(key, normalized, privacy::UserEmailAad(tenant_id, u.id));
  u.password_hash = crypto::HashPassword(password);
  u.role = role;
  u.created_at = now;
  PARLEY_TRY(store.CreateUser(u));
  return u;
}

}  // namespace parley::portal
