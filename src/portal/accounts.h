// Tenants and users: creation for the CLI (`parley init --demo`, `parley
// tenant create`, `parley user create`) and sign-in verification for the
// portal. E-mail addresses are personal data: stored sealed under the tenant
// key, found by blind index.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "privacy/pii.h"
#include "store/store.h"

namespace parley::portal {

Result<store::Tenant> CreateTenant(store::Store& store, privacy::KeyRing& keys, const std::string& name,
                                   const std::vector<std::string>& domains, int64_t now);

// Creates a local user. The e-mail's domain must be one of the tenant's
// authorized domains; the password must be at least 12 characters.
Result<store::User> CreateUser(store::Store& store, privacy::KeyRing& keys, const std::string& tenant_id,
                               const std::string& email, const std::string& password, store::Role role, int64_t now);

inline constexpr size_t kMinPasswordLength = 12;

}  // namespace parley::portal
