#include "common/server_config.h"

#include <gtest/gtest.h>

namespace parley {
namespace {

// An empty file gives every default, with relative paths resolved.
TEST(ServerConfig, DefaultsResolveRelativePathsAgainstConfigDir) {
  auto c = ServerConfig::Parse("", "/etc/parley");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->portal_listen, "127.0.0.1:8443");
  EXPECT_EQ(c->ingest_listen, "127.0.0.1:8444");
  EXPECT_EQ(c->master_key_file, "/etc/parley/master.key");
  EXPECT_EQ(c->store_url, "sqlite:/etc/parley/parley.db");
  EXPECT_EQ(c->session_idle_seconds, 30 * 60);
  EXPECT_EQ(c->retention_months, 0);  // keep forever
}

// store.retention_months = 0 is "keep forever", not a mistake; other integers must be positive.
TEST(ServerConfig, RetentionMonthsZeroIsOff) {
  auto off = ServerConfig::Parse("[store]\nretention_months = 0\n", "/x");
  ASSERT_TRUE(off.ok()) << off.error().detail;
  EXPECT_EQ(off->retention_months, 0);
  auto kept = ServerConfig::Parse("[store]\nretention_months = 13\n", "/x");
  ASSERT_TRUE(kept.ok()) << kept.error().detail;
  EXPECT_EQ(kept->retention_months, 13);
  EXPECT_FALSE(ServerConfig::Parse("[server]\nthreads = 0\n", "/x").ok());
}

// A typo must not silently fall back to a default: the key is named.
TEST(ServerConfig, UnknownKeyIsNamed) {
  auto c = ServerConfig::Parse("[server]\nportal_listn = \"0.0.0.0:1\"\n", "/x");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, Code::kConfig);
  EXPECT_NE(c.error().detail.find("server.portal_listn"), std::string::npos);
}

// Wrong types and bad values name the key.
TEST(ServerConfig, WrongTypeAndBadValuesAreNamed) {
  struct Case {
    const char* toml;
    const char* key;
  } cases[] = {
      {"[portal]\nsession_idle_minutes = \"ten\"\n", "portal.session_idle_minutes"},
      {"[ingest]\nmax_body_bytes = -1\n", "ingest.max_body_bytes"},
      {"[server]\nportal_listen = \"nohost\"\n", "server.portal_listen"},
      {"[server]\ningest_listen = \"127.0.0.1:99999\"\n", "server.ingest_listen"},
      {"[server]\npublic_url = \"http://insecure\"\n", "server.public_url"},
      {"[store]\nurl = \"mysql://x\"\n", "store.url"},
      {"[log]\nlevel = \"loud\"\n", "log.level"},
      {"[tls]\nportal_cert = 5\n", "tls.portal_cert"},
      {"[store]\nretention_months = -1\n", "store.retention_months"},
      {"[store]\nretention_months = 1201\n", "store.retention_months"},
  };
  for (const auto& c : cases) {
    auto r = ServerConfig::Parse(c.toml, "/x");
    ASSERT_FALSE(r.ok()) << c.toml;
    EXPECT_NE(r.error().detail.find(c.key), std::string::npos) << r.error().detail;
  }
}

// TOML syntax errors report the line.
TEST(ServerConfig, SyntaxErrorReportsLine) {
  auto c = ServerConfig::Parse("[server]\n\nportal_listen = \n", "/x");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("line 3"), std::string::npos) << c.error().detail;
}

// The file `parley init` writes parses back, with its overrides applied.
TEST(ServerConfig, RenderedFileRoundTrips) {
  std::pair<std::string_view, std::string> overrides[] = {{"server.portal_listen", "\"127.0.0.1:9000\""}};
  auto c = ServerConfig::Parse(RenderServerConfig(overrides), "/x");
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->portal_listen, "127.0.0.1:9000");
}

// The generated reference lists every key.
TEST(ServerConfig, DocumentationListsEveryKey) {
  std::string doc = RenderConfigurationDoc();
  for (const auto& s : ServerSettings()) EXPECT_NE(doc.find(std::string(s.key)), std::string::npos) << s.key;
}

}  // namespace
}  // namespace parley
