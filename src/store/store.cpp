#include "store/store.h"

#include <array>
#include <chrono>
#include <utility>

#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace parley::store {
namespace {

// The one table of role names: stored in the database, sent in the API.
constexpr std::array<std::pair<Role, std::string_view>, 4> kRoleNames = {{
    {Role::kPlatformAdmin, "platform_admin"},
    {Role::kTenantAdmin, "tenant_admin"},
    {Role::kAnalyst, "analyst"},
    {Role::kViewer, "viewer"},
}};

constexpr std::string_view kSqliteScheme = "sqlite:";

}  // namespace

std::string_view RoleName(Role r) {
  for (const auto& [role, name] : kRoleNames) {
    if (role == r) return name;
  }
  return "viewer";  // unreachable: every enumerator is in the table
}

std::optional<Role> ParseRole(std::string_view s) {
  for (const auto& [role, name] : kRoleNames) {
    if (name == s) return role;
  }
  return std::nullopt;
}

std::string_view AccountTokenPurposeName(AccountTokenPurpose p) {
  return p == AccountTokenPurpose::kReset ? "reset" : "register";
}

std::string_view RecordKindName(RecordKind k) {
  return k == RecordKind::kParticipant ? "participant" : "call";
}

bool IsSearchTerm(std::string_view term) {
  return term.size() == 16 && term.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Status CheckExpectedCursor(const CursorValue& cursor, const std::optional<std::string>& stored) {
  if (!cursor.expected || stored.value_or(std::string()) == *cursor.expected) return Ok();
  return Aborted("source \"" + cursor.source +
                 "\": the batch follows a cursor that is not stored yet (an earlier batch of the source is not"
                 " stored); send it again once that batch is acknowledged");
}

int64_t RetentionBoundary(int64_t t) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_seconds(seconds(t)));
  const year_month_day ymd(day);
  return duration_cast<seconds>(sys_days(ymd.year() / ymd.month() / 1).time_since_epoch()).count();
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url) { return OpenStore(url, StoreOpenOptions{}); }

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const StoreOpenOptions& options) {
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    postgres::PostgresOptions pg;
    pg.migrate_url = options.migrate_url;
    return postgres::PostgresStore::Open(url, std::move(pg));
  }
  if (url.starts_with(kSqliteScheme)) {
    std::string path = url.substr(kSqliteScheme.size());
    // Accept the URL spelling "sqlite:///abs/path.db" as well as "sqlite:/abs/path.db".
    if (path.starts_with("//")) path.erase(0, 2);
    if (path.empty()) return ConfigError("store.url: the sqlite: URL names no file");
    return sqlite::SqliteStore::Open(path);
  }
  return ConfigError("store.url: unsupported scheme");
}

}  // namespace parley::store
