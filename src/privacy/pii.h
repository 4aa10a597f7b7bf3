// Personal data at rest: every tenant's personal fields are sealed with
// AES-256-GCM under that tenant's data key, which the master key wraps
// (blueprint "Data and keys"; formats in docs/formats/storage.md).
//
// KeyRing hands out unwrapped tenant data keys and the blind-index key. The
// store holds only wrapped keys. Thread-safe. The store outlives the KeyRing.
//
// Keys change under a running server (`parley keys rotate`, docs/keys.md):
//  * a tenant's data keys are cached for options.cache_seconds only, so every
//    server seals with a tenant's new data key at most that long after a
//    rotation began (the rotation waits longer than that before it sweeps);
//  * when a wrapped key does not open with the master keys in memory, the
//    master key file is read again (it gained a new active key).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "wire/wire.h"

namespace parley::privacy {

struct TenantDataKeys {
  crypto::Key256 current;                    // seals; opens
  std::optional<crypto::Key256> retiring;    // opens too, while a rotation runs
};

// Opens a blob sealed under either of a tenant's data keys.
Result<std::string> OpenSealed(const TenantDataKeys& keys, std::string_view sealed, std::string_view aad);

// The name of the blind-index key in store::Store's platform keys.
inline constexpr const char* kIndexKeyName = "blind-index";

struct KeyRingOptions {
  int64_t cache_seconds = 30;                // keys.data_key_cache_seconds
  std::filesystem::path master_key_file;     // re-read when a key does not open; "" = never
  const Clock* clock = nullptr;              // nullptr = system clock
};

class KeyRing {
 public:
  KeyRing(store::Store& store, const crypto::MasterKey& master, KeyRingOptions options = {});

  Result<TenantDataKeys> DataKeys(const std::string& tenant_id);
  // A fresh data key wrapped for `tenant_id`, for a tenant being created.
  std::string NewWrappedDataKey(const std::string& tenant_id);
  // The master keys in use now (a copy: a reload may replace them).
  crypto::MasterKey master() const;
  // Reads the blind-index key from the store, storing it first (wrapped)
  // if this is the first start since migration 0010. `serve` calls it at
  // start-up so a store failure stops it there; IndexKey() calls it lazily.
  Status LoadIndexKey();
  // The key of every blind index (e-mail, search terms, keyed references).
  crypto::Key256 IndexKey();
  // Blind index of an e-mail address (lower-cased, trimmed) for sign-in look-up.
  std::string EmailIndex(std::string_view email);
  // Drops cached data keys, so the next use reads the store (tests, and the
  // rotation when it runs in the serving process).
  void ForgetCachedKeys();
  // The tenant's key for the search terms of its records' parties
  // (privacy/search_terms.h): HMAC-SHA-256(index key,
  // "parley:search-key:v1:" + tenant_id). Per tenant, so equal values of two
  // tenants give unrelated terms. The one place that names the index key it
  // derives from (the platform index key).
  crypto::Key256 SearchKey(const std::string& tenant_id);

 private:
  struct Cached {
    TenantDataKeys keys;
    int64_t fetched_at = 0;
  };
  Result<crypto::Key256> Unwrap(const std::string& wrapped, const std::string& tenant_id);
  // Re-reads the master key file (a rotation may have added a key) and, if
  // `opens` accepts the keys read, makes them this ring's. False when there
  // is no file to read (none configured, or PARLEY_MASTER_KEY wins).
  bool ReloadMasterIf(const std::function<bool(const crypto::MasterKey&)>& opens);
  int64_t Now() const;

  store::Store& store_;
  const KeyRingOptions options_;
  mutable std::mutex mu_;
  crypto::MasterKey master_;                   // guarded by mu_
  std::optional<crypto::Key256> index_key_;    // guarded by mu_
  std::map<std::string, Cached> keys_;         // guarded by mu_
};

std::string NormalizeEmail(std::string_view email);

// The sealed JSON of a call's personal fields, bound by its AAD to
// (tenant, source, call id) so a blob cannot be moved to another row.
std::string CallAad(std::string_view tenant_id, std::string_view source, std::string_view call_id);
std::string SealCallPii(crypto::Sealer& sealer, std::string_view tenant_id, const wire::CallRecord& call);
// Fills the personal fields of orig/dest (name, number, uri, ip).
Status OpenCallPii(const TenantDataKeys& keys, std::string_view tenant_id, std::string_view source,
                   std::string_view call_id, std::string_view sealed, wire::Party& orig, wire::Party& dest);

// The other record kinds follow the call's pattern: one sealed JSON blob per
// row, its AAD "parley:<kind>:v1:<tenant_id>:<source>:<id>" binding it to the
// tenant, the record kind and the row (docs/formats/storage.md, "Sealed
// fields"). Each Open* fills only the personal fields it sealed.
std::string RecordAad(std::string_view kind, std::string_view tenant_id, std::string_view source,
                      std::string_view id);

// Conference: {"name"}.
std::string SealConferencePii(crypto::Sealer& sealer, std::string_view tenant_id,
                              const wire::ConferenceRecord& conference);
Status OpenConferencePii(const TenantDataKeys& keys, std::string_view tenant_id, std::string_view source,
                         std::string_view conference_id, std::string_view sealed, std::string& name);

// Participant: {"name", "number", "uri", "ip"} of its party.
std::string SealParticipantPii(crypto::Sealer& sealer, std::string_view tenant_id,
                               const wire::ParticipantRecord& participant);
Status OpenParticipantPii(const TenantDataKeys& keys, std::string_view tenant_id, std::string_view source,
                          std::string_view participant_id, std::string_view sealed, wire::Party& party);

// Device: {"name", "serial", "ip", "mac", "owner"}.
std::string SealDevicePii(crypto::Sealer& sealer, std::string_view tenant_id, const wire::DeviceRecord& device);
Status OpenDevicePii(const TenantDataKeys& keys, std::string_view tenant_id, std::string_view source,
                     std::string_view device_id, std::string_view sealed, wire::DeviceRecord& device);

std::string UserEmailAad(std::string_view tenant_id, std::string_view user_id);
// An account link's address: "parley:account-token:v1:<tenant>:<token hash>".
std::string TokenEmailAad(std::string_view tenant_id, std::string_view token_hash);
// A TOTP secret: "parley:totp:v1:<tenant>:<user>".
std::string TotpSecretAad(std::string_view tenant_id, std::string_view user_id);
// The AAD of any sealed column's value, from the row's (source, id) as
// store::ListSealed returns it: what a data-key rotation re-seals with.
std::string SealedFieldAad(store::SealedField field, std::string_view tenant_id, std::string_view source,
                           std::string_view id);

}  // namespace parley::privacy
