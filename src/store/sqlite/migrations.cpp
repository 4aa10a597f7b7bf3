#include "store/sqlite/migrations.h"

namespace parley::store::sqlite {
namespace {

constexpr Migration kMigrations[] = {
#include "store/sqlite/sqlite_migrations.inc"
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

}  // namespace parley::store::sqlite
