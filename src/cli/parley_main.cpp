// `parley`: the server and its admin commands. Parses arguments, calls the
// server library (src/server/server.h), returns its exit code.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common/server_config.h"
#include "server/server.h"

int main(int argc, char** argv) {
  CLI::App app{"Parley: analytics for video-conferencing infrastructure"};
  app.require_subcommand(1);

  parley::server::InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "Create a configuration directory (config, master key, certificates)");
  init_cmd->add_option("--dir", init.dir, "Directory to create")->required();
  init_cmd->add_flag("--demo", init.demo, "Also create the demo tenant and its admin user");
  init_cmd->add_option("--web-root", init.web_root, "Built front end (default: web/dist of this source tree)");

  parley::server::ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the portal and ingest listeners");
  serve_cmd->add_option("--config", serve.config_file, "parley.toml")->required();
  serve_cmd->add_option("--ports-file", serve.ports_file, "Write the bound ports as JSON here once listening");

  std::filesystem::path config;
  std::string tenant;
  auto* agent_cmd = app.add_subcommand("agent", "Agent administration");
  agent_cmd->require_subcommand(1);
  auto* token_cmd = agent_cmd->add_subcommand("enroll-token", "Print a one-time enrollment token for a tenant");
  token_cmd->add_option("--config", config, "parley.toml")->required();
  token_cmd->add_option("--tenant", tenant, "Tenant name or id")->required();

  auto* tenant_cmd = app.add_subcommand("tenant", "Tenant administration");
  tenant_cmd->require_subcommand(1);
  auto* tenant_list = tenant_cmd->add_subcommand("list", "List tenants (id, name, authorized domains)");
  tenant_list->add_option("--config", config, "parley.toml")->required();
  parley::server::TenantCreateOptions tenant_create;
  auto* tenant_create_cmd = tenant_cmd->add_subcommand("create", "Create a tenant (prints its id)");
  tenant_create_cmd->add_option("--config", tenant_create.config_file, "parley.toml")->required();
  tenant_create_cmd->add_option("--name", tenant_create.name, "Display name (unique)")->required();
  tenant_create_cmd->add_option("--domain", tenant_create.domains, "Authorized e-mail domain (repeatable)")->required();
  tenant_create_cmd->add_option("--time-zone", tenant_create.time_zone, "IANA time zone, e.g. Europe/London (default UTC)");
  tenant_create_cmd->add_option("--subscription-end", tenant_create.subscription_end,
                                "Last day of the subscription, YYYY-MM-DD (default: open-ended)");

  parley::server::TenantSsoSetOptions sso_set;
  auto* tenant_sso_cmd = tenant_cmd->add_subcommand("sso", "Single sign-on (SAML) settings of a tenant");
  tenant_sso_cmd->require_subcommand(1);
  auto* sso_set_cmd = tenant_sso_cmd->add_subcommand(
      "set", "Set the tenant's SAML IdP and role mapping (unset options keep their value; docs/sso.md)");
  sso_set_cmd->add_option("--config", sso_set.config_file, "parley.toml")->required();
  sso_set_cmd->add_option("--tenant", sso_set.tenant, "Tenant name or id")->required();
  sso_set_cmd->add_option("--idp-metadata", sso_set.idp_metadata_file,
                          "IdP metadata XML file (ADFS: FederationMetadata.xml)");
  sso_set_cmd->add_option("--group-attribute", sso_set.group_attribute,
                          "Claim carrying group names (default: the ADFS groups/role/Group claims)");
  sso_set_cmd->add_option("--role-map", sso_set.role_map, "group=role,... (roles: viewer, analyst, tenant_admin)");
  sso_set_cmd->add_option("--default-role", sso_set.default_role,
                          "Role of users in no mapped group: viewer, analyst, tenant_admin or none (refuse)");
  bool idp_initiated = false, no_idp_initiated = false, sso_enable = false, sso_disable = false;
  sso_set_cmd->add_flag("--idp-initiated", idp_initiated, "Allow sign-ins started at the identity provider");
  sso_set_cmd->add_flag("--no-idp-initiated", no_idp_initiated, "Refuse sign-ins started at the identity provider");
  sso_set_cmd->add_flag("--enable", sso_enable, "Turn SSO on (default when metadata is first set)");
  sso_set_cmd->add_flag("--disable", sso_disable, "Turn SSO off for the tenant");

  parley::server::UserCreateOptions user_create;
  auto* user_cmd = app.add_subcommand("user", "User administration");
  user_cmd->require_subcommand(1);
  auto* user_create_cmd = user_cmd->add_subcommand(
      "create", "Create a local user (password from PARLEY_USER_PASSWORD, else a random one printed once)");
  user_create_cmd->add_option("--config", user_create.config_file, "parley.toml")->required();
  user_create_cmd->add_option("--tenant", user_create.tenant, "Tenant name or id; \"platform\" for platform admins")
      ->required();
  user_create_cmd->add_option("--email", user_create.email, "E-mail address (its domain must be the tenant's)")->required();
  user_create_cmd->add_option("--role", user_create.role, "platform_admin, tenant_admin, analyst or viewer")->required();

  std::string audit_tenant;
  auto* audit_cmd = app.add_subcommand("audit", "Audit log administration");
  audit_cmd->require_subcommand(1);
  auto* audit_verify = audit_cmd->add_subcommand(
      "verify", "Recompute the audit hash chains; exit 0 intact, 1 tampered (names the first bad seq)");
  audit_verify->add_option("--config", config, "parley.toml")->required();
  audit_verify->add_option("--tenant", audit_tenant, "Only this tenant (name or id, or \"platform\")");

  auto* keys_cmd = app.add_subcommand("keys", "Key management (docs/keys.md)");
  keys_cmd->require_subcommand(1);
  auto* keys_status = keys_cmd->add_subcommand("status", "Show the master keys and which one wraps each tenant's key");
  keys_status->add_option("--config", config, "parley.toml")->required();
  parley::server::KeysRotateOptions rotate;
  auto* keys_rotate = keys_cmd->add_subcommand(
      "rotate", "New master key, every data key re-wrapped; or, with --tenant T --data-key, T's personal data "
                "re-encrypted under a new data key. No downtime; resumes when run again after an interruption");
  keys_rotate->add_option("--config", rotate.config_file, "parley.toml")->required();
  keys_rotate->add_option("--tenant", rotate.tenant, "Tenant name or id (with --data-key)");
  keys_rotate->add_flag("--data-key", rotate.data_key, "Rotate the tenant's data key instead of the master key");
  keys_rotate->add_option("--grace-seconds", rotate.grace_seconds,
                          "Wait before re-encrypting (default 2 x keys.data_key_cache_seconds + 5)");
  keys_rotate->add_option("--batch-rows", rotate.batch_rows, "Values re-encrypted per transaction (1-5000)")
      ->check(CLI::Range(1, 5000));
  std::string rollups_tenant;
  auto* rollups_cmd = app.add_subcommand("rollups", "Rollup (dashboard aggregate) administration");
  rollups_cmd->require_subcommand(1);
  auto* rollups_verify = rollups_cmd->add_subcommand(
      "verify", "Recompute the rollups from the raw calls and compare; exit 0 equal, 1 different (names the rows)");
  rollups_verify->add_option("--config", config, "parley.toml")->required();
  rollups_verify->add_option("--tenant", rollups_tenant, "Only this tenant (name or id)");
  auto* rollups_rebuild = rollups_cmd->add_subcommand(
      "rebuild", "Recompute the rollups from the raw calls and participants and replace the stored ones "
                 "(ingest waits meanwhile)");
  rollups_rebuild->add_option("--config", config, "parley.toml")->required();
  rollups_rebuild->add_option("--tenant", rollups_tenant, "Only this tenant (name or id)");

  parley::server::RetentionApplyOptions retention;
  auto* retention_cmd = app.add_subcommand("retention", "Record retention (docs/operations.md, Retention)");
  retention_cmd->require_subcommand(1);
  auto* retention_apply = retention_cmd->add_subcommand(
      "apply", "Delete, for every tenant, the call detail records that started before a month; prints per table "
               "how many rows went (rollups are kept)");
  retention_apply->add_option("--config", retention.config_file, "parley.toml")->required();
  auto* retention_months = retention_apply->add_option(
      "--months", retention.months, "Keep this many months before the current one (default: store.retention_months)");
  retention_apply->add_option("--before", retention.before, "Delete the records that started before this month, YYYY-MM")
      ->excludes(retention_months);
  retention_apply->add_flag("--dry-run", retention.dry_run, "Count what would be deleted; delete nothing");

  auto* doc_cmd = app.add_subcommand("config-doc", "Print docs/configuration.md, generated from the settings table");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*init_cmd) return parley::server::RunInit(init);
  if (*serve_cmd) return parley::server::RunServe(serve);
  if (*token_cmd) return parley::server::RunEnrollToken(config, tenant);
  if (*tenant_list) return parley::server::RunTenantList(config);
  if (*tenant_create_cmd) return parley::server::RunTenantCreate(tenant_create);
  if (*sso_set_cmd) {
    if (idp_initiated || no_idp_initiated) sso_set.idp_initiated = idp_initiated && !no_idp_initiated;
    if (sso_enable || sso_disable) sso_set.enabled = sso_enable && !sso_disable;
    return parley::server::RunTenantSsoSet(sso_set);
  }
  if (*user_create_cmd) return parley::server::RunUserCreate(user_create);
  if (*audit_verify) return parley::server::RunAuditVerify(config, audit_tenant);
  if (*keys_status) return parley::server::RunKeysStatus(config);
  if (*keys_rotate) return parley::server::RunKeysRotate(rotate);
  if (*rollups_verify) return parley::server::RunRollupsVerify(config, rollups_tenant);
  if (*rollups_rebuild) return parley::server::RunRollupsRebuild(config, rollups_tenant);
  if (*retention_apply) return parley::server::RunRetentionApply(retention);
  if (*doc_cmd) {
    std::cout << parley::RenderConfigurationDoc();
    return 0;
  }
  return 1;
}
