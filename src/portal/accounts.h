// Tenants and users: creation for the CLI (`parley init --demo`, `parley
// tenant create`, `parley user create`) and sign-in verification for the
// portal. E-mail addresses are personal data: stored sealed under the tenant
// key, found by blind index.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "portal/password_policy.h"
#include "privacy/pii.h"
#include "store/store.h"

namespace parley::portal {

Result<store::Tenant> CreateTenant(store::Store& store, privacy::KeyRing& keys, const std::string& name,
                                   const std::vector<std::string>& domains, int64_t now);

// A tenant's settings beyond its name and domains.
struct TenantSettings {
  std::string time_zone = "UTC";     // IANA name ("Europe/London")
  std::string subscription_end;      // last day, "YYYY-MM-DD"; "" = open ended
};
// As above, with settings; kInvalidArgument names a malformed time zone or date.
// A customer tenant needs at least one e-mail domain.
Result<store::Tenant> CreateTenant(store::Store& store, privacy::KeyRing& keys, const std::string& name,
                                   const std::vector<std::string>& domains, const TenantSettings& settings,
                                   int64_t now);

// The reserved tenant holding the platform admins, created on first use
// (name kPlatformTenantName, no e-mail domains, so nobody can self-register
// into it; it never holds customer data).
inline constexpr std::string_view kPlatformTenantName = "platform";
Result<store::Tenant> EnsurePlatformTenant(store::Store& store, privacy::KeyRing& keys, int64_t now);

// "Europe/London", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT+5".
bool IsValidTimeZone(std::string_view tz);
// "YYYY-MM-DD", a real calendar date.
bool IsValidDate(std::string_view date);
// True when `tenant` has a subscription end date and `now` is after that day (UTC).
bool SubscriptionEnded(const store::Tenant& tenant, int64_t now);

// Creates a local user. The e-mail's domain must be one of the tenant's
// authorized domains; the password must pass CheckNewPassword (NIST SP
// 800-63B rules, portal/password_policy.h) and is hashed after NFKC.
// platform_admin users live only in the platform tenant (whose domain list is
// empty: no domain check there), and the platform tenant holds nothing else.
Result<store::User> CreateUser(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id,
                               const std::string& email, const std::string& password, store::Role role, int64_t now);

inline constexpr size_t kMinPasswordLength = kPasswordMinLength;

}  // namespace parley::portal
