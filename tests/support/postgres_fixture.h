// PostgresServer: a throw-away PostgreSQL 15 cluster for one test binary, so
// tests run against a real server without any pre-existing one.
//
// The first Get() runs initdb + pg_ctl start in a temporary directory
// (/usr/lib/postgresql/15/bin; as root via `runuser -u postgres`, since
// initdb and postgres refuse to run as root), listening only on a Unix
// socket in that directory on a random free port, and creates two roles:
//   parley_owner  owns each test database and its schema (migrations),
//   parley_app    the application role: not an owner, no BYPASSRLS.
// The cluster is stopped and its directory removed at process exit. A
// missing PostgreSQL makes Get() abort the test binary with a message: tests
// fail, never skip.
//
// Thread-safe: Get() and CreateDatabase() may be called from any thread.
#pragma once

#include <mutex>
#include <string>

namespace parley::testing {

class PostgresServer {
 public:
  static PostgresServer& Get();

  // A new, empty database owned by parley_owner; returns its name.
  std::string CreateDatabase();

  // libpq URIs for `db` as the application role, the owner, and the
  // superuser (which bypasses row-level security: for raw checks only).
  std::string AppUrl(const std::string& db) const { return Url("parley_app", db); }
  std::string OwnerUrl(const std::string& db) const { return Url("parley_owner", db); }
  std::string SuperUrl(const std::string& db) const { return Url("postgres", db); }

  // Runs `sql` (one or more statements) on `url`; returns the last column of
  // every row of the last statement, joined by '\n' (NULL reads as "").
  // Adds a gtest failure and returns "" if the server refuses it.
  static std::string Query(const std::string& url, const std::string& sql);
  // Like Query, but returns the error message ("" on success).
  static std::string ErrorOf(const std::string& url, const std::string& sql);

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;
  ~PostgresServer();

 private:
  PostgresServer();
  std::string Url(const std::string& user, const std::string& db) const;

  std::string dir_;        // temporary directory: data/, the socket, logs
  int port_ = 0;
  bool started_ = false;
  std::mutex mu_;
  int next_db_ = 0;        // GUARDED_BY(mu_)
};

}  // namespace parley::testing
