#include "portal/sso_settings.h"

#include <boost/json.hpp>

#include "common/time_format.h"
#include "privacy/pii.h"
#include "saml/saml.h"

namespace parley::portal {

namespace json = boost::json;

namespace {

// Tenant roles only: SSO never creates a platform admin.
bool IsTenantRole(const std::string& r) { return r == "viewer" || r == "analyst" || r == "tenant_admin"; }

int Rank(store::Role r) {
  switch (r) {
    case store::Role::kViewer: return 1;
    case store::Role::kAnalyst: return 2;
    case store::Role::kTenantAdmin: return 3;
    case store::Role::kPlatformAdmin: return 0;  // never mapped
  }
  return 0;
}

Result<std::map<std::string, std::string>> CheckRoleMap(std::map<std::string, std::string> m) {
  if (m.size() > 200) return InvalidArgument("role_map: at most 200 groups");
  for (const auto& [group, role] : m) {
    if (group.empty() || group.size() > 256) return InvalidArgument("role_map: group names are 1-256 characters");
    if (!IsTenantRole(role))
      return InvalidArgument("role_map: role of group must be viewer, analyst or tenant_admin");
  }
  return m;
}

bool LooksLikeEmail(const std::string& s) {
  auto at = s.find('@');
  return at != std::string::npos && at > 0 && at == s.rfind('@') && at + 1 < s.size() &&
         s.find('.', at) != std::string::npos && s.find(' ') == std::string::npos && s.size() <= 320;
}

}  // namespace

Result<std::map<std::string, std::string>> ParseRoleMapList(const std::string& text) {
  std::map<std::string, std::string> m;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      auto eq = item.rfind('=');
      if (eq == std::string::npos) return InvalidArgument("--role-map: expected group=role,group=role");
      m[item.substr(0, eq)] = item.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return CheckRoleMap(std::move(m));
}

Result<std::map<std::string, std::string>> ParseRoleMapJson(const json::value& value) {
  if (!value.is_object()) return InvalidArgument("role_map must be an object {\"group\": \"role\"}");
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : value.as_object()) {
    if (!v.is_string()) return InvalidArgument("role_map values must be role names");
    m[std::string(k)] = std::string(v.as_string());
  }
  return CheckRoleMap(std::move(m));
}

Result<store::TenantSso> ApplySsoChange(const std::optional<store::TenantSso>& current, const std::string& tenant_id,
                                        const SsoChange& change, int64_t now) {
  store::TenantSso s;
  if (current) {
    s = *current;
  } else {
    s.tenant_id = tenant_id;
    s.group_attribute = std::string(kDefaultGroupAttribute);
  }
  if (change.idp_metadata_xml) {
    if (change.idp_metadata_xml->size() > 512 * 1024) return InvalidArgument("idp_metadata: larger than 512 KiB");
    PARLEY_ASSIGN_OR_RETURN(saml::IdpInfo info, saml::InspectIdpMetadata(*change.idp_metadata_xml));
    s.idp_metadata_xml = *change.idp_metadata_xml;
    s.idp_entity_id = info.entity_id;
  }
  if (change.group_attribute) {
    s.group_attribute = change.group_attribute->empty() ? std::string(kDefaultGroupAttribute) : *change.group_attribute;
    if (s.group_attribute.size() > 512) return InvalidArgument("group_attribute: at most 512 characters");
  }
  if (change.role_map) {
    json::object o;
    for (const auto& [g, r] : *change.role_map) o[g] = r;
    s.role_map_json = json::serialize(o);
  }
  if (change.default_role) {
    const std::string& d = *change.default_role;
    if (d == "none" || d.empty()) {
      s.default_role = "";
    } else if (IsTenantRole(d)) {
      s.default_role = d;
    } else {
      return InvalidArgument("default_role must be viewer, analyst, tenant_admin or none");
    }
  }
  if (change.enabled) s.enabled = *change.enabled;
  if (change.allow_idp_initiated) s.allow_idp_initiated = *change.allow_idp_initiated;
  if (s.enabled && s.idp_metadata_xml.empty())
    return InvalidArgument("upload the identity provider's metadata before enabling SSO");
  s.updated_at = now;
  return s;
}

json::object SsoJson(const store::TenantSso& s) {
  boost::system::error_code ec;
  json::value map = json::parse(s.role_map_json, ec);
  if (ec || !map.is_object()) map = json::object();
  std::string sso_url;
  if (!s.idp_metadata_xml.empty()) {
    if (auto info = saml::InspectIdpMetadata(s.idp_metadata_xml); info.ok()) sso_url = info->sso_redirect_url;
  }
  return json::object{{"enabled", s.enabled},
                      {"idp_entity_id", s.idp_entity_id.empty() ? json::value(nullptr) : json::value(s.idp_entity_id)},
                      {"idp_sso_url", sso_url.empty() ? json::value(nullptr) : json::value(sso_url)},
                      {"idp_metadata_uploaded", !s.idp_metadata_xml.empty()},
                      {"group_attribute", s.group_attribute},
                      {"role_map", std::move(map)},
                      {"default_role", s.default_role.empty() ? "none" : s.default_role},
                      {"allow_idp_initiated", s.allow_idp_initiated},
                      {"updated_at", s.updated_at ? json::value(FormatUtc(s.updated_at)) : json::value(nullptr)}};
}

std::optional<store::Role> MapRole(const store::TenantSso& sso,
                                   const std::map<std::string, std::vector<std::string>>& attributes) {
  boost::system::error_code ec;
  json::value map = json::parse(sso.role_map_json, ec);
  std::vector<std::string> claims{sso.group_attribute};
  if (sso.group_attribute == kDefaultGroupAttribute) {
    claims.emplace_back(kAdfsRoleClaim);
    claims.emplace_back(kAdfsGroupClaim);
  }
  std::optional<store::Role> best;
  if (!ec && map.is_object()) {
    for (const auto& claim : claims) {
      auto it = attributes.find(claim);
      if (it == attributes.end()) continue;
      for (const auto& group : it->second) {
        const json::value* role = map.as_object().if_contains(group);
        if (!role || !role->is_string()) continue;
        auto r = store::ParseRole(role->as_string());
        if (r && *r != store::Role::kPlatformAdmin && (!best || Rank(*r) > Rank(*best))) best = r;
      }
    }
  }
  if (best) return best;
  if (sso.default_role.empty()) return std::nullopt;
  auto d = store::ParseRole(sso.default_role);
  if (!d || *d == store::Role::kPlatformAdmin) return std::nullopt;
  return d;
}

std::optional<std::string> SsoEmail(const std::map<std::string, std::vector<std::string>>& attributes,
                                    const std::string& name_id) {
  static const char* kClaims[] = {
      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
      "mail",
      "email",
      "urn:oid:0.9.2342.19200300.100.1.3",  // mail, as SAML2 attribute-profile IdPs name it
      "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
  };
  for (const char* claim : kClaims) {
    auto it = attributes.find(claim);
    if (it == attributes.end()) continue;
    for (const auto& v : it->second) {
      std::string e = privacy::NormalizeEmail(v);
      if (LooksLikeEmail(e)) return e;
    }
  }
  std::string n = privacy::NormalizeEmail(name_id);
  if (LooksLikeEmail(n)) return n;
  return std::nullopt;
}

}  // namespace parley::portal
