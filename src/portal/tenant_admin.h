// The platform admin's edits of an existing tenant (PATCH
// /api/v1/admin/tenants/{id}; creation is CreateTenant in accounts.h). Only
// the tenant's own settings change: its id, data key and users stay.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace parley::portal {

// Fields to change; nullopt = keep.
struct TenantChanges {
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> domains;  // replaces the whole list; at least one
  std::optional<std::string> time_zone;              // IANA name
  std::optional<std::string> subscription_end;       // "YYYY-MM-DD", or "" = open ended
};

// Validates with the rules of CreateTenant and stores the changes. The
// platform tenant is not edited here (kFailedPrecondition); an unknown id is
// kNotFound, a name another tenant has kAlreadyExists.
Result<store::Tenant> UpdateTenant(store::Store& store, const std::string& tenant_id, const TenantChanges& changes);

}  // namespace parley::portal
