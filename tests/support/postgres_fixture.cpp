#include "support/postgres_fixture.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <cctype>

#include <cstdio>
#include <filesystem>
#include <vector>

namespace parley::testing {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "postgres_fixture: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("cannot find a free port");
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// Runs argv (as the postgres user when we are root), output to `log`.
void Run(std::vector<std::string> argv, const std::string& log) {
  if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die(argv[argv.size() > 4 ? 4 : 0] + " failed (exit " + std::to_string(WEXITSTATUS(status)) + "); see " + log);
  }
}

std::string PercentEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// Runs sql; returns {rows text, error}.
std::pair<std::string, std::string> Exec(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = PQerrorMessage(conn);
    PQfinish(conn);
    return {"", "connect: " + error};
  }
  PGresult* r = PQexec(conn, sql.c_str());
  std::string out, error;
  const ExecStatusType status = PQresultStatus(r);
  if (status == PGRES_TUPLES_OK) {
    for (int i = 0; i < PQntuples(r); ++i) {
      if (i > 0) out += "\n";
      out += PQgetvalue(r, i, PQnfields(r) - 1);
    }
  } else if (status != PGRES_COMMAND_OK) {
    error = PQresultErrorMessage(r);
    if (error.empty()) error = "failed";
  }
  PQclear(r);
  PQfinish(conn);
  return {out, error};
}

}  // namespace

PostgresServer& PostgresServer::Get() {
  static PostgresServer server;  // started once; stopped by its destructor at exit
  return server;
}

PostgresServer::PostgresServer() {
  if (!std::filesystem::exists(std::string(kPgBin) + "/initdb")) {
    Die(std::string(kPgBin) + "/initdb is missing: install Debian's postgresql (scripts/install-deps)");
  }
  std::string templ = (std::filesystem::temp_directory_path() / "parley-pg-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) Die("mkdtemp failed");
  dir_ = templ;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) Die("no postgres user: install Debian's postgresql (scripts/install-deps)");
    if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) Die("cannot chown the cluster directory");
  }
  port_ = FreePort();
  const std::string log = dir_ + "/setup.log";
  Run({std::string(kPgBin) + "/initdb", "-D", dir_ + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8"}, log);
  // Unix socket only; fsync off: the cluster lives as long as the tests.
  Run({std::string(kPgBin) + "/pg_ctl", "-D", dir_ + "/data", "-w", "-l", dir_ + "/server.log", "-o",
       "-p " + std::to_string(port_) + " -k " + dir_ +
           " -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
           " -c max_connections=300",
       "start"},
      log);
  started_ = true;
  const auto [out, error] = Exec(SuperUrl("postgres"),
                                 "CREATE ROLE parley_owner LOGIN; "
                                 "CREATE ROLE parley_app LOGIN NOSUPERUSER NOBYPASSRLS");
  if (!error.empty()) Die("cannot create the roles: " + error);
}

PostgresServer::~PostgresServer() {
  if (started_) {
    const std::string log = dir_ + "/setup.log";
    std::vector<std::string> argv = {std::string(kPgBin) + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w",
                                     "stop"};
    if (::geteuid() == 0) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out >= 0) {
        ::dup2(out, 1);
        ::dup2(out, 2);
      }
      std::vector<char*> args;
      for (std::string& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::_Exit(127);
    }
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PostgresServer::Url(const std::string& user, const std::string& db) const {
  return "postgresql://" + user + "@/" + db + "?host=" + PercentEncode(dir_) + "&port=" + std::to_string(port_);
}

std::string PostgresServer::CreateDatabase() {
  int n = 0;
  {
    std::lock_guard lock(mu_);
    n = ++next_db_;
  }
  const std::string name = "parley_t" + std::to_string(::getpid()) + "_" + std::to_string(n);
  const auto [out, error] = Exec(SuperUrl("postgres"), "CREATE DATABASE " + name + " OWNER parley_owner");
  if (!error.empty()) ADD_FAILURE() << "CREATE DATABASE failed: " << error;
  return name;
}

std::string PostgresServer::Query(const std::string& url, const std::string& sql) {
  const auto [out, error] = Exec(url, sql);
  if (!error.empty()) ADD_FAILURE() << "SQL failed: " << error << "\n  " << sql;
  return out;
}

std::string PostgresServer::ErrorOf(const std::string& url, const std::string& sql) { return Exec(url, sql).second; }

}  // namespace parley::testing
