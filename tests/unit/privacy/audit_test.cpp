// The hash-chained audit log: concurrent appends form one chain, and every
// kind of tampering with the SQLite file (altered field, removed entry —
// middle and last —, swapped entries, changed prev_hash) is found by Verify.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>

#include "privacy/audit.h"
#include "store/store.h"
#include "support/fake_clock.h"

namespace parley::privacy {
namespace {

namespace json = boost::json;
using parley::testing::FakeClock;

constexpr std::string_view kTenant = "11111111-2222-3333-4444-555555555555";
constexpr std::string_view kOther = "99999999-2222-3333-4444-555555555555";
constexpr int64_t kNow = 1'700'000'000;

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "parley-audit-XXXXXX").string();
    EXPECT_NE(::mkdtemp(templ.data()), nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Raw SQL on the database file, as an attacker with file access would do.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
  sqlite3_free(err);
  sqlite3_close(db);
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("parley.db");
    Open();
  }
  void Open() {
    audit_.reset();
    store_.reset();
    auto s = store::OpenStore("sqlite:" + path_);
    ASSERT_TRUE(s.ok()) << s.error().detail;
    store_ = std::move(*s);
    audit_ = std::make_unique<AuditLog>(*store_, clock_);
  }
  // Five entries in kTenant (seq 1..5) and two in kOther.
  void Fill() {
    for (int i = 0; i < 5; ++i) {
      clock_.Advance(std::chrono::seconds(1));
      auto e = audit_->Append(kTenant, AuditUser("u-" + std::to_string(i)), audit_action::kLogin,
                              AuditSession("abcdef0123456789abcdef"), audit_outcome::kSuccess,
                              json::object{{"method", "password"}, {"n", i}});
      ASSERT_TRUE(e.ok()) << e.error().detail;
      EXPECT_EQ(e->seq, i + 1);
    }
    for (int i = 0; i < 2; ++i)
      ASSERT_TRUE(audit_->Append(kOther, "system", audit_action::kKeyRotation, "tenant", audit_outcome::kSuccess).ok());
  }
  AuditVerifyReport VerifyTenant() {
    // A fresh process view: what `parley audit verify` would see.
    Open();
    auto r = audit_->Verify(kTenant);
    EXPECT_TRUE(r.ok()) << r.error().detail;
    return r.ok() ? *r : AuditVerifyReport{};
  }
  void Tamper(const std::string& sql) {
    audit_.reset();
    store_.reset();
    RawExec(path_, sql);
  }

  TempDir dir_;
  std::string path_;
  FakeClock clock_{kNow};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AuditLog> audit_;
};

TEST_F(AuditTest, EmptyAndIntactChainsVerify) {
  auto empty = audit_->Verify(kTenant);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->ok);
  EXPECT_EQ(empty->entries, 0);
  Fill();
  AuditVerifyReport r = VerifyTenant();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 5);
  auto other = audit_->Verify(kOther);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->ok);
  EXPECT_EQ(other->entries, 2);
  auto chains = store_->ListAuditChains();
  ASSERT_TRUE(chains.ok());
  EXPECT_EQ(chains->size(), 2u);
}

TEST_F(AuditTest, EntryFormatIsTheDocumentedOne) {
  auto e = audit_->Append(kTenant, "user:u1", audit_action::kCdrView, "calls", audit_outcome::kSuccess,
                          json::object{{"records", 3}, {"cursor", nullptr}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->seq, 1);
  EXPECT_EQ(e->prev_hash, AuditLog::GenesisHash(kTenant));
  EXPECT_EQ(e->details_json, R"({"cursor":null,"records":3})");
  std::string canonical = std::string(R"({"action":"cdr.view","actor":"user:u1","details":{"cursor":null,"records":3},)") +
                          R"("outcome":"success","seq":1,"target":"calls","time":)" + std::to_string(kNow) + "}";
  EXPECT_EQ(e->entry_hash, crypto::Sha256Hex(e->prev_hash + canonical));
  auto second = audit_->Append(kTenant, "user:u1", audit_action::kLogout, "session:x", audit_outcome::kSuccess);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->prev_hash, e->entry_hash);
  auto head = store_->GetAuditHead(std::string(kTenant));
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->seq, 2);
  EXPECT_EQ((*head)->entry_hash, second->entry_hash);
}

TEST_F(AuditTest, NewestFirstPaging) {
  Fill();
  auto page = store_->ListAudit(std::string(kTenant), true, 0, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].seq, 5);
  EXPECT_EQ((*page)[1].seq, 4);
  auto next = store_->ListAudit(std::string(kTenant), true, 4, 10);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ(next->front().seq, 3);
  EXPECT_FALSE(store_->ListAudit(std::string(kTenant), true, 0, 0).ok());
}

TEST_F(AuditTest, ConcurrentAppendsFormOneValidChain) {
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto e = audit_->Append(kTenant, "user:t" + std::to_string(t), audit_action::kCdrView, "calls",
                                audit_outcome::kSuccess, json::object{{"i", i}});
        if (!e.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  AuditVerifyReport r = VerifyTenant();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, kThreads * kEach);
}

// Also a second process on the same file: the write lock keeps one chain.
TEST_F(AuditTest, TwoStoresOnOneFileDoNotForkTheChain) {
  auto second = store::OpenStore("sqlite:" + path_);
  ASSERT_TRUE(second.ok());
  AuditLog other(**second, clock_);
  std::thread a([&] {
    for (int i = 0; i < 30; ++i) EXPECT_TRUE(audit_->Append(kTenant, "user:a", "x", "y", "success").ok());
  });
  std::thread b([&] {
    for (int i = 0; i < 30; ++i) EXPECT_TRUE(other.Append(kTenant, "user:b", "x", "y", "success").ok());
  });
  a.join();
  b.join();
  second->reset();
  AuditVerifyReport r = VerifyTenant();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 60);
}

TEST_F(AuditTest, AlteringAnyFieldOfAnyEntryIsDetected) {
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"at", "at + 1"},
      {"actor", "'user:someone-else'"},
      {"action", "'auth.logout'"},
      {"target", "'session:0000'"},
      {"outcome", "'failure'"},
      {"details_json", "'{\"method\":\"sso\",\"n\":0}'"},
      {"details_json", "'{ \"n\":0,\"method\":\"password\"}'"},  // same content, not canonical
      {"entry_hash", "'" + std::string(64, 'a') + "'"},
  };
  Fill();
  const std::string pristine = dir_.File("pristine.db");
  audit_.reset();
  store_.reset();
  std::filesystem::copy_file(path_, pristine);
  for (const auto& [column, value] : edits) {
    for (int seq = 1; seq <= 5; ++seq) {
      SCOPED_TRACE(column + " of seq " + std::to_string(seq));
      audit_.reset();
      store_.reset();
      std::filesystem::copy_file(pristine, path_, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::remove(path_ + "-wal");
      std::filesystem::remove(path_ + "-shm");
      Tamper("UPDATE audit_log SET " + column + " = " + value + " WHERE tenant_id = '" + std::string(kTenant) +
             "' AND seq = " + std::to_string(seq));
      AuditVerifyReport r = VerifyTenant();
      EXPECT_FALSE(r.ok);
      // entry_hash replaced: the entry itself or the next link is wrong.
      if (column == "entry_hash") {
        EXPECT_EQ(r.bad_seq, seq);
      } else {
        EXPECT_EQ(r.bad_seq, seq) << r.problem;
        EXPECT_NE(r.problem.find("altered entry"), std::string::npos) << r.problem;
      }
      // The other chain is untouched.
      auto other = audit_->Verify(kOther);
      ASSERT_TRUE(other.ok());
      EXPECT_TRUE(other->ok);
    }
  }
}

TEST_F(AuditTest, AlteredEntryRehashedIsABrokenLink) {
  Fill();
  // The attacker alters entry 2 and recomputes its hash: entry 3 no longer links.
  auto entries = store_->ListAudit(std::string(kTenant), false, 0, 10);
  ASSERT_TRUE(entries.ok());
  store::AuditEntry e = (*entries)[1];
  e.actor = "user:forged";
  const std::string forged = AuditLog::ComputeEntryHash(e);
  Tamper("UPDATE audit_log SET actor = 'user:forged', entry_hash = '" + forged + "' WHERE seq = 2 AND tenant_id = '" +
         std::string(kTenant) + "'");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.problem.find("broken link"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, DeletingAMiddleEntryIsDetected) {
  Fill();
  Tamper("DELETE FROM audit_log WHERE seq = 3 AND tenant_id = '" + std::string(kTenant) + "'");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.problem.find("missing"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, DeletingTheFirstEntryIsDetected) {
  Fill();
  Tamper("DELETE FROM audit_log WHERE seq = 1 AND tenant_id = '" + std::string(kTenant) + "'");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 1);
}

TEST_F(AuditTest, DeletingTheLastEntryIsDetectedAgainstTheChainHead) {
  Fill();
  Tamper("DELETE FROM audit_log WHERE seq = 5 AND tenant_id = '" + std::string(kTenant) + "'");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 5);
  EXPECT_NE(r.problem.find("removed from the end"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, DeletingAllEntriesIsDetected) {
  Fill();
  Tamper("DELETE FROM audit_log WHERE tenant_id = '" + std::string(kTenant) + "'");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 1);
}

TEST_F(AuditTest, DeletingTheChainHeadIsDetected) {
  Fill();
  Tamper("DELETE FROM chain_heads WHERE tenant_id = '" + std::string(kTenant) + "'");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("chain head missing"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, SwappingTwoEntriesIsDetected) {
  Fill();
  // Swap the seq numbers of entries 2 and 4 (via a free temporary seq).
  const std::string t = "tenant_id = '" + std::string(kTenant) + "'";
  Tamper("BEGIN; UPDATE audit_log SET seq = 100 WHERE seq = 2 AND " + t + "; UPDATE audit_log SET seq = 2 WHERE seq = 4 AND " +
         t + "; UPDATE audit_log SET seq = 4 WHERE seq = 100 AND " + t + "; COMMIT;");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 2);
  EXPECT_NE(r.problem.find("reordered or swapped"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, SwappingAdjacentEntriesContentIsDetected) {
  Fill();
  // Exchange every column but seq between entries 3 and 4.
  const std::string t = "tenant_id = '" + std::string(kTenant) + "'";
  Tamper("BEGIN; UPDATE audit_log SET seq = 100 WHERE seq = 3 AND " + t + "; UPDATE audit_log SET seq = 3 WHERE seq = 4 AND " +
         t + "; UPDATE audit_log SET seq = 4 WHERE seq = 100 AND " + t + "; COMMIT;");
  AuditVerifyReport r = VerifyTenant();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_seq, 3);
  EXPECT_NE(r.problem.find("entry 3 links to entry 4"), std::string::npos) << r.problem;
}

TEST_F(AuditTest, ChangingAPrevHashIsDetected) {
  Fill();
  for (int seq : {1, 4}) {
    SCOPED_TRACE(seq);
    Tamper("UPDATE audit_log SET prev_hash = '" + std::string(64, 'b') + "' WHERE seq = " + std::to_string(seq) +
           " AND tenant_id = '" + std::string(kTenant) + "'");
    AuditVerifyReport r = VerifyTenant();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_seq, seq);
    EXPECT_NE(r.problem.find("broken link"), std::string::npos) << r.problem;
    // Restore for the next round.
    Tamper("UPDATE audit_log SET prev_hash = " +
           std::string(seq == 1 ? "'" + AuditLog::GenesisHash(kTenant) + "'"
                                : "(SELECT entry_hash FROM audit_log WHERE seq = " + std::to_string(seq - 1) +
                                      " AND tenant_id = '" + std::string(kTenant) + "')") +
           " WHERE seq = " + std::to_string(seq) + " AND tenant_id = '" + std::string(kTenant) + "'");
    EXPECT_TRUE(VerifyTenant().ok);
  }
}

TEST_F(AuditTest, MovingAnEntryToAnotherChainIsDetectedInBoth) {
  Fill();
  Tamper("UPDATE audit_log SET tenant_id = '" + std::string(kOther) + "', seq = 3 WHERE seq = 5 AND tenant_id = '" +
         std::string(kTenant) + "'");
  EXPECT_FALSE(VerifyTenant().ok);
  auto other = audit_->Verify(kOther);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->ok);
  EXPECT_EQ(other->bad_seq, 3);
}

TEST(AuditRefs, IdsOnly) {
  EXPECT_EQ(AuditSession(std::string(64, 'c')), "session:" + std::string(16, 'c'));
  EXPECT_EQ(AuditEmailIndex(std::string(64, 'd')), "email_index:" + std::string(16, 'd'));
  crypto::Key256 key{};
  const std::string ref = KeyedRef(key, "src", "192.0.2.7");
  EXPECT_EQ(ref.size(), std::string("src:").size() + 16);
  EXPECT_EQ(ref.find("192.0.2.7"), std::string::npos);
  EXPECT_EQ(ref, KeyedRef(key, "src", "192.0.2.7"));
  EXPECT_NE(ref, KeyedRef(key, "src", "192.0.2.8"));
}

TEST(AuditCanonicalJson, SortsKeysAtEveryLevel) {
  json::value v = json::parse(R"({"b":1,"a":{"z":"x\"y","c":[3,{"k":true,"j":null}]}})");
  EXPECT_EQ(AuditLog::CanonicalJson(v), R"({"a":{"c":[3,{"j":null,"k":true}],"z":"x\"y"},"b":1})");
}

}  // namespace
}  // namespace parley::privacy
