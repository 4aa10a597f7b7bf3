// Key rotation while a "server" KeyRing keeps working on the same store and
// key file: the master key is replaced and every wrapped key follows; a data
// key is replaced and every sealed value is re-encrypted, including values a
// server sealed with its stale cached key during the grace period, and an
// interrupted rotation resumes from its cursor.
#include "privacy/key_rotation.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "common/files.h"
#include "crypto/crypto.h"
#include "privacy/pii.h"
#include "store/store.h"
#include "support/fake_clock.h"

namespace parley::privacy {
namespace {

namespace fs = std::filesystem;
using store::SealedField;

constexpr int64_t kStart = 1'800'000'000;

class KeyRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("parley-keyrot-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    key_file_ = dir_ / "master.key";
    auto master = crypto::MasterKey::Generate(key_file_);
    ASSERT_TRUE(master.ok());
    master_.emplace(*master);
    auto store = store::OpenStore("sqlite:" + (dir_ / "p.db").string());
    ASSERT_TRUE(store.ok()) << store.error().detail;
    store_ = std::move(*store);
    server_ = MakeRing();
    ASSERT_TRUE(server_->LoadIndexKey().ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<KeyRing> MakeRing() {
    return std::make_unique<KeyRing>(*store_, *master_,
                                     KeyRingOptions{.cache_seconds = 30, .master_key_file = key_file_, .clock = &clock_});
  }

  std::string AddTenant(const std::string& name) {
    store::Tenant t;
    t.id = crypto::RandomUuid();
    t.name = name;
    t.wrapped_data_key = server_->NewWrappedDataKey(t.id);
    t.created_at = kStart;
    EXPECT_TRUE(store_->CreateTenant(t).ok());
    store::Agent a;
    a.id = "agent-" + name;
    a.tenant_id = t.id;
    a.cert_fingerprint = "fp-" + name;
    a.created_at = kStart;
    EXPECT_TRUE(store_->CreateAgent(a).ok());
    return t.id;
  }

  void AddUser(const std::string& tenant_id, const std::string& email) {
    store::User u;
    u.id = crypto::RandomUuid();
    u.tenant_id = tenant_id;
    u.email_index = server_->EmailIndex(email);
    u.email_sealed = crypto::Seal(server_->DataKeys(tenant_id)->current, email, UserEmailAad(tenant_id, u.id));
    u.role = store::Role::kViewer;
    u.created_at = kStart;
    ASSERT_TRUE(store_->CreateUser(u).ok());
  }

  // Ingests `n` calls sealed the way the server seals them: with the key
  // its KeyRing hands out now (a cached, possibly stale, one).
  void AddCalls(const std::string& tenant_id, const std::string& prefix, int n) {
    auto key = server_->DataKeys(tenant_id);
    ASSERT_TRUE(key.ok());
    store::BatchCommit batch;
    batch.tenant_id = tenant_id;
    batch.agent_id = "agent-" + store_->GetTenant(tenant_id)->name;
    batch.batch_id = crypto::RandomUuid();
    batch.received_at = kStart;
    for (int i = 0; i < n; ++i) {
      wire::CallRecord c;
      c.source = "dma";
      c.id = prefix + std::to_string(i);
      c.orig.number = "+44207946" + std::to_string(1000 + i);
      store::StoredCall s;
      s.source = c.source, s.call_id = c.id, s.start_at = kStart + i, s.end_at = kStart + i + 60;
      s.duration_s = 60, s.status = "completed";
      crypto::Sealer sealer(key->current);
      s.pii_sealed = SealCallPii(sealer, tenant_id, c);
      batch.calls.push_back(s);
    }
    auto committed = store_->CommitBatch(batch);
    ASSERT_TRUE(committed.ok()) << committed.error().detail;
  }

  // Every sealed value of the tenant, opened with exactly `key`: how many
  // open, and how many do not.
  std::pair<int64_t, int64_t> OpenAllWith(const std::string& tenant_id, const crypto::Key256& key) {
    int64_t opened = 0, failed = 0;
    for (SealedField field : AllSealedFields()) {
      std::string source, id;
      for (;;) {
        auto page = store_->ListSealed(tenant_id, field, source, id, 500);
        EXPECT_TRUE(page.ok());
        if (!page.ok() || page->empty()) break;
        for (const auto& v : *page)
          (crypto::Open(key, v.sealed, SealedFieldAad(field, tenant_id, v.source, v.id)).ok() ? opened : failed)++;
        source = page->back().source;
        id = page->back().id;
      }
    }
    return {opened, failed};
  }

  crypto::Key256 CurrentKeyOf(const std::string& tenant_id) {
    auto master = crypto::MasterKey::Load(key_file_);
    EXPECT_TRUE(master.ok());
    return *master->UnwrapDataKey(store_->GetTenant(tenant_id)->wrapped_data_key, tenant_id);
  }

  fs::path dir_, key_file_;
  testing::FakeClock clock_{kStart};
  std::optional<crypto::MasterKey> master_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<KeyRing> server_;
};

TEST_F(KeyRotationTest, MasterKeyRotationRewrapsEveryKeyAndRunningServersFollow) {
  const std::string a = AddTenant("org-a"), b = AddTenant("org-b");
  AddUser(a, "alice@a.example");
  AddCalls(b, "call-", 10);
  const std::string email_index = server_->EmailIndex("alice@a.example");
  const crypto::Key256 key_a = server_->DataKeys(a)->current;
  const std::string old_id = master_->KeyIds().front();

  auto cli = MakeRing();
  auto report = RotateMasterKey(*store_, *cli, key_file_, clock_);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_FALSE(report->finished_interrupted);
  EXPECT_EQ(report->tenants_rewrapped, 2);
  EXPECT_EQ(report->platform_keys_rewrapped, 1);
  ASSERT_EQ(report->dropped_key_ids, std::vector<std::string>{old_id});

  // The file holds one key, a new one; the old key opens nothing any more.
  auto now = crypto::MasterKey::Load(key_file_);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->key_count(), 1u);
  EXPECT_NE(now->KeyIds().front(), old_id);
  EXPECT_EQ(now->KeyIds().front(), report->active_key_id);
  for (const std::string& t : {a, b}) {
    const std::string wrapped = store_->GetTenant(t)->wrapped_data_key;
    EXPECT_FALSE(master_->UnwrapDataKey(wrapped, t).ok());
    EXPECT_EQ(*now->WrappingKeyIndex(wrapped, t), 0u);
  }
  // The data keys themselves did not change: nothing had to be re-encrypted.
  EXPECT_EQ(*now->UnwrapDataKey(store_->GetTenant(a)->wrapped_data_key, a), key_a);

  // The running server still holds only the old master key. When its cache
  // expires it reads the re-wrapped key, re-reads the file and carries on;
  // the blind-index key survived, so sign-in by e-mail still finds alice.
  clock_.Advance(std::chrono::seconds(31));
  auto keys = server_->DataKeys(a);
  ASSERT_TRUE(keys.ok()) << keys.error().detail;
  EXPECT_EQ(keys->current, key_a);
  EXPECT_EQ(OpenAllWith(b, server_->DataKeys(b)->current), (std::pair<int64_t, int64_t>{10, 0}));
  EXPECT_EQ(server_->EmailIndex("alice@a.example"), email_index);
  auto fresh = MakeRing();
  EXPECT_EQ(fresh->EmailIndex("alice@a.example"), email_index);
  // A tenant the old server creates now is wrapped with the new key.
  const std::string c = AddTenant("org-c");
  EXPECT_EQ(*now->WrappingKeyIndex(store_->GetTenant(c)->wrapped_data_key, c), 0u);
}

TEST_F(KeyRotationTest, InterruptedMasterRotationIsFinishedWithoutAnotherKey) {
  const std::string a = AddTenant("org-a");
  // The crash: the new key was written to the file, nothing re-wrapped yet.
  auto added = crypto::MasterKey::AddActiveKey(key_file_);
  ASSERT_TRUE(added.ok());
  ASSERT_EQ(added->key_count(), 2u);
  auto report = RotateMasterKey(*store_, *MakeRing(), key_file_, clock_);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_TRUE(report->finished_interrupted);
  EXPECT_EQ(report->active_key_id, added->KeyIds().front());
  EXPECT_EQ(report->tenants_rewrapped, 1);
  auto now = crypto::MasterKey::Load(key_file_);
  EXPECT_EQ(now->KeyIds(), std::vector<std::string>{added->KeyIds().front()});
  EXPECT_TRUE(now->UnwrapDataKey(store_->GetTenant(a)->wrapped_data_key, a).ok());
}

TEST_F(KeyRotationTest, DataKeyRotationReencryptsEverythingIncludingStaleWritesDuringGrace) {
  const std::string a = AddTenant("org-a"), b = AddTenant("org-b");
  AddUser(a, "alice@a.example");
  AddCalls(a, "old-", 2500);
  AddCalls(b, "other-", 5);
  const crypto::Key256 old_key = server_->DataKeys(a)->current;  // the server caches it
  const std::string b_wrapped = store_->GetTenant(b)->wrapped_data_key;

  DataKeyRotationOptions o;
  o.grace_seconds = 65;
  o.batch_rows = 1000;
  int batches = 0;
  o.sleep = [&](int64_t seconds) {
    // During the grace period the server still seals with its cached, old key.
    AddCalls(a, "grace-", 3);
    clock_.Advance(std::chrono::seconds(seconds));
  };
  o.progress = [&](SealedField field, int64_t) {
    // Mid-sweep, the server's cache has expired: new calls get the new key.
    if (field == SealedField::kCall && ++batches == 1) AddCalls(a, "new-", 4);
  };
  auto report = RotateDataKey(*store_, *MakeRing(), a, clock_, o);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_FALSE(report->resumed);
  EXPECT_EQ(report->waited_seconds, 65);
  EXPECT_EQ(report->values_resealed, 1 + 2500 + 3);  // the e-mail, the calls, the grace-period calls
  EXPECT_EQ(report->values_unreadable, 0);

  const crypto::Key256 new_key = CurrentKeyOf(a);
  EXPECT_NE(new_key, old_key);
  EXPECT_EQ(OpenAllWith(a, new_key), (std::pair<int64_t, int64_t>{1 + 2500 + 3 + 4, 0}));
  EXPECT_EQ(OpenAllWith(a, old_key).first, 0);
  const store::Tenant after = *store_->GetTenant(a);
  EXPECT_EQ(after.retiring_data_key, "");
  EXPECT_EQ(after.rotation_cursor, "");
  // The other tenant is untouched.
  EXPECT_EQ(store_->GetTenant(b)->wrapped_data_key, b_wrapped);
  // The server reads everything with its refreshed key.
  clock_.Advance(std::chrono::seconds(31));
  EXPECT_EQ(server_->DataKeys(a)->current, new_key);
  EXPECT_FALSE(server_->DataKeys(a)->retiring.has_value());
}

TEST_F(KeyRotationTest, InterruptedDataKeyRotationResumesFromItsCursor) {
  const std::string a = AddTenant("org-a");
  AddCalls(a, "c-", 3000);
  const crypto::Key256 old_key = server_->DataKeys(a)->current;

  DataKeyRotationOptions o;
  o.grace_seconds = 10;
  o.batch_rows = 500;
  o.sleep = [&](int64_t seconds) { clock_.Advance(std::chrono::seconds(seconds)); };
  int batches = 0;
  o.progress = [&](SealedField field, int64_t) {
    if (field == SealedField::kCall && ++batches == 3) throw std::runtime_error("killed");
  };
  EXPECT_THROW((void)RotateDataKey(*store_, *MakeRing(), a, clock_, o), std::runtime_error);

  // Mid-rotation: both keys stored, the cursor after the third batch, and
  // the server reads old and new values alike.
  const store::Tenant mid = *store_->GetTenant(a);
  ASSERT_NE(mid.retiring_data_key, "");
  EXPECT_EQ(mid.rotation_cursor, R"(["call","dma","c-2347"])");  // the 1500th call in key order
  const crypto::Key256 new_key = CurrentKeyOf(a);
  EXPECT_EQ(OpenAllWith(a, new_key).first, 1500);
  clock_.Advance(std::chrono::seconds(31));
  auto both = server_->DataKeys(a);
  ASSERT_TRUE(both.ok() && both->retiring.has_value());
  auto page = store_->ListSealed(a, SealedField::kCall, "", "", 5000);
  for (const auto& v : *page)
    ASSERT_TRUE(OpenSealed(*both, v.sealed, SealedFieldAad(SealedField::kCall, a, v.source, v.id)).ok()) << v.id;

  o.progress = nullptr;
  auto report = RotateDataKey(*store_, *MakeRing(), a, clock_, o);
  ASSERT_TRUE(report.ok()) << report.error().detail;
  EXPECT_TRUE(report->resumed);
  EXPECT_EQ(report->waited_seconds, 0);         // the grace period had passed
  EXPECT_EQ(report->values_resealed, 1500);     // only the rest
  EXPECT_EQ(report->values_already_current, 0);  // the cursor skipped the done part
  EXPECT_EQ(CurrentKeyOf(a), new_key);           // the same new key: no third key
  EXPECT_EQ(OpenAllWith(a, new_key), (std::pair<int64_t, int64_t>{3000, 0}));
  EXPECT_EQ(OpenAllWith(a, old_key).first, 0);
  EXPECT_EQ(store_->GetTenant(a)->retiring_data_key, "");
}

}  // namespace
}  // namespace parley::privacy
