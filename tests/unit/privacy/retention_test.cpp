// Retention's month arithmetic, and its audit trail on the platform chain:
// a run that deleted something is recorded (counts and boundary only), a
// dry run or an empty run is not, and `rollups verify` reads back the
// newest boundary.
#include "privacy/retention.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/store.h"
#include "support/fake_clock.h"

namespace parley::privacy {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDec2025 = 1764547200;  // 2025-12-01T00:00:00Z
constexpr int64_t kJan2026 = 1767225600;
constexpr int64_t kFeb2026 = 1769904000;

TEST(RetentionCutoff, WholeMonthsBeforeTheCurrentOne) {
  EXPECT_EQ(RetentionCutoff(kFeb2026 + 5 * 86400, 1), kJan2026);
  EXPECT_EQ(RetentionCutoff(kFeb2026, 2), kDec2025);  // across the year
  EXPECT_EQ(RetentionCutoff(kFeb2026 - 1, 1), kDec2025);
  EXPECT_EQ(RetentionCutoff(kFeb2026, 13), 1735689600);  // 2025-01-01
}

TEST(ParseMonth, YearDashMonthOnly) {
  EXPECT_EQ(ParseMonth("2026-02"), kFeb2026);
  EXPECT_EQ(ParseMonth("2025-12"), kDec2025);
  for (const char* bad : {"", "2026-2", "2026-13", "2026-00", "26-02", "2026/02", "2026-02-01", "x026-02", "1969-12"})
    EXPECT_EQ(ParseMonth(bad), std::nullopt) << bad;
}

class RetentionAuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-retention-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto opened = store::OpenStore("sqlite:" + (dir_ / "p.db").string());
    ASSERT_TRUE(opened.ok()) << opened.error().detail;
    store_ = std::move(*opened);
    store::Tenant t;
    t.id = "ta";
    t.name = "org-ta";
    t.wrapped_data_key = "k";
    ASSERT_TRUE(store_->CreateTenant(t).ok());
    store::Agent a;
    a.id = "a1";
    a.tenant_id = "ta";
    a.name = "host";
    a.cert_fingerprint = "fp";
    ASSERT_TRUE(store_->CreateAgent(a).ok());
    store::BatchCommit b;
    b.tenant_id = "ta";
    b.agent_id = "a1";
    b.batch_id = "b1";
    b.received_at = kFeb2026;
    for (int64_t start : {kDec2025 + 10, kJan2026 + 10, kFeb2026 + 10}) {
      store::StoredCall c;
      c.source = "dma";
      c.call_id = "c" + std::to_string(start);
      c.start_at = start;
      c.end_at = start + 60;
      c.duration_s = 60;
      c.status = "completed";
      c.pii_sealed = "sealed";
      b.calls.push_back(c);
    }
    ASSERT_TRUE(store_->CommitBatch(b).ok());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::vector<store::AuditEntry> Platform() {
    auto entries = store_->ListAudit(std::string(store::kPlatformAuditChain), false, 0, 100);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? *entries : std::vector<store::AuditEntry>{};
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  testing::FakeClock clock_{kFeb2026 + 86400};
};

TEST_F(RetentionAuditTest, OnlyRunsThatDeletedAreAudited) {
  AuditLog audit(*store_, clock_);
  EXPECT_EQ(*RecordedRetentionBoundary(*store_), 0);
  auto dry = ApplyRetention(*store_, audit, kJan2026, /*dry_run=*/true, "cli");
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->calls, 1);
  EXPECT_TRUE(Platform().empty()) << "a dry run changes nothing";
  EXPECT_EQ(*store_->CountCalls("ta", std::nullopt), 3);

  auto run = ApplyRetention(*store_, audit, kJan2026, /*dry_run=*/false, "cli");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->calls, 1);
  auto entries = Platform();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "data.retention");
  EXPECT_EQ(entries[0].actor, "cli");
  EXPECT_EQ(entries[0].details_json,
            R"({"boundary":1767225600,"calls":1,"conferences":0,"participants":0,"partitions":0,)"
            R"("quality_samples":0,"search_terms":0})");
  EXPECT_EQ(*RecordedRetentionBoundary(*store_), kJan2026);

  // Nothing left before January: not audited again.
  ASSERT_TRUE(ApplyRetention(*store_, audit, kJan2026, false, "system:retention").ok());
  EXPECT_EQ(Platform().size(), 1u);
  ASSERT_TRUE(ApplyRetention(*store_, audit, kFeb2026, false, "system:retention").ok());
  EXPECT_EQ(Platform().size(), 2u);
  EXPECT_EQ(*RecordedRetentionBoundary(*store_), kFeb2026);
  EXPECT_EQ(*store_->CountCalls("ta", std::nullopt), 1);
  EXPECT_TRUE(audit.Verify(store::kPlatformAuditChain)->ok);
}

}  // namespace
}  // namespace parley::privacy
