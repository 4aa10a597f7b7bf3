#include "portal/accounts.h"

#include <chrono>
#include <cstdio>

#include "common/time_format.h"
#include "crypto/crypto.h"

namespace parley::portal {

bool IsValidTimeZone(std::string_view tz) {
  if (tz.empty() || tz.size() > 64 || tz.front() == '/' || tz.back() == '/') return false;
  if (tz.find("..") != std::string_view::npos || tz.find("//") != std::string_view::npos) return false;
  if (!(tz.front() >= 'A' && tz.front() <= 'Z')) return false;
  for (char c : tz) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

bool IsValidDate(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return false;
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u})
    if (date[i] < '0' || date[i] > '9') return false;
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (date[i] - '0');
    return v;
  };
  std::chrono::year_month_day ymd{std::chrono::year(num(0, 4)), std::chrono::month(static_cast<unsigned>(num(5, 2))),
                                  std::chrono::day(static_cast<unsigned>(num(8, 2)))};
  return ymd.ok();
}

bool SubscriptionEnded(const store::Tenant& tenant, int64_t now) {
  if (tenant.subscription_end.empty()) return false;
  // ISO dates compare as strings; the subscription covers its whole last day.
  return FormatUtc(now).substr(0, 10) > tenant.subscription_end;
}

Result<store::Tenant> CreateTenant(store::Store& store, privacy::KeyRing& keys, const std::string& name,
                                   const std::vector<std::string>& domains, const TenantSettings& settings,
                                   int64_t now) {
  if (name.empty()) return InvalidArgument("tenant name must not be empty");
  if (name == kPlatformTenantName) return InvalidArgument("the tenant name \"platform\" is reserved");
  if (domains.empty()) return InvalidArgument("a tenant needs at least one e-mail domain");
  for (const auto& d : domains) {
    std::string n = privacy::NormalizeEmail(d);
    if (n.empty() || n.find('@') != std::string::npos || n.find('.') == std::string::npos)
      return InvalidArgument("not an e-mail domain: use the part after @, e.g. example.com");
  }
  if (!IsValidTimeZone(settings.time_zone))
    return InvalidArgument("time zone must be an IANA name such as Europe/London or UTC");
  if (!settings.subscription_end.empty() && !IsValidDate(settings.subscription_end))
    return InvalidArgument("subscription end must be a date YYYY-MM-DD");
  store::Tenant t;
  t.id = crypto::RandomUuid();
  t.name = name;
  for (const auto& d : domains) t.domains.push_back(privacy::NormalizeEmail(d));
  t.time_zone = settings.time_zone;
  t.subscription_end = settings.subscription_end;
  t.wrapped_data_key = keys.NewWrappedDataKey(t.id);
  t.created_at = now;
  PARLEY_TRY(store.CreateTenant(t));
  return t;
}

Result<store::Tenant> EnsurePlatformTenant(store::Store& store, privacy::KeyRing& keys, int64_t now) {
  auto existing = store.FindTenantByName(std::string(kPlatformTenantName));
  if (existing.ok()) {
    if (!existing->platform) return FailedPrecondition("a customer tenant is named \"platform\"; rename it first");
    return existing;
  }
  if (existing.error().code != Code::kNotFound) return existing.error();
  store::Tenant t;
  t.id = crypto::RandomUuid();
  t.name = std::string(kPlatformTenantName);
  t.platform = true;
  t.wrapped_data_key = keys.NewWrappedDataKey(t.id);
  t.created_at = now;
  if (auto st = store.CreateTenant(t); !st.ok()) {
    // Created concurrently by another command: use that one.
    if (st.error().code == Code::kAlreadyExists) return store.FindTenantByName(std::string(kPlatformTenantName));
    return st.error();
  }
  return t;
}

Result<store::Tenant> CreateTenant(store::Store& store, privacy::KeyRing& keys, const std::string& name,
                                   const std::vector<std::string>& domains, int64_t now) {
  return CreateTenant(store, keys, name, domains, TenantSettings{}, now);
}

Result<store::User> CreateUser(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id,
                               const std::string& email, const std::string& password, store::Role role, int64_t now) {
  std::string normalized = privacy::NormalizeEmail(email);
  auto at = normalized.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 >= normalized.size())
    return InvalidArgument("not an e-mail address");
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store.GetTenant(tenant_id));
  if (tenant.platform != (role == store::Role::kPlatformAdmin))
    return InvalidArgument(tenant.platform ? "the platform tenant holds platform admins only"
                                           : "platform admins belong to the platform tenant, not a customer tenant");
  std::string domain = normalized.substr(at + 1);
  bool authorized = tenant.platform;  // operators' addresses: no customer domain applies
  for (const auto& d : tenant.domains) authorized |= d == domain;
  if (!authorized) return InvalidArgument("the e-mail domain is not authorized for this tenant");
  PARLEY_TRY(CheckNewPassword(password, normalized));
  PARLEY_ASSIGN_OR_RETURN(std::string nfkc_password, NormalizePassword(password));
  PARLEY_ASSIGN_OR_RETURN(privacy::TenantDataKeys key, keys.DataKeys(tenant_id));
  store::User u;
  u.id = crypto::RandomUuid();
  u.tenant_id = tenant_id;
  u.email_index = keys.EmailIndex(normalized);
  u.email_sealed = crypto::Seal(key.current, normalized, privacy::UserEmailAad(tenant_id, u.id));
  u.password_hash = crypto::HashPassword(nfkc_password);
  u.role = role;
  u.created_at = now;
  PARLEY_TRY(store.CreateUser(u));
  return u;
}

}  // namespace parley::portal
