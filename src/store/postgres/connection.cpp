#include "store/postgres/connection.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace parley::store::postgres {
namespace {

// Type OIDs of the parameters we bind (pg_type.dat).
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kByteaOid = 17;
constexpr Oid kTextArrayOid = 1009;
constexpr Oid kInt8ArrayOid = 1016;
constexpr Oid kFloat8ArrayOid = 1022;

std::string FirstLine(const char* message) {
  std::string s = message != nullptr ? message : "";
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  return s;
}

std::string ToText(int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string ToText(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  return std::string(buf, end);
}

}  // namespace

Error PgError(const PGresult* result, PGconn* conn) {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string code = state != nullptr ? state : "";
  std::string message = result != nullptr ? FirstLine(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY)) : "";
  if (message.empty()) message = FirstLine(PQerrorMessage(conn));
  if (code == "23505") return AlreadyExists("already exists (" + message + ")");
  if (code == "23503") return FailedPrecondition("a referenced record does not exist (" + message + ")");
  // Class 22 messages may quote the offending value: say only the SQLSTATE.
  if (code.starts_with("22")) return InvalidArgument("value refused by the schema (SQLSTATE " + code + ")");
  if (code.starts_with("23")) return InvalidArgument("value refused by the schema (" + message + ")");
  if (code.empty() || code.starts_with("08") || code == "40001" || code == "40P01" || code == "55P03" ||
      code == "57P01" || code == "57P02" || code == "57P03" || code.starts_with("53")) {
    return Unavailable("store is unavailable, retry later (" + message + ")");
  }
  return Internal("postgres: " + message + " (SQLSTATE " + code + ")");
}

// ---- Params ----

Params& Params::Add(Oid type, std::optional<std::string> value, int format) {
  types_.push_back(type);
  lengths_.push_back(value ? static_cast<int>(value->size()) : 0);
  formats_.push_back(format);
  values_.push_back(std::move(value));
  return *this;
}

Params& Params::Text(std::string_view value) { return Add(kTextOid, std::string(value), 0); }
Params& Params::Bytea(std::string_view bytes) { return Add(kByteaOid, std::string(bytes), 1); }
Params& Params::Int(int64_t value) { return Add(kInt8Oid, ToText(value), 0); }
Params& Params::Double(double value) { return Add(kFloat8Oid, ToText(value), 0); }
Params& Params::Null() { return Add(0, std::nullopt, 0); }
Params& Params::OptInt(const std::optional<int64_t>& value) {
  return value ? Int(*value) : Add(kInt8Oid, std::nullopt, 0);
}
Params& Params::OptDouble(const std::optional<double>& value) {
  return value ? Double(*value) : Add(kFloat8Oid, std::nullopt, 0);
}

Params& Params::TextArray(const std::vector<std::string_view>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  return Add(kTextArrayOid, std::move(literal), 0);
}

Params& Params::IntArray(const std::vector<int64_t>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += ToText(values[i]);
  }
  literal += '}';
  return Add(kInt8ArrayOid, std::move(literal), 0);
}

Params& Params::DoubleArray(const std::vector<double>& values) {
  std::string literal = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) literal += ',';
    literal += ToText(values[i]);
  }
  literal += '}';
  return Add(kFloat8ArrayOid, std::move(literal), 0);
}

std::vector<const char*> Params::values() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v ? v->data() : nullptr);
  return out;
}

// ---- Rows ----

int64_t Rows::Affected() const {
  const char* n = PQcmdTuples(result_.get());
  int64_t v = 0;
  if (n != nullptr) std::from_chars(n, n + std::strlen(n), v);
  return v;
}

std::string Rows::Text(int row, int column) const {
  return std::string(PQgetvalue(result_.get(), row, column),
                     static_cast<size_t>(PQgetlength(result_.get(), row, column)));
}

std::string Rows::Bytea(int row, int column) const {
  if (IsNull(row, column)) return {};
  size_t length = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column)), &length);
  if (bytes == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

int64_t Rows::Int(int row, int column) const {
  const char* s = PQgetvalue(result_.get(), row, column);
  int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

std::optional<int64_t> Rows::OptInt(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return Int(row, column);
}

std::optional<double> Rows::OptDouble(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  // strtod, not from_chars: PostgreSQL may print "Infinity"/"NaN", which the
  // schema's CHECKs refuse anyway, but parsing must not misread them.
  return std::strtod(PQgetvalue(result_.get(), row, column), nullptr);
}

bool Rows::Bool(int row, int column) const { return PQgetvalue(result_.get(), row, column)[0] == 't'; }

// ---- Connection ----

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Unavailable("cannot allocate a PostgreSQL connection");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = FirstLine(PQerrorMessage(conn));
    PQfinish(conn);
    return Unavailable("cannot connect to PostgreSQL: " + message);
  }
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

Result<Rows> Connection::Exec(std::string_view sql, const Params& params) {
  const std::string text(sql);
  const std::vector<const char*> values = params.values();
  PGresult* r = PQexecParams(conn_, text.c_str(), params.size(), params.types(), values.data(), params.lengths(),
                             params.formats(), /*resultFormat=*/0);
  Rows rows(r);
  const ExecStatusType status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return PgError(r, conn_);
  return rows;
}

namespace {

// Statements per pipeline sync: the answers of one chunk (a few hundred
// bytes each for the statements we pipeline) stay far below the socket
// buffers, so the blocking sends can never wait on unread answers.
constexpr size_t kPipelineChunk = 256;

}  // namespace

Result<std::vector<Rows>> Connection::ExecPipeline(const std::vector<Statement>& statements) {
  std::vector<Rows> out;
  out.reserve(statements.size());
  for (size_t first = 0; first < statements.size(); first += kPipelineChunk) {
    const size_t end = std::min(statements.size(), first + kPipelineChunk);
    if (PQenterPipelineMode(conn_) != 1) return PgError(nullptr, conn_);
    bool sent = true;
    for (size_t i = first; i < end && sent; ++i) {
      const Statement& st = statements[i];
      const std::vector<const char*> values = st.params.values();
      sent = PQsendQueryParams(conn_, st.sql.c_str(), st.params.size(), st.params.types(), values.data(),
                               st.params.lengths(), st.params.formats(), /*resultFormat=*/0) == 1;
    }
    if (!sent || PQpipelineSync(conn_) != 1) {
      Error failed = Unavailable("store is unavailable, retry later (" + FirstLine(PQerrorMessage(conn_)) + ")");
      // Nothing more can be read reliably: a reconnect (EnsureAlive) or the
      // Tx's rollback deals with the connection.
      while (PGresult* r = PQgetResult(conn_)) PQclear(r);
      PQexitPipelineMode(conn_);
      return failed;
    }
    // Every statement answers with one result followed by a null; an
    // aborted one (after a failure) with PGRES_PIPELINE_ABORTED; the sync
    // with PGRES_PIPELINE_SYNC. Two nulls in a row mean the connection is gone.
    std::optional<Error> error;
    size_t answered = 0;
    int nulls = 0;
    for (;;) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) {
        if (++nulls >= 2 && PQstatus(conn_) != CONNECTION_OK) {
          error = error ? *error : Unavailable("store is unavailable, retry later (connection lost in a pipeline)");
          break;
        }
        continue;
      }
      nulls = 0;
      Rows rows(r);
      const ExecStatusType status = PQresultStatus(r);
      if (status == PGRES_PIPELINE_SYNC) break;
      ++answered;
      if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        if (!error) out.push_back(std::move(rows));
      } else if (status != PGRES_PIPELINE_ABORTED && !error) {
        error = PgError(r, conn_);
      }
    }
    PQexitPipelineMode(conn_);
    if (error) return *error;
    if (answered != end - first) return Internal("postgres: a pipeline answered " + std::to_string(answered) +
                                                 " of " + std::to_string(end - first) + " statements");
  }
  return out;
}

Status Connection::ExecStatic(const std::string& sql) {
  // PQexec returns the last statement's result; a failure stops the string
  // and is what that result reports.
  PGresult* r = PQexec(conn_, sql.c_str());
  Rows guard(r);
  const ExecStatusType status = r != nullptr ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return PgError(r, conn_);
  return Ok();
}

Status Connection::CopyIn(const std::string& copy_sql, std::string_view data) {
  {
    PGresult* start = PQexec(conn_, copy_sql.c_str());
    Rows guard(start);
    if (start == nullptr || PQresultStatus(start) != PGRES_COPY_IN) return PgError(start, conn_);
  }
  if (!data.empty() && PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1) {
    return Unavailable("store is unavailable, retry later (COPY data could not be sent)");
  }
  if (PQputCopyEnd(conn_, nullptr) != 1) return Unavailable("store is unavailable, retry later (COPY end failed)");
  Status status = Ok();
  // Drain every result of the COPY; the first failure is the answer.
  while (PGresult* r = PQgetResult(conn_)) {
    Rows guard(r);
    if (status.ok() && PQresultStatus(r) != PGRES_COMMAND_OK) status = PgError(r, conn_);
  }
  return status;
}

Status Connection::EnsureAlive() {
  if (PQstatus(conn_) == CONNECTION_OK) return Ok();
  PQreset(conn_);
  session_ready = false;
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Unavailable("store is unavailable, retry later (" + FirstLine(PQerrorMessage(conn_)) + ")");
  }
  return Ok();
}

// ---- COPY binary format ----
// https://www.postgresql.org/docs/15/sql-copy.html, "Binary Format": the
// signature, flags and header extension length; per row a 16-bit field
// count, per field a 32-bit length (-1: NULL) and the value, all big-endian;
// a field count of -1 ends the data.

BinaryCopy::BinaryCopy() {
  out_.append("PGCOPY\n\377\r\n\0", 11);
  Be32(0);  // flags: no OIDs
  Be32(0);  // header extension length
}

void BinaryCopy::Be16(uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out_.append(b, 2);
}

void BinaryCopy::Be32(uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out_.append(b, 4);
}

void BinaryCopy::Be64(uint64_t v) {
  Be32(static_cast<uint32_t>(v >> 32));
  Be32(static_cast<uint32_t>(v));
}

void BinaryCopy::EndRow() {
  if (rows_ > 0 && written_ != announced_) mismatch_ = true;
}

void BinaryCopy::Row(int16_t fields) {
  EndRow();
  ++rows_;
  announced_ = fields;
  written_ = 0;
  Be16(static_cast<uint16_t>(fields));
}

void BinaryCopy::Field(uint32_t length) {
  ++written_;
  Be32(length);
}

void BinaryCopy::Null() { Field(0xFFFFFFFFu); }

void BinaryCopy::Int(int64_t value) {
  Field(8);
  Be64(static_cast<uint64_t>(value));
}

void BinaryCopy::OptInt(const std::optional<int64_t>& value) {
  if (value) {
    Int(*value);
  } else {
    Null();
  }
}

void BinaryCopy::OptDouble(const std::optional<double>& value) {
  if (!value) return Null();
  Field(8);
  Be64(std::bit_cast<uint64_t>(*value));  // float8send: the IEEE 754 bits
}

void BinaryCopy::Text(std::string_view value) {
  Field(static_cast<uint32_t>(value.size()));
  out_.append(value);
}

void BinaryCopy::Bytea(std::string_view bytes) {
  Field(static_cast<uint32_t>(bytes.size()));
  out_.append(bytes);
}

void BinaryCopy::IntArray(const std::vector<int64_t>& values) {
  // array_send: dimensions, has-nulls flag, element type (int8, OID 20),
  // then per dimension its size and lower bound, then each element as a field.
  Field(static_cast<uint32_t>(20 + values.size() * 12));
  Be32(1);
  Be32(0);
  Be32(kInt8Oid);
  Be32(static_cast<uint32_t>(values.size()));
  Be32(1);
  for (int64_t v : values) {
    Be32(8);
    Be64(static_cast<uint64_t>(v));
  }
}

Result<std::string> BinaryCopy::Finish() {
  EndRow();
  if (mismatch_) return Internal("store: a COPY row's field count differs from its table's");
  Be16(0xFFFF);
  rows_ = 0;
  return std::move(out_);
}

// ---- Pool ----

Result<std::unique_ptr<Pool>> Pool::Open(const std::string& conninfo, int size) {
  auto pool = std::make_unique<Pool>();
  for (int i = 0; i < size; ++i) {
    PARLEY_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connection::Open(conninfo));
    pool->free_.push_back(std::move(conn));
  }
  return pool;
}

Result<Pool::Lease> Pool::Acquire() {
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock lock(mu_);
    free_cv_.wait(lock, [&] { return !free_.empty(); });
    conn = std::move(free_.back());
    free_.pop_back();
  }
  Lease lease(this, std::move(conn));
  PARLEY_TRY(lease->EnsureAlive());
  return lease;
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(conn));
  }
  free_cv_.notify_one();
}

Pool::Lease::~Lease() {
  if (conn_ != nullptr) pool_->Release(std::move(conn_));
}

// ---- Tx ----

Result<Tx> Tx::Begin(Pool::Lease lease, bool read_only) {
  PARLEY_TRY(lease->Exec(read_only ? "BEGIN READ ONLY" : "BEGIN"));
  return Tx(std::move(lease));
}

Tx::~Tx() {
  if (open_ && lease_) {
    // Best effort: if the connection is gone, the server rolled back already.
    PGresult* r = PQexec((*lease_)->raw(), "ROLLBACK");
    PQclear(r);
  }
}

Status Tx::Commit() {
  PGresult* r = PQexec((*lease_)->raw(), "COMMIT");
  Rows guard(r);
  open_ = false;
  if (r == nullptr || PQresultStatus(r) != PGRES_COMMAND_OK) return PgError(r, (*lease_)->raw());
  // COMMIT of a transaction that failed earlier answers ROLLBACK, not an error.
  if (std::strcmp(PQcmdStatus(r), "COMMIT") != 0) return Internal("postgres: the transaction was rolled back");
  return Ok();
}

}  // namespace parley::store::postgres
