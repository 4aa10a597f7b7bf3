// `parley-agent check`: one row for the server and one per source, each OK
// or FAIL with a detail an installer can act on; targets never carry
// credentials; the table is aligned. (tests/integration/agent_check_test.py
// runs the binary against a fake Pexip over real TLS.)
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/agent.h"
#include "agent/config.h"

namespace parley::agent {
namespace {

namespace fs = std::filesystem;

// A loopback port nothing listens on (bound, then closed).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-check-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (const char* f : {"server-ca.crt", "agent.crt", "agent.key", "pexip.password", "pexip-ca.crt"})
      std::ofstream(dir_ / f) << "placeholder\n";
    fs::permissions(dir_ / "agent.key", fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(dir_ / "pexip.password", fs::perms::owner_read | fs::perms::owner_write);
  }
  void TearDown() override { fs::remove_all(dir_); }

  AgentConfig Load(const std::string& toml) {
    auto c = AgentConfig::Parse(toml, dir_);
    EXPECT_TRUE(c.ok()) << c.error().detail;
    return *c;
  }

  fs::path dir_;
};

TEST_F(CheckTest, OneRowPerSourceAndTheServer) {
  int port = ClosedPort();
  std::string toml = "[server]\nurl = \"https://127.0.0.1:" + std::to_string(port) + "\"\n" +
                     "[[sources]]\nname = \"cucm-main\"\ntype = \"cucm\"\ndir = \"" + PARLEY_AGENT_FIXTURES +
                     "/cucm\"\nsettle_seconds = 1\ninitial_history_days = 3660\n"
                     "[[sources]]\nname = \"cucm-gone\"\ntype = \"cucm\"\ndir = \"no-such-dir\"\n"
                     "[[sources]]\nname = \"pexip-main\"\ntype = \"pexip\"\nurl = \"https://127.0.0.1:" +
                     std::to_string(port) +
                     "\"\nusername = \"admin\"\npassword_file = \"pexip.password\"\nca_file = \"pexip-ca.crt\"\n";
  AgentConfig config = Load(toml);
  std::vector<CheckRow> rows = Check(config);
  ASSERT_EQ(rows.size(), 4u);

  EXPECT_EQ(rows[0].name, "server");
  EXPECT_EQ(rows[0].type, "server");
  EXPECT_EQ(rows[0].target, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(rows[0].result, "FAIL");
  EXPECT_EQ(rows[0].detail, "cannot connect (connection refused or no route)");

  // The fixtures directory is readable (the fixtures are old: settled).
  EXPECT_EQ(rows[1].name, "cucm-main");
  EXPECT_EQ(rows[1].type, "cucm");
  EXPECT_EQ(rows[1].result, "OK") << rows[1].detail;
  EXPECT_NE(rows[1].detail.find("2 CDR file(s) to read"), std::string::npos) << rows[1].detail;
  EXPECT_NE(rows[1].detail.find("4 call record(s) readable"), std::string::npos) << rows[1].detail;

  EXPECT_EQ(rows[2].result, "FAIL");
  EXPECT_NE(rows[2].detail.find("No such file or directory"), std::string::npos) << rows[2].detail;

  EXPECT_EQ(rows[3].type, "pexip");
  EXPECT_EQ(rows[3].target, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(rows[3].result, "FAIL");
  EXPECT_EQ(rows[3].detail, "cannot connect (connection refused or no route)");
  EXPECT_FALSE(AllChecksOk(rows));

  std::string table = FormatCheckTable(rows);
  EXPECT_EQ(table.substr(0, table.find('\n')), "NAME        TYPE    TARGET" + std::string(rows[1].target.size() - 4, ' ') +
                                                  "RESULT  DETAIL");
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 5);
  EXPECT_EQ(table.find("placeholder"), std::string::npos);  // never a file's content (the password)
}

TEST_F(CheckTest, MissingServerFilesAreAFailRowNotAnAbort) {
  fs::remove(dir_ / "agent.crt");
  AgentConfig config = Load("[server]\nurl = \"https://127.0.0.1:1\"\n");
  std::vector<CheckRow> rows = Check(config);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result, "FAIL");
  EXPECT_NE(rows[0].detail.find("server.cert_file"), std::string::npos) << rows[0].detail;
  EXPECT_NE(rows[0].detail.find("parley-agent enroll"), std::string::npos);
}

TEST(CheckTable, AllOk) {
  std::vector<CheckRow> rows = {{"server", "server", "parley.example.net:8444", "OK", "client certificate accepted"},
                                {"dma-main", "dma", "dma.example.net:8443", "OK", "reachable"}};
  EXPECT_TRUE(AllChecksOk(rows));
  EXPECT_EQ(FormatCheckTable(rows),
            "NAME      TYPE    TARGET                   RESULT  DETAIL\n"
            "server    server  parley.example.net:8444  OK      client certificate accepted\n"
            "dma-main  dma     dma.example.net:8443     OK      reachable\n");
}

}  // namespace
}  // namespace parley::agent
