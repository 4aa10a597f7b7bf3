// agent.toml keys of the cucm and pexip sources (docs/agent.md).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"

namespace parley::agent {
namespace {

namespace fs = std::filesystem;

class CucmPexipConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-cfg-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "pexip.password") << "secret\n";
    fs::permissions(dir_ / "pexip.password", fs::perms::owner_read | fs::perms::owner_write);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<AgentConfig> Parse(const std::string& sources) {
    return AgentConfig::Parse("[server]\nurl = \"https://parley.example:8444\"\n" + sources, dir_);
  }
  std::string ErrorOf(const std::string& sources) {
    auto c = Parse(sources);
    return c.ok() ? std::string("(ok)") : c.error().detail;
  }

  fs::path dir_;
};

TEST_F(CucmPexipConfigTest, Cucm) {
  auto c = Parse("[[sources]]\nname = \"cucm\"\ntype = \"cucm\"\ndir = \"cdr\"\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  ASSERT_EQ(c->sources.size(), 1u);
  EXPECT_EQ(c->sources[0].dir, dir_ / "cdr");  // relative to the config file
  EXPECT_EQ(c->sources[0].settle_seconds, 120);
  EXPECT_EQ(c->sources[0].initial_history_days, 30);
  auto d = Parse("[[sources]]\nname = \"cucm\"\ntype = \"cucm\"\ndir = \"/var/cdr\"\nsettle_seconds = 30\n"
                 "initial_history_days = 7\n");
  ASSERT_TRUE(d.ok()) << d.error().detail;
  EXPECT_EQ(d->sources[0].dir, "/var/cdr");
  EXPECT_EQ(d->sources[0].settle_seconds, 30);
  EXPECT_EQ(d->sources[0].initial_history_days, 7);

  EXPECT_EQ(ErrorOf("[[sources]]\nname = \"cucm\"\ntype = \"cucm\"\n"), "sources[0].dir: required");
  EXPECT_EQ(ErrorOf("[[sources]]\nname = \"cucm\"\ntype = \"cucm\"\ndir = \"/var/cdr\"\nurl = \"https://x\"\n"),
            "sources[0].url: not used by cucm sources (they read `dir`)");
  EXPECT_EQ(ErrorOf("[[sources]]\nname = \"cucm\"\ntype = \"cucm\"\ndir = \"/var/cdr\"\nsettle_seconds = 0\n"),
            "sources[0].settle_seconds: must be positive");
}

TEST_F(CucmPexipConfigTest, Pexip) {
  auto c = Parse("[[sources]]\nname = \"pexip\"\ntype = \"pexip\"\nurl = \"https://mgr.example/\"\n"
                 "username = \"admin\"\npassword_file = \"pexip.password\"\nca_file = \"ca.pem\"\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->sources[0].url, "https://mgr.example");
  EXPECT_EQ(c->sources[0].settle_seconds, 120);
  EXPECT_EQ(ErrorOf("[[sources]]\nname = \"pexip\"\ntype = \"pexip\"\nurl = \"https://mgr.example\"\n"
                    "username = \"admin\"\npassword_file = \"pexip.password\"\nca_file = \"ca.pem\"\ndir = \"/x\"\n"),
            "sources[0].dir: only for cucm sources");
  EXPECT_EQ(ErrorOf("[[sources]]\nname = \"pexip\"\ntype = \"pexip\"\nurl = \"https://admin:pw@mgr.example\"\n"
                    "username = \"admin\"\npassword_file = \"pexip.password\"\nca_file = \"ca.pem\"\n"),
            "sources[0].url: must be https://host[:port] without credentials");
  EXPECT_EQ(ErrorOf("[[sources]]\nname = \"dma\"\ntype = \"dma\"\nurl = \"https://dma.example\"\n"
                    "username = \"admin\"\npassword_file = \"pexip.password\"\nca_file = \"ca.pem\"\n"
                    "settle_seconds = 5\n"),
            "sources[0].settle_seconds: only for cucm and pexip sources");
}

}  // namespace
}  // namespace parley::agent
