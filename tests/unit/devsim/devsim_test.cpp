#include "devsim/devsim.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <set>
#include <sstream>

#include "common/files.h"
#include "common/time_format.h"

namespace parley::devsim {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "devsim_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

unsigned Mode(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(DevsimTest, CredentialsFromPrivateFile) {
  TempDir dir;
  fs::path file = dir.path() / "creds";
  ASSERT_TRUE(WriteFileAtomic(file, "admin:pa:ss word\n", 0600).ok());
  auto c = LoadCredentials(file);
  ASSERT_TRUE(c.ok()) << c.error().detail;
  EXPECT_EQ(c->user, "admin");
  EXPECT_EQ(c->password, "pa:ss word");  // only the first colon separates
  ::chmod(file.c_str(), 0640);
  auto refused = LoadCredentials(file);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Code::kConfig);
  ASSERT_TRUE(WriteFileAtomic(file, "no-colon\n", 0600).ok());
  EXPECT_FALSE(LoadCredentials(file).ok());
  EXPECT_FALSE(LoadCredentials(dir.path() / "missing").ok());
}

TEST(DevsimTest, CredentialsFromEnvironment) {
  ::unsetenv("PARLEY_DEVSIM_PASSWORD");
  EXPECT_FALSE(LoadCredentials({}).ok());
  ::setenv("PARLEY_DEVSIM_PASSWORD", "from-env", 1);
  auto c = LoadCredentials({});
  ::unsetenv("PARLEY_DEVSIM_PASSWORD");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->user, "parley");
  EXPECT_EQ(c->password, "from-env");
}

TEST(DevsimTest, TlsFilesAreMadeOnceThenReused) {
  TempDir dir;
  fs::path tls = dir.path() / "tls";
  auto first = EnsureTlsFiles(tls);
  ASSERT_TRUE(first.ok()) << first.error().detail;
  EXPECT_EQ(Mode(first->key_file), 0600u);
  auto key = ReadFile(first->key_file), cert = ReadFile(first->cert_file);
  ASSERT_TRUE(key.ok() && cert.ok());
  EXPECT_NE(cert->find("BEGIN CERTIFICATE"), std::string::npos);
  auto second = EnsureTlsFiles(tls);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*ReadFile(second->key_file), *key);
  EXPECT_EQ(*ReadFile(second->cert_file), *cert);
  // A lone key is refused rather than paired with a new certificate.
  fs::remove(first->cert_file);
  EXPECT_FALSE(EnsureTlsFiles(tls).ok());
}

TEST(DevsimTest, ExpectedNdjsonHasOneLinePerHistoryCall) {
  WorkloadOptions o;
  o.seed = 42;
  o.origin_unix = *ParseRfc3339("2026-12-04T16:00:00Z");
  o.history_days = 2;
  o.total_calls = 321;
  auto w = std::move(Workload::Create(o)).value();
  std::string ndjson = RenderExpected(*w);
  std::istringstream in(ndjson);
  std::string line;
  std::set<std::string> ids;
  size_t n = 0;
  const std::vector<std::string> keys = {"id",       "orig_name",   "orig_number", "orig_uri", "orig_ip",
                                         "dest_name", "dest_number", "dest_uri",    "dest_ip",  "status",
                                         "duration_s", "start",      "end"};
  while (std::getline(in, line)) {
    ++n;
    auto obj = boost::json::parse(line).as_object();
    std::vector<std::string> got;
    for (const auto& kv : obj) got.emplace_back(kv.key());
    EXPECT_EQ(got, keys);
    ids.insert(std::string(obj.at("id").as_string()));
    std::string status(obj.at("status").as_string());
    EXPECT_TRUE(status == "completed" || status == "failed");
    EXPECT_EQ(std::string(obj.at("end").as_string()).back(), 'Z');
    if (status == "failed") {
      EXPECT_EQ(obj.at("duration_s").as_int64(), 0);
    }
    EXPECT_LE(*ParseRfc3339(obj.at("end").as_string()), o.origin_unix);
  }
  EXPECT_EQ(n, 321u);
  EXPECT_EQ(ids.size(), 321u);
}

}  // namespace
}  // namespace parley::devsim
