// A batch's search-term rows handed to one SQL statement straight from C++
// memory: the table-valued function parley_search_docs(?1), an eponymous
// virtual table over a vector the statement is bound to
// (sqlite3_bind_pointer, as SQLite's own carray extension does, which
// Debian's libsqlite3 does not build in).
//
// Why: FTS5 writes out the terms it holds in memory at the end of every
// statement that wrote to it, so a batch's search-term rows must reach
// pii_docs (and its new calls' terms call_terms) in ONE statement each
// (docs/performance.md). They used to pass through
// a temporary table first: one INSERT per row into it, the INSERT ... SELECT
// out of it, and a DELETE to empty it, all inside the write transaction
// every batch waits for.
//
// Private to the SQLite backend; the writer connection registers it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::store::sqlite {

// One row of parley_search_docs: the columns of pii_docs (a call's terms for
// call_terms fill only id and terms). The views must outlive the statement's
// run.
struct SearchDocRow {
  int64_t id = 0;
  std::string_view tenant_id;
  std::string_view record_kind;
  std::string_view source;
  std::string_view record_id;
  int64_t start_at = 0;
  std::string_view terms;
};

// The pointer type name parley_search_docs(?1) accepts (sqlite3_bind_pointer):
// a `const std::vector<SearchDocRow>*`. The rows must be in ascending id
// order; the table reports it, so "ORDER BY id" costs no sort.
inline constexpr const char* kSearchDocRowsPointer = "parley_search_doc_rows";

// Makes parley_search_docs(?1) available on `db`.
Status RegisterSearchDocRows(sqlite3* db);

}  // namespace parley::store::sqlite
