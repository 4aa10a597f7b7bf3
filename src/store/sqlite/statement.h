// Thin RAII helpers over the SQLite C API, private to the SQLite backend.
//
// Statement owns one prepared statement; values are always bound, never
// spliced into SQL text. Transaction runs BEGIN IMMEDIATE and rolls back on
// destruction unless Commit() succeeded, so an early `return error` can never
// leave half a write behind.
//
// Not thread-safe: a Statement or Transaction is used by the thread that holds
// its connection's mutex, and must not outlive that connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley::store::sqlite {

// Maps an SQLite result code to Parley's closed set of error codes:
// UNIQUE/PRIMARY KEY → kAlreadyExists, FOREIGN KEY → kFailedPrecondition,
// other constraints (CHECK, NOT NULL, STRICT type) → kInvalidArgument,
// BUSY/LOCKED → kUnavailable, anything else → kInternal. The detail carries
// sqlite3_errmsg, which names tables and columns but never bound values.
Error SqliteError(sqlite3* db, int rc);

class Statement {
 public:
  // REQUIRES: db is open. `sql` is a single statement.
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);

  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQLite. A bind failure is remembered and
  // reported by the next Step(), so call sites can bind without checking each.
  Statement& BindText(int index, std::string_view value);
  Statement& BindBlob(int index, std::string_view bytes);
  // As BindText and BindBlob, without SQLite's private copy of the bytes
  // (SQLITE_STATIC): for the ingest loops, which bind every column of tens
  // of thousands of rows from strings their batch owns.
  // REQUIRES: the bytes stay valid and unchanged until the next Reset() or
  // the statement's destruction (a temporary std::string does not).
  Statement& BindTextRef(int index, std::string_view value);
  Statement& BindBlobRef(int index, std::string_view bytes);
  Statement& BindInt64(int index, int64_t value);
  Statement& BindNull(int index);
  Statement& BindDouble(int index, double value);
  // A pointer for a table-valued function that reads it with
  // sqlite3_value_pointer(value, type) (search_doc_rows.h); SQL sees NULL.
  // REQUIRES: *p stays valid until the next Reset().
  Statement& BindPointer(int index, const void* p, const char* type);
  // nullopt binds NULL: "not reported" stays distinguishable from 0.
  Statement& BindOptionalInt64(int index, const std::optional<int64_t>& value);
  Statement& BindOptionalDouble(int index, const std::optional<double>& value);

  // Advances: true when a row is available, false when done.
  Result<bool> Step();
  // Steps a statement that returns no rows (INSERT/UPDATE/DELETE).
  Status Run();
  // Rewinds and clears bindings for reuse with new values.
  void Reset();

  std::string ColumnText(int column) const;   // 0-based; NULL reads as ""
  std::string ColumnBlob(int column) const;   // 0-based; NULL reads as ""
  int64_t ColumnInt64(int column) const;      // 0-based; NULL reads as 0
  bool ColumnIsNull(int column) const;
  std::optional<int64_t> ColumnOptionalInt64(int column) const;  // NULL reads as nullopt
  std::optional<double> ColumnOptionalDouble(int column) const;   // NULL reads as nullopt

  // Rows changed by the last completed INSERT/UPDATE/DELETE on this connection.
  int64_t Changes() const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  int bind_rc_ = SQLITE_OK;  // first failed bind since the last Reset()
};

// Runs SQL without parameters (pragmas, BEGIN, static migration text).
// Never pass text that contains a value from outside the binary.
Status ExecStatic(sqlite3* db, const char* sql);

class Transaction {
 public:
  // BEGIN IMMEDIATE: takes the database write lock now, so the transaction
  // cannot fail later with SQLITE_BUSY on its first write (waits up to
  // busy_timeout for another writer, then kUnavailable).
  static Result<Transaction> Begin(sqlite3* db);

  Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();  // ROLLBACK unless committed

  Status Commit();

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;  // nullptr once committed or moved from
};

}  // namespace parley::store::sqlite
