#include "portal/tenant_admin.h"

#include "portal/accounts.h"
#include "privacy/pii.h"

namespace parley::portal {

Result<store::Tenant> UpdateTenant(store::Store& store, const std::string& tenant_id, const TenantChanges& changes) {
  PARLEY_ASSIGN_OR_RETURN(store::Tenant t, store.GetTenant(tenant_id));
  if (t.platform) return FailedPrecondition("the platform tenant holds the platform admins and has no settings to edit");
  if (changes.name) {
    if (changes.name->empty()) return InvalidArgument("tenant name must not be empty");
    if (*changes.name == kPlatformTenantName) return InvalidArgument("the tenant name \"platform\" is reserved");
    t.name = *changes.name;
  }
  if (changes.domains) {
    if (changes.domains->empty()) return InvalidArgument("a tenant needs at least one e-mail domain");
    t.domains.clear();
    for (const auto& d : *changes.domains) {
      std::string n = privacy::NormalizeEmail(d);
      if (n.empty() || n.find('@') != std::string::npos || n.find('.') == std::string::npos)
        return InvalidArgument("not an e-mail domain: use the part after @, e.g. example.com");
      t.domains.push_back(n);
    }
  }
  if (changes.time_zone) {
    if (!IsValidTimeZone(*changes.time_zone))
      return InvalidArgument("time zone must be an IANA name such as Europe/London or UTC");
    t.time_zone = *changes.time_zone;
  }
  if (changes.subscription_end) {
    if (!changes.subscription_end->empty() && !IsValidDate(*changes.subscription_end))
      return InvalidArgument("subscription end must be a date YYYY-MM-DD");
    t.subscription_end = *changes.subscription_end;
  }
  PARLEY_TRY(store.UpdateTenant(t));
  return t;
}

}  // namespace parley::portal
