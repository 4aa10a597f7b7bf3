// A tenant's SAML SSO settings (docs/sso.md "Settings"): validation of a
// change, its JSON form for the portal API, and the role mapping applied at
// sign-in. Shared by `parley tenant sso set` and PUT /api/v1/tenant/sso so
// both accept exactly the same settings. No state; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace parley::portal {

// ADFS's group SID claim; by default the ADFS role claim and the "Group"
// claim (Token-Groups, unqualified names) are read as well.
inline constexpr std::string_view kDefaultGroupAttribute = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups";
inline constexpr std::string_view kAdfsRoleClaim = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
inline constexpr std::string_view kAdfsGroupClaim = "http://schemas.xmlsoap.org/claims/Group";

// A change to the settings; unset fields keep their current value.
struct SsoChange {
  std::optional<std::string> idp_metadata_xml;
  std::optional<std::string> group_attribute;                  // "" = the default
  std::optional<std::map<std::string, std::string>> role_map;  // group -> role
  std::optional<std::string> default_role;                     // viewer|analyst|tenant_admin|none
  std::optional<bool> enabled;
  std::optional<bool> allow_idp_initiated;
};

// Applies `change` to `current` (or to the defaults when the tenant has no
// settings yet) and validates the result: the metadata must pass
// saml::InspectIdpMetadata, roles are tenant roles (never platform_admin),
// enabling needs metadata. kInvalidArgument says what is wrong.
Result<store::TenantSso> ApplySsoChange(const std::optional<store::TenantSso>& current, const std::string& tenant_id,
                                        const SsoChange& change, int64_t now);

// "group=role,group=role" (the CLI's --role-map).
Result<std::map<std::string, std::string>> ParseRoleMapList(const std::string& text);
// A JSON object {"group": "role"} (the API's role_map).
Result<std::map<std::string, std::string>> ParseRoleMapJson(const boost::json::value& value);

// The API's view of the settings (no secrets exist here; the metadata is public).
boost::json::object SsoJson(const store::TenantSso& sso);

// The role a person gets: the highest role any of their groups maps to, else
// the default role; nullopt = refused (no mapped group and default "none").
std::optional<store::Role> MapRole(const store::TenantSso& sso,
                                   const std::map<std::string, std::vector<std::string>>& attributes);

// The e-mail address of a SAML identity: the e-mail claims (ADFS
// emailaddress, mail, email), then the UPN, then a NameID that looks like an
// address; lower-cased. nullopt when none is an address.
std::optional<std::string> SsoEmail(const std::map<std::string, std::vector<std::string>>& attributes,
                                    const std::string& name_id);

}  // namespace parley::portal
