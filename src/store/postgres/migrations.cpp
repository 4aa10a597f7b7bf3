#include "store/postgres/migrations.h"

namespace parley::store::postgres {
namespace {

constexpr Migration kMigrations[] = {
#include "store/postgres/postgres_migrations.inc"
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

}  // namespace parley::store::postgres
