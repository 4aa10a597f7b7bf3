// AgentConfig: parsing, validation naming the key, secret file permissions,
// relative paths.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/config.h"

namespace parley::agent {
namespace {

namespace fs = std::filesystem;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-agent-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    WritePassword(0600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void WritePassword(unsigned mode) {
    fs::path p = dir_ / "dma.password";
    std::ofstream(p) << "secret\n";
    ::chmod(p.c_str(), mode);
  }

  Result<AgentConfig> Parse(const std::string& text) { return AgentConfig::Parse(text, dir_); }

  static std::string Good() {
    return R"([server]
url = "https://127.0.0.1:8444"
ca_file = "server-ca.crt"
cert_file = "agent.crt"
key_file = "/etc/parley/agent.key"

[agent]
poll_interval_seconds = 5
max_batch_records = 200

[[sources]]
name = "dma-main"
type = "dma"
url = "https://127.0.0.1:9443/"
username = "parley"
password_file = "dma.password"
ca_file = "certs/devsim.crt"
)";
  }

  fs::path dir_;
};

// A complete file parses; unset [agent] keys take their defaults.
TEST_F(ConfigTest, ParsesGoodFileWithDefaults) {
  auto c = Parse(Good());
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->server_url, "https://127.0.0.1:8444");
  EXPECT_EQ(c->poll_interval_seconds, 5);
  EXPECT_EQ(c->max_batch_records, 200);
  EXPECT_EQ(c->max_batches_in_memory, 4);
  EXPECT_EQ(c->uploads_in_flight, 2);
  EXPECT_EQ(c->heartbeat_interval_seconds, 30);
  EXPECT_EQ(c->backoff_cap_seconds, 60);
  EXPECT_EQ(c->log_level, "info");
  ASSERT_EQ(c->sources.size(), 1u);
  EXPECT_EQ(c->sources[0].name, "dma-main");
  EXPECT_EQ(c->sources[0].type, "dma");
  EXPECT_EQ(c->sources[0].url, "https://127.0.0.1:9443");  // trailing slash dropped
  EXPECT_EQ(c->sources[0].username, "parley");
}

// uploads_in_flight is 1..4, and an error names the key.
TEST_F(ConfigTest, UploadsInFlightIsBounded) {
  auto with = [&](const std::string& value) {
    std::string text = Good();
    text.replace(text.find("max_batch_records"), 0, "uploads_in_flight = " + value + "\n");
    return Parse(text);
  };
  ASSERT_TRUE(with("1").ok());
  EXPECT_EQ(with("4")->uploads_in_flight, 4);
  for (const char* bad : {"0", "5"}) {
    auto c = with(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().code, Code::kConfig);
    EXPECT_NE(c.error().detail.find("agent.uploads_in_flight"), std::string::npos) << c.error().detail;
  }
}

// max_batch_records goes up to the server's default limit (20000), and an
// error names the key.
TEST_F(ConfigTest, MaxBatchRecordsIsBoundedByTheServersDefaultLimit) {
  auto with = [&](const std::string& value) {
    std::string text = Good();
    text.replace(text.find("max_batch_records = 200"), std::string("max_batch_records = 200").size(),
                 "max_batch_records = " + value);
    return Parse(text);
  };
  EXPECT_EQ(with("20000")->max_batch_records, 20000);
  for (const char* bad : {"0", "20001"}) {
    auto c = with(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.error().code, Code::kConfig);
    EXPECT_NE(c.error().detail.find("agent.max_batch_records"), std::string::npos) << c.error().detail;
  }
}

// Relative paths resolve against the config file's directory; absolute ones stay.
TEST_F(ConfigTest, ResolvesRelativePathsAgainstConfigDir) {
  auto c = Parse(Good());
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->server_ca_file, dir_ / "server-ca.crt");
  EXPECT_EQ(c->cert_file, dir_ / "agent.crt");
  EXPECT_EQ(c->key_file, fs::path("/etc/parley/agent.key"));
  EXPECT_EQ(c->sources[0].password_file, dir_ / "dma.password");
  EXPECT_EQ(c->sources[0].ca_file, dir_ / "certs" / "devsim.crt");
}

// A typo is an error naming the key, in any section.
TEST_F(ConfigTest, UnknownKeyIsNamed) {
  auto c = Parse(Good() + "colour = \"blue\"\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Code::kConfig);
  EXPECT_NE(c.error().detail.find("sources[0].colour"), std::string::npos) << c.error().detail;

  std::string text = Good();
  text.replace(text.find("poll_interval_seconds"), 21, "poll_intervall_seconds");
  c = Parse(text);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("agent.poll_intervall_seconds: unknown key"), std::string::npos) << c.error().detail;

  c = Parse(Good() + "[extra]\nx = 1\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("extra"), std::string::npos);
}

// A password file group/others can read is refused, and the error says why.
TEST_F(ConfigTest, RefusesPasswordFileReadableByOthers) {
  WritePassword(0644);
  auto c = Parse(Good());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Code::kConfig);
  EXPECT_NE(c.error().detail.find("sources[0].password_file"), std::string::npos) << c.error().detail;
  EXPECT_NE(c.error().detail.find("0600"), std::string::npos) << c.error().detail;
}

// A missing password file is refused too.
TEST_F(ConfigTest, RefusesMissingPasswordFile) {
  fs::remove(dir_ / "dma.password");
  auto c = Parse(Good());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("sources[0].password_file"), std::string::npos);
}

// Wrong types, bad values and missing required keys name the key.
TEST_F(ConfigTest, ValidatesValues) {
  struct Case {
    std::string from, to, key;
  };
  const Case cases[] = {
      {"poll_interval_seconds = 5", "poll_interval_seconds = \"5\"", "agent.poll_interval_seconds"},
      {"poll_interval_seconds = 5", "poll_interval_seconds = 0", "agent.poll_interval_seconds"},
      {"url = \"https://127.0.0.1:8444\"", "url = \"http://127.0.0.1:8444\"", "server.url"},
      {"url = \"https://127.0.0.1:9443/\"", "url = \"https://user:pw@127.0.0.1:9443\"", "sources[0].url"},
      {"type = \"dma\"", "type = \"pbx\"", "sources[0].type"},
      {"name = \"dma-main\"", "name = \"dma main\"", "sources[0].name"},
      {"username = \"parley\"\n", "", "sources[0].username"},
  };
  for (const Case& k : cases) {
    std::string text = Good();
    text.replace(text.find(k.from), k.from.size(), k.to);
    auto c = Parse(text);
    ASSERT_FALSE(c.ok()) << k.to;
    EXPECT_EQ(c.error().code, Code::kConfig);
    EXPECT_EQ(c.error().detail.rfind(k.key, 0), 0u) << k.key << " vs " << c.error().detail;
  }
}

// Two sources with one name would share a cursor: refused.
TEST_F(ConfigTest, RefusesDuplicateSourceNames) {
  std::string text = Good();
  text += text.substr(text.find("[[sources]]"));
  auto c = Parse(text);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("sources[1].name"), std::string::npos) << c.error().detail;
}

// The file enroll writes parses as is (its [[sources]] example is commented).
TEST_F(ConfigTest, RenderedConfigParses) {
  auto c = Parse(RenderAgentConfig("https://parley.example.net:8444"));
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->server_url, "https://parley.example.net:8444");
  EXPECT_EQ(c->key_file, dir_ / "agent.key");
  EXPECT_TRUE(c->sources.empty());
}

// Load reports an unreadable file as a config error.
TEST_F(ConfigTest, LoadMissingFileIsConfigError) {
  auto c = AgentConfig::Load(dir_ / "nope.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Code::kConfig);
}

}  // namespace
}  // namespace parley::agent
