// The PostgreSQL schema migrations compiled into the binary.
//
// Source of truth: src/store/migrations/postgres/NNNN_name.sql, embedded at
// build time (src/store/CMakeLists.txt). Version N here is the PostgreSQL
// twin of migrations/sqlite/NNNN_*.sql: both backends report the same
// SchemaVersion() for the same Parley. Versions are contiguous from 1; a
// released migration is never edited.
#pragma once

#include <span>
#include <string_view>

namespace parley::store::postgres {

struct Migration {
  int version;
  std::string_view name;  // file name, for error messages
  std::string_view sql;   // one or more statements; no bound values
};

// All migrations, ascending by version. The spans point at static storage.
std::span<const Migration> Migrations();

// Version of the newest migration this binary knows.
int LatestSchemaVersion();

}  // namespace parley::store::postgres
