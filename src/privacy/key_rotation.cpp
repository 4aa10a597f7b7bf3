#include "privacy/key_rotation.h"

#include <openssl/crypto.h>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <thread>

#include "crypto/crypto.h"

namespace parley::privacy {

namespace json = boost::json;
using store::SealedField;

namespace {

// How often a compare-and-swap that lost to a concurrent writer is retried
// before giving up (the other writer is another rotation or an operator).
constexpr int kSwapAttempts = 20;

struct Cursor {
  size_t field = 0;  // index into AllSealedFields()
  std::string source;
  std::string id;
};

std::string EncodeCursor(const Cursor& c) {
  return json::serialize(json::array{std::string(SealedFieldName(AllSealedFields()[c.field])), c.source, c.id});
}

Cursor DecodeCursor(const std::string& text) {
  // An empty or unreadable cursor starts over: the sweep skips values that
  // are already current, so starting early costs time, never correctness.
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array() || v.as_array().size() != 3) return {};
  const auto& a = v.as_array();
  if (!a[0].is_string() || !a[1].is_string() || !a[2].is_string()) return {};
  const auto& fields = AllSealedFields();
  for (size_t i = 0; i < fields.size(); ++i)
    if (SealedFieldName(fields[i]) == a[0].as_string())
      return {i, std::string(a[1].as_string()), std::string(a[2].as_string())};
  return {};
}

store::TenantKeys KeysOf(const store::Tenant& t) {
  return {t.wrapped_data_key, t.retiring_data_key, t.rotation_started_at, t.rotation_cursor};
}

// Re-wraps one tenant's data keys under the active master key if either is
// wrapped by an older one. Returns whether anything changed.
Result<bool> RewrapTenant(store::Store& store, const crypto::MasterKey& master, const std::string& tenant_id) {
  for (int attempt = 0; attempt < kSwapAttempts; ++attempt) {
    PARLEY_ASSIGN_OR_RETURN(store::Tenant t, store.GetTenant(tenant_id));
    store::TenantKeys now = KeysOf(t);
    store::TenantKeys next = now;
    bool changed = false;
    for (std::string* wrapped : {&next.wrapped_data_key, &next.retiring_data_key}) {
      if (wrapped->empty()) continue;
      PARLEY_ASSIGN_OR_RETURN(size_t which, master.WrappingKeyIndex(*wrapped, tenant_id));
      if (which == 0) continue;
      PARLEY_ASSIGN_OR_RETURN(crypto::Key256 key, master.UnwrapDataKey(*wrapped, tenant_id));
      *wrapped = master.WrapDataKey(key, tenant_id);
      OPENSSL_cleanse(key.data(), key.size());
      changed = true;
    }
    if (!changed) return false;
    Status swapped = store.SwapTenantKeys(tenant_id, now, next);
    if (swapped.ok()) return true;
    if (swapped.error().code != Code::kFailedPrecondition) return swapped.error();
  }
  return Unavailable("the keys of a tenant kept changing during the re-wrap; run the rotation again");
}

// Writes change(tenant as read now) over the tenant's keys. A concurrent
// master-key re-wrap changes the wrapped bytes (not the keys) between the
// read and the swap: then read again and retry.
Status UpdateTenantKeys(store::Store& store, const std::string& tenant_id,
                        const std::function<store::TenantKeys(const store::Tenant&)>& change) {
  for (int attempt = 0;; ++attempt) {
    PARLEY_ASSIGN_OR_RETURN(store::Tenant now, store.GetTenant(tenant_id));
    Status swapped = store.SwapTenantKeys(tenant_id, KeysOf(now), change(now));
    if (swapped.ok() || swapped.error().code != Code::kFailedPrecondition || attempt + 1 >= kSwapAttempts) {
      return swapped;
    }
  }
}

Result<bool> RewrapPlatformKey(store::Store& store, const crypto::MasterKey& master, const std::string& name,
                               int64_t now) {
  for (int attempt = 0; attempt < kSwapAttempts; ++attempt) {
    auto wrapped = store.GetPlatformKey(name);
    if (!wrapped.ok() && wrapped.error().code == Code::kNotFound) return false;
    if (!wrapped.ok()) return wrapped.error();
    PARLEY_ASSIGN_OR_RETURN(crypto::Key256 key, master.UnwrapPlatformKey(*wrapped, name));
    std::string rewrapped = master.WrapPlatformKey(key, name);
    OPENSSL_cleanse(key.data(), key.size());
    Status swapped = store.SwapPlatformKey(name, *wrapped, rewrapped, now);
    if (swapped.ok()) return true;
    if (swapped.error().code != Code::kFailedPrecondition) return swapped.error();
  }
  return Unavailable("platform key " + name + " kept changing during the re-wrap; run the rotation again");
}

}  // namespace

const std::vector<SealedField>& AllSealedFields() {
  static const std::vector<SealedField> fields{SealedField::kUserEmail,   SealedField::kAccountTokenEmail,
                                               SealedField::kTotpSecret,  SealedField::kDevice,
                                               SealedField::kConference,  SealedField::kParticipant,
                                               SealedField::kCall};
  return fields;
}

std::string_view SealedFieldName(SealedField field) {
  switch (field) {
    case SealedField::kUserEmail: return "user_email";
    case SealedField::kAccountTokenEmail: return "account_token_email";
    case SealedField::kTotpSecret: return "totp_secret";
    case SealedField::kDevice: return "device";
    case SealedField::kConference: return "conference";
    case SealedField::kParticipant: return "participant";
    case SealedField::kCall: return "call";
  }
  return "unknown";
}

Result<MasterRotationReport> RotateMasterKey(store::Store& store, KeyRing& keys,
                                             const std::filesystem::path& master_key_file, const Clock& clock) {
  MasterRotationReport report;
  // The index key must be stored (wrapped) before the master key changes:
  // until then it is derived from the master key.
  PARLEY_TRY(keys.LoadIndexKey());
  PARLEY_ASSIGN_OR_RETURN(crypto::MasterKey master, crypto::MasterKey::Load(master_key_file));
  if (master.key_count() > 1) {
    report.finished_interrupted = true;
  } else {
    PARLEY_ASSIGN_OR_RETURN(master, crypto::MasterKey::AddActiveKey(master_key_file));
  }
  const std::vector<std::string> ids = master.KeyIds();
  report.active_key_id = ids.front();

  // Twice: a tenant created while the file was being rewritten may have been
  // wrapped by a server still holding only the old key; the second pass,
  // after every server re-reads the file before wrapping, catches it.
  for (int pass = 0; pass < 2; ++pass) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<store::Tenant> tenants, store.ListTenants());
    for (const store::Tenant& t : tenants) {
      PARLEY_ASSIGN_OR_RETURN(bool changed, RewrapTenant(store, master, t.id));
      if (pass == 0) (changed ? report.tenants_rewrapped : report.tenants_already_current)++;
      else if (changed) report.tenants_rewrapped++;
    }
  }
  PARLEY_ASSIGN_OR_RETURN(bool index_rewrapped, RewrapPlatformKey(store, master, kIndexKeyName, clock.NowUnixSeconds()));
  report.platform_keys_rewrapped += index_rewrapped ? 1 : 0;

  PARLEY_TRY(master.DropPreviousKeys(master_key_file));
  report.dropped_key_ids.assign(ids.begin() + 1, ids.end());
  keys.ForgetCachedKeys();
  return report;
}

Result<DataKeyRotationReport> RotateDataKey(store::Store& store, KeyRing& keys, const std::string& tenant_id,
                                            const Clock& clock, const DataKeyRotationOptions& options) {
  if (options.batch_rows < 1 || options.batch_rows > 5000) return InvalidArgument("batch_rows must be 1..5000");
  DataKeyRotationReport report;
  const crypto::MasterKey master = keys.master();

  // 1. Begin, or find the rotation an earlier run left.
  PARLEY_ASSIGN_OR_RETURN(store::Tenant tenant, store.GetTenant(tenant_id));
  if (tenant.retiring_data_key.empty()) {
    crypto::Key256 fresh = crypto::RandomKey();
    store::TenantKeys next{master.WrapDataKey(fresh, tenant_id), tenant.wrapped_data_key, clock.NowUnixSeconds(), ""};
    OPENSSL_cleanse(fresh.data(), fresh.size());
    PARLEY_TRY(store.SwapTenantKeys(tenant_id, KeysOf(tenant), next));
    PARLEY_ASSIGN_OR_RETURN(tenant, store.GetTenant(tenant_id));
  } else {
    report.resumed = true;
  }
  keys.ForgetCachedKeys();

  // 2. Let every server's cached key expire.
  const int64_t wait = tenant.rotation_started_at + options.grace_seconds - clock.NowUnixSeconds();
  if (wait > 0) {
    if (options.sleep)
      options.sleep(wait);
    else
      std::this_thread::sleep_for(std::chrono::seconds(wait));
    report.waited_seconds = wait;
  }

  // 3. Sweep.
  TenantDataKeys both;
  PARLEY_ASSIGN_OR_RETURN(both.current, master.UnwrapDataKey(tenant.wrapped_data_key, tenant_id));
  PARLEY_ASSIGN_OR_RETURN(crypto::Key256 old_key, master.UnwrapDataKey(tenant.retiring_data_key, tenant_id));
  Cursor cursor = DecodeCursor(tenant.rotation_cursor);
  const auto& fields = AllSealedFields();
  for (; cursor.field < fields.size(); ++cursor.field, cursor.source.clear(), cursor.id.clear()) {
    const SealedField field = fields[cursor.field];
    for (;;) {
      PARLEY_ASSIGN_OR_RETURN(std::vector<store::SealedValue> batch,
                              store.ListSealed(tenant_id, field, cursor.source, cursor.id, options.batch_rows));
      if (batch.empty()) break;
      std::vector<store::SealedRewrite> rewrites;
      for (store::SealedValue& v : batch) {
        const std::string aad = SealedFieldAad(field, tenant_id, v.source, v.id);
        if (crypto::Open(both.current, v.sealed, aad).ok()) {
          report.values_already_current++;
          continue;
        }
        auto plain = crypto::Open(old_key, v.sealed, aad);
        if (!plain.ok()) {
          report.values_unreadable++;
          continue;
        }
        std::string resealed = crypto::Seal(both.current, *plain, aad);
        OPENSSL_cleanse(plain->data(), plain->size());
        rewrites.push_back({{v.source, v.id, std::move(resealed)}, std::move(v.sealed)});
      }
      if (!rewrites.empty()) {
        PARLEY_ASSIGN_OR_RETURN(int64_t changed, store.ReplaceSealed(tenant_id, field, rewrites));
        report.values_resealed += changed;
      }
      cursor.source = batch.back().source;
      cursor.id = batch.back().id;
      PARLEY_TRY(UpdateTenantKeys(store, tenant_id, [&cursor](const store::Tenant& now) {
        store::TenantKeys next = KeysOf(now);
        next.rotation_cursor = EncodeCursor(cursor);
        return next;
      }));
      if (options.progress) options.progress(field, report.values_resealed);
      if (static_cast<int64_t>(batch.size()) < options.batch_rows) break;
    }
  }
  OPENSSL_cleanse(old_key.data(), old_key.size());

  // 4. Drop the retiring key.
  PARLEY_TRY(UpdateTenantKeys(store, tenant_id, [](const store::Tenant& now) {
    return store::TenantKeys{now.wrapped_data_key, "", 0, ""};
  }));
  keys.ForgetCachedKeys();
  return report;
}

}  // namespace parley::privacy
