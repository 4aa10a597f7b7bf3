// agent.toml keys of the dma and rprm sources: TLS (ca_file, pin_sha256,
// insecure_skip_verify), collect, inventory and history settings; and the
// sub-cursor codec.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/config.h"
#include "agent/http_client.h"
#include "agent/sub_cursor.h"

namespace parley::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPin = "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89";

class DeviceConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-device-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    fs::path p = dir_ / "dev.password";
    std::ofstream(p) << "secret\n";
    ::chmod(p.c_str(), 0600);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<AgentConfig> Parse(const std::string& source_lines, const std::string& type = "dma") {
    std::string text = "[server]\nurl = \"https://127.0.0.1:8444\"\n\n[[sources]]\nname = \"dev\"\ntype = \"" + type +
                       "\"\nurl = \"https://10.0.0.5:8443\"\nusername = \"parley\"\npassword_file = \"dev.password\"\n" +
                       source_lines;
    return AgentConfig::Parse(text, dir_);
  }
  std::string Err(const std::string& lines, const std::string& type = "dma") {
    auto c = Parse(lines, type);
    return c.ok() ? std::string("(parsed)") : c.error().detail;
  }
  fs::path dir_;
};

TEST_F(DeviceConfigTest, CaFileDefaultsAndCollectDefaults) {
  auto c = Parse("ca_file = \"dma.crt\"\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  const SourceConfig& s = c->sources[0];
  EXPECT_EQ(s.ca_file, dir_ / "dma.crt");
  EXPECT_TRUE(s.pin_sha256.empty());
  EXPECT_FALSE(s.insecure_skip_verify);
  EXPECT_EQ(s.collect, (std::vector<std::string>{"history", "active_calls", "conferences", "devices"}));
  EXPECT_EQ(s.inventory_interval_seconds, 300);
  EXPECT_EQ(s.initial_history_days, 30);
  auto r = Parse("ca_file = \"rprm.crt\"\n", "rprm");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->sources[0].collect, (std::vector<std::string>{"devices", "endpoint_cdrs", "conference_cdrs"}));
}

TEST_F(DeviceConfigTest, PinIsNormalizedAndMayReplaceTheCaFile) {
  auto c = Parse(std::string("pin_sha256 = \"") + kPin + "\"\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->sources[0].pin_sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_TRUE(c->sources[0].ca_file.empty());
  EXPECT_EQ(Err("pin_sha256 = \"abc\"\n"), "sources[0].pin_sha256: must be 64 hex digits (colons allowed)");
  EXPECT_EQ(Err(std::string("pin_sha256 = \"") + std::string(63, 'a') + "g\"\n"),
            "sources[0].pin_sha256: must be 64 hex digits (colons allowed)");
  // Both: chain and pin are checked.
  EXPECT_TRUE(Parse(std::string("ca_file = \"x.crt\"\npin_sha256 = \"") + kPin + "\"\n").ok());
}

TEST_F(DeviceConfigTest, VerificationMustBeConfiguredAndInsecureMustBeAlone) {
  EXPECT_EQ(Err(""), "sources[0].ca_file: required (or pin_sha256, or insecure_skip_verify = true)");
  auto c = Parse("insecure_skip_verify = true\n");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->sources[0].insecure_skip_verify);
  EXPECT_EQ(Err("insecure_skip_verify = true\nca_file = \"x.crt\"\n"),
            "sources[0].insecure_skip_verify: contradicts ca_file / pin_sha256 (remove one)");
  EXPECT_EQ(Err("insecure_skip_verify = \"yes\"\n"), "sources[0].insecure_skip_verify: expected true or false");
  EXPECT_EQ(Err("insecure_skip_verify = false\n"),
            "sources[0].ca_file: required (or pin_sha256, or insecure_skip_verify = true)");
}

TEST_F(DeviceConfigTest, CollectIsValidatedPerType) {
  auto c = Parse("ca_file = \"x.crt\"\ncollect = [\"cdr_export\", \"devices\"]\ninventory_interval_seconds = 60\n");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->sources[0].collect, (std::vector<std::string>{"cdr_export", "devices"}));
  EXPECT_EQ(c->sources[0].inventory_interval_seconds, 60);
  EXPECT_EQ(Err("ca_file = \"x.crt\"\ncollect = [\"history\", \"cdr_export\"]\n"),
            "sources[0].collect: history and cdr_export both collect the calls; choose one");
  EXPECT_EQ(Err("ca_file = \"x.crt\"\ncollect = [\"endpoint_cdrs\"]\n"),
            "sources[0].collect: unknown \"endpoint_cdrs\" for type dma (one of history, cdr_export, active_calls, "
            "conferences, devices)");
  EXPECT_EQ(Err("ca_file = \"x.crt\"\ncollect = []\n"), "sources[0].collect: must name at least one sub-resource");
  EXPECT_EQ(Err("ca_file = \"x.crt\"\ncollect = \"devices\"\n"), "sources[0].collect: expected an array of strings");
  EXPECT_EQ(Err("ca_file = \"x.crt\"\ncollect = [\"devices\", \"devices\"]\n", "rprm"),
            "sources[0].collect: \"devices\" is listed twice");
  EXPECT_EQ(Err("ca_file = \"x.crt\"\ninitial_history_days = 0\n"), "sources[0].initial_history_days: must be positive");
}

TEST(HttpClientTls, FingerprintNormalization) {
  EXPECT_EQ(NormalizeSha256Fingerprint(kPin), "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_FALSE(NormalizeSha256Fingerprint("abcd"));
  EXPECT_FALSE(NormalizeSha256Fingerprint(std::string(64, 'z')));
}

TEST(HttpClientTls, CreateNeedsAWayToVerify) {
  HttpClientOptions none;
  EXPECT_FALSE(HttpClient::Create(none).ok());
  HttpClientOptions pinned;
  pinned.pin_sha256 = kPin;
  EXPECT_TRUE(HttpClient::Create(pinned).ok());
  HttpClientOptions both;
  both.pin_sha256 = kPin;
  both.insecure_skip_verify = true;
  EXPECT_FALSE(HttpClient::Create(both).ok());
  HttpClientOptions bad;
  bad.pin_sha256 = "12";
  EXPECT_FALSE(HttpClient::Create(bad).ok());
}

TEST(SubCursors, EncodeDecodeAndLegacy) {
  auto legacy = DecodeSubCursors("1796231580.dc8b", "history");
  ASSERT_TRUE(legacy.ok());
  EXPECT_EQ(legacy->at("history"), "1796231580.dc8b");
  auto empty = DecodeSubCursors("", "history");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  SubCursors c{{"history", "t\"1"}, {"cdr", "5||"}};
  auto encoded = EncodeSubCursors(c);
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(*encoded, R"({"cdr":"5||","history":"t\"1"})");
  auto back = DecodeSubCursors(*encoded, "history");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c);
  EXPECT_FALSE(DecodeSubCursors("{\"a\":1}", "x").ok());
  EXPECT_FALSE(DecodeSubCursors("{oops", "x").ok());
  EXPECT_FALSE(EncodeSubCursors({{"a", std::string(2000, 'x')}}).ok());
  EXPECT_EQ(*EncodeSubCursors({}), "");
}

}  // namespace
}  // namespace parley::agent
