#include "store/sqlite/search_doc_rows.h"

#include <cstddef>
#include <new>

#include "store/sqlite/statement.h"

namespace parley::store::sqlite {
namespace {

// Columns as declared in Connect; `rows` is the hidden argument.
enum Column : int { kId, kTenantId, kRecordKind, kSource, kRecordId, kStartAt, kTerms, kRows };

using Rows = std::vector<SearchDocRow>;

// SQLite's cursor base first, so SQLite's pointer to it is ours.
struct Cursor {
  sqlite3_vtab_cursor base{};
  const Rows* rows = nullptr;
  size_t at = 0;
};
Cursor& Of(sqlite3_vtab_cursor* c) { return *reinterpret_cast<Cursor*>(c); }

int Connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  const int rc = sqlite3_declare_vtab(db,
                                      "CREATE TABLE x (id INTEGER, tenant_id TEXT, record_kind TEXT, source TEXT,"
                                      " record_id TEXT, start_at INTEGER, terms TEXT, rows HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  // Only in statements the writer prepares, never from a trigger or view a
  // database file could bring along.
  sqlite3_vtab_config(db, SQLITE_VTAB_DIRECTONLY);
  auto* table = static_cast<sqlite3_vtab*>(sqlite3_malloc(sizeof(sqlite3_vtab)));
  if (table == nullptr) return SQLITE_NOMEM;
  *table = sqlite3_vtab{};
  *out = table;
  return SQLITE_OK;
}

int Disconnect(sqlite3_vtab* table) {
  sqlite3_free(table);
  return SQLITE_OK;
}

int BestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  int rows_arg = -1;
  for (int i = 0; i < info->nConstraint; ++i) {
    const auto& c = info->aConstraint[i];
    if (c.iColumn != kRows || c.op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    // The argument must be known before the scan: a plan that would supply
    // it later is refused, so SQLite picks another.
    if (!c.usable) return SQLITE_CONSTRAINT;
    rows_arg = i;
  }
  if (rows_arg < 0) {
    info->idxNum = 0;  // without its argument the table is empty
    info->estimatedCost = 1e12;
  } else {
    info->aConstraintUsage[rows_arg].argvIndex = 1;
    info->aConstraintUsage[rows_arg].omit = 1;
    info->idxNum = 1;
    info->estimatedCost = 1;
  }
  // The rows come in ascending id order (the caller's promise).
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == kId && !info->aOrderBy[0].desc) info->orderByConsumed = 1;
  return SQLITE_OK;
}

int Open(sqlite3_vtab*, sqlite3_vtab_cursor** out) {
  auto* cursor = new (std::nothrow) Cursor;
  if (cursor == nullptr) return SQLITE_NOMEM;
  *out = &cursor->base;
  return SQLITE_OK;
}

int Close(sqlite3_vtab_cursor* c) {
  delete &Of(c);
  return SQLITE_OK;
}

int Filter(sqlite3_vtab_cursor* c, int idx_num, const char*, int argc, sqlite3_value** argv) {
  Cursor& cursor = Of(c);
  // A value bound any other way than sqlite3_bind_pointer with our type
  // reads as NULL here: no rows.
  cursor.rows = nullptr;
  if (idx_num == 1 && argc == 1) {
    cursor.rows = static_cast<const Rows*>(sqlite3_value_pointer(argv[0], kSearchDocRowsPointer));
  }
  cursor.at = 0;
  return SQLITE_OK;
}

int Next(sqlite3_vtab_cursor* c) {
  ++Of(c).at;
  return SQLITE_OK;
}

int Eof(sqlite3_vtab_cursor* c) {
  const Cursor& cursor = Of(c);
  return cursor.rows == nullptr || cursor.at >= cursor.rows->size();
}

void Text(sqlite3_context* ctx, std::string_view s) {
  // SQLITE_STATIC: the rows outlive the statement's run (the caller's promise).
  sqlite3_result_text64(ctx, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
}

int ColumnValue(sqlite3_vtab_cursor* c, sqlite3_context* ctx, int column) {
  const Cursor& cursor = Of(c);
  const SearchDocRow& row = (*cursor.rows)[cursor.at];
  switch (column) {
    case kId: sqlite3_result_int64(ctx, row.id); break;
    case kTenantId: Text(ctx, row.tenant_id); break;
    case kRecordKind: Text(ctx, row.record_kind); break;
    case kSource: Text(ctx, row.source); break;
    case kRecordId: Text(ctx, row.record_id); break;
    case kStartAt: sqlite3_result_int64(ctx, row.start_at); break;
    case kTerms: Text(ctx, row.terms); break;
    default: sqlite3_result_null(ctx); break;
  }
  return SQLITE_OK;
}

int Rowid(sqlite3_vtab_cursor* c, sqlite_int64* rowid) {
  *rowid = static_cast<sqlite_int64>(Of(c).at);
  return SQLITE_OK;
}

// Eponymous-only (no xCreate): exists in every schema as
// parley_search_docs, read-only (no xUpdate); the other methods stay null.
sqlite3_module MakeModule() {
  sqlite3_module m{};
  m.xConnect = Connect;
  m.xBestIndex = BestIndex;
  m.xDisconnect = Disconnect;
  m.xOpen = Open;
  m.xClose = Close;
  m.xFilter = Filter;
  m.xNext = Next;
  m.xEof = Eof;
  m.xColumn = ColumnValue;
  m.xRowid = Rowid;
  return m;
}
const sqlite3_module kModule = MakeModule();

}  // namespace

Status RegisterSearchDocRows(sqlite3* db) {
  const int rc = sqlite3_create_module_v2(db, "parley_search_docs", &kModule, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc);
  return Ok();
}

}  // namespace parley::store::sqlite
