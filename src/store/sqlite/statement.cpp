#include "store/sqlite/statement.h"

#include <utility>

namespace parley::store::sqlite {

Error SqliteError(sqlite3* db, int rc) {
  const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return AlreadyExists("already exists (" + message + ")");
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return FailedPrecondition("a referenced record does not exist (" + message + ")");
    default:
      break;
  }
  switch (rc & 0xff) {  // primary code
    case SQLITE_CONSTRAINT:
      return InvalidArgument("value refused by the schema (" + message + ")");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Unavailable("store is busy, retry later");
    default:
      return Internal("sqlite: " + message);
  }
}

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteError(db, rc);
  }
  return Statement(db, stmt);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_rc_ = other.bind_rc_;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::NoteBind(int rc) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
}

Statement& Statement::BindPointer(int index, const void* p, const char* type) {
  // SQLite takes a non-const pointer for functions that may write through
  // it; parley_search_docs only reads.
  NoteBind(sqlite3_bind_pointer(stmt_, index, const_cast<void*>(p), type, nullptr));
  return *this;
}

Statement& Statement::BindText(int index, std::string_view value) {
  NoteBind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::BindTextRef(int index, std::string_view value) {
  NoteBind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_STATIC, SQLITE_UTF8));
  return *this;
}

namespace {

// sqlite3_bind_blob64 with a null pointer would bind NULL; an empty blob
// must stay an empty blob (the columns are NOT NULL).
const void* BlobData(std::string_view bytes) {
  static constexpr char kEmpty = 0;
  return bytes.empty() ? &kEmpty : bytes.data();
}

}  // namespace

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  NoteBind(sqlite3_bind_blob64(stmt_, index, BlobData(bytes), bytes.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::BindBlobRef(int index, std::string_view bytes) {
  NoteBind(sqlite3_bind_blob64(stmt_, index, BlobData(bytes), bytes.size(), SQLITE_STATIC));
  return *this;
}

Statement& Statement::BindInt64(int index, int64_t value) {
  NoteBind(sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::BindNull(int index) {
  NoteBind(sqlite3_bind_null(stmt_, index));
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  NoteBind(sqlite3_bind_double(stmt_, index, value));
  return *this;
}

Statement& Statement::BindOptionalInt64(int index, const std::optional<int64_t>& value) {
  return value ? BindInt64(index, *value) : BindNull(index);
}

Statement& Statement::BindOptionalDouble(int index, const std::optional<double>& value) {
  return value ? BindDouble(index, *value) : BindNull(index);
}

Result<bool> Statement::Step() {
  if (bind_rc_ != SQLITE_OK) return Internal(std::string("sqlite bind: ") + sqlite3_errstr(bind_rc_));
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error = SqliteError(db_, rc);
  // Leave the statement reusable; its error is already captured.
  sqlite3_reset(stmt_);
  return error;
}

Status Statement::Run() {
  PARLEY_ASSIGN_OR_RETURN(const bool row, Step());
  // A row here means a statement that returns rows was run for effect; drain
  // it so the write completes (e.g. UPDATE ... RETURNING).
  if (row) {
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(const bool more, Step());
      if (!more) break;
    }
  }
  return Ok();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

std::string Statement::ColumnText(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::ColumnBlob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (data == nullptr) return {};  // NULL or zero-length blob
  return std::string(data, static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::ColumnIsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::optional<int64_t> Statement::ColumnOptionalInt64(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return ColumnInt64(column);
}

std::optional<double> Statement::ColumnOptionalDouble(int column) const {
  if (ColumnIsNull(column)) return std::nullopt;
  return sqlite3_column_double(stmt_, column);
}

int64_t Statement::Changes() const { return sqlite3_changes64(db_); }

Status ExecStatic(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc);
  return Ok();
}

Result<Transaction> Transaction::Begin(sqlite3* db) {
  PARLEY_TRY(ExecStatic(db, "BEGIN IMMEDIATE"));
  return Transaction(db);
}

Transaction::~Transaction() {
  // A failed statement may already have ended the transaction (SQLite rolls
  // back on some errors, e.g. SQLITE_FULL); ROLLBACK then would only fail.
  if (db_ != nullptr && sqlite3_get_autocommit(db_) == 0) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status Transaction::Commit() {
  PARLEY_TRY(ExecStatic(db_, "COMMIT"));
  db_ = nullptr;
  return Ok();
}

}  // namespace parley::store::sqlite
