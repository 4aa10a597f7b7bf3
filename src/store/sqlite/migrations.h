// The SQLite schema migrations compiled into the binary.
//
// Source of truth: src/store/migrations/sqlite/NNNN_name.sql, embedded at
// build time (src/store/CMakeLists.txt). Versions are contiguous from 1 and
// sorted; the build refuses a gap. Released migrations are never edited: a
// change to the schema is a new file.
#pragma once

#include <span>
#include <string_view>

namespace parley::store::sqlite {

struct Migration {
  int version;
  std::string_view name;  // file name, for error messages
  std::string_view sql;   // one or more statements; no bound values
};

// All migrations, ascending by version. The spans point at static storage.
std::span<const Migration> Migrations();

// Version of the newest migration this binary knows.
int LatestSchemaVersion();

}  // namespace parley::store::sqlite
