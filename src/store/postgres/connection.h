// Thin RAII helpers over libpq, private to the PostgreSQL backend.
//
// Values are always sent as bound parameters ($1, $2, ...), never spliced
// into SQL text; results come back in text format and are decoded here.
// Connection owns one PGconn; Pool hands out connections one caller at a
// time. Tx is a transaction on a leased connection that rolls back on
// destruction unless Commit() succeeded, so an early `return error` can
// never leave half a write behind.
//
// Thread-safety: Pool is thread-safe; a Lease, its Connection and a Tx are
// used by one thread at a time.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace parley::store::postgres {

// Maps a failed result to Parley's closed set of codes by SQLSTATE:
// unique_violation → kAlreadyExists, foreign_key_violation →
// kFailedPrecondition, other integrity and data errors (class 22, 23) →
// kInvalidArgument, connection loss, shutdown, serialization failure,
// deadlock, lock timeout → kUnavailable, anything else → kInternal. The
// detail carries PostgreSQL's primary message only (it names relations and
// constraints); the DETAIL field, which quotes values, is never used.
Error PgError(const PGresult* result, PGconn* conn);

// Bound parameters of one statement. Integers, doubles and text go in text
// format; bytea goes in binary format so blobs need no escaping.
class Params {
 public:
  Params& Text(std::string_view value);
  Params& Bytea(std::string_view bytes);
  Params& Int(int64_t value);
  Params& Double(double value);
  Params& Null();
  Params& OptInt(const std::optional<int64_t>& value);
  Params& OptDouble(const std::optional<double>& value);
  // A text[] literal ({"a","b"}) of the given values.
  Params& TextArray(const std::vector<std::string_view>& values);
  Params& IntArray(const std::vector<int64_t>& values);
  Params& DoubleArray(const std::vector<double>& values);

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.data(); }
  std::vector<const char*> values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(Oid type, std::optional<std::string> value, int format);

  std::vector<Oid> types_;
  std::vector<std::optional<std::string>> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// The rows of one successful statement (text format).
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result) {}
  Rows(Rows&&) noexcept = default;
  Rows& operator=(Rows&&) noexcept = default;

  int size() const { return PQntuples(result_.get()); }
  bool empty() const { return size() == 0; }
  // Rows changed by an INSERT/UPDATE/DELETE (PQcmdTuples).
  int64_t Affected() const;

  bool IsNull(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string Text(int row, int column) const;                      // NULL reads as ""
  std::string Bytea(int row, int column) const;                     // NULL reads as ""
  int64_t Int(int row, int column) const;                           // NULL reads as 0
  std::optional<int64_t> OptInt(int row, int column) const;         // NULL reads as nullopt
  std::optional<double> OptDouble(int row, int column) const;       // NULL reads as nullopt
  bool Bool(int row, int column) const;                             // 't' is true

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> result_;
};

// One statement of a pipeline (Connection::ExecPipeline).
struct Statement {
  std::string sql;
  Params params;
};

class Connection {
 public:
  // Connects with a libpq connection string or postgresql:// URI. Errors
  // are kUnavailable with libpq's message (no password: libpq never prints it).
  static Result<std::unique_ptr<Connection>> Open(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // One parameterized statement.
  Result<Rows> Exec(std::string_view sql, const Params& params = {});
  // The statements in order, in libpq's pipeline mode: all are sent before
  // any answer is read, so N statements cost one round trip instead of N
  // (ingest issues hundreds of small rollup statements per batch). Returns
  // one Rows per statement, or the first failure; PostgreSQL skips the
  // statements after a failure, and inside BEGIN ... the transaction is
  // then aborted, as with Exec. Sent in chunks so the answers of one chunk
  // never outgrow the socket buffers.
  Result<std::vector<Rows>> ExecPipeline(const std::vector<Statement>& statements);
  // Static SQL, possibly several statements (simple query protocol). Never
  // pass text containing a value from outside the binary.
  Status ExecStatic(const std::string& sql);
  // COPY ... FROM STDIN with `data` in the format copy_sql names
  // (BinaryCopy for FORMAT binary).
  Status CopyIn(const std::string& copy_sql, std::string_view data);

  // Reconnects if the server closed the connection (restart, failover).
  Status EnsureAlive();
  bool InTransaction() const { return PQtransactionStatus(conn_) != PQTRANS_IDLE; }

  PGconn* raw() { return conn_; }
  // Set when this connection's per-session setup (temporary staging tables)
  // has run; cleared on reconnect.
  bool session_ready = false;

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// The data of one COPY ... FROM STDIN (FORMAT binary): each value in its
// type's binary send format, so the server parses no text (20,000 staged
// calls: 91 ms as COPY text, 40 ms binary; no hex for bytea). Each method
// appends one field of the current row and must match the column's type.
class BinaryCopy {
 public:
  BinaryCopy();  // the file header
  // Starts a row of `fields` columns.
  void Row(int16_t fields);
  void Int(int64_t value);  // bigint
  void OptInt(const std::optional<int64_t>& value);
  void OptDouble(const std::optional<double>& value);  // double precision
  void Text(std::string_view value);                   // text, UTF-8
  void Bytea(std::string_view bytes);
  void IntArray(const std::vector<int64_t>& values);  // bigint[], one dimension
  void Null();
  size_t rows() const { return rows_; }
  // The data with its trailer, or kInternal if a row's field count differs
  // from what Row() announced (a programming error, caught before sending).
  Result<std::string> Finish();

 private:
  void Field(uint32_t length);
  void Be16(uint16_t v);
  void Be32(uint32_t v);
  void Be64(uint64_t v);
  void EndRow();

  std::string out_;
  size_t rows_ = 0;
  int16_t announced_ = 0;
  int16_t written_ = 0;
  bool mismatch_ = false;
};

// A fixed set of connections; Acquire() waits for a free one.
class Pool {
 public:
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  static Result<std::unique_ptr<Pool>> Open(const std::string& conninfo, int size);
  // A live connection (reconnected if the server dropped it), or kUnavailable.
  Result<Lease> Acquire();

 private:
  void Release(std::unique_ptr<Connection> conn);

  std::mutex mu_;
  std::condition_variable free_cv_;
  std::vector<std::unique_ptr<Connection>> free_;  // GUARDED_BY(mu_)
};

// A transaction on a leased connection: BEGIN now, ROLLBACK on destruction
// unless committed.
class Tx {
 public:
  static Result<Tx> Begin(Pool::Lease lease, bool read_only);
  Tx(Tx&& other) noexcept : lease_(std::move(other.lease_)), open_(std::exchange(other.open_, false)) {}
  Tx& operator=(Tx&&) = delete;
  ~Tx();

  Result<Rows> Exec(std::string_view sql, const Params& params = {}) { return (*lease_)->Exec(sql, params); }
  Result<std::vector<Rows>> ExecPipeline(const std::vector<Statement>& statements) {
    return (*lease_)->ExecPipeline(statements);
  }
  Status CopyIn(const std::string& copy_sql, std::string_view data) { return (*lease_)->CopyIn(copy_sql, data); }
  Connection& conn() { return **lease_; }
  Status Commit();

 private:
  explicit Tx(Pool::Lease lease) : lease_(std::move(lease)), open_(true) {}
  std::optional<Pool::Lease> lease_;
  bool open_;
};

}  // namespace parley::store::postgres
