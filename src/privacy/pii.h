// Personal data at rest: every tenant's personal fields are sealed with
// AES-256-GCM under that tenant's data key, which the master key wraps
// (blueprint "Data and keys"; formats in docs/formats/storage.md).
//
// KeyRing hands out unwrapped tenant data keys, cached in memory for the
// process lifetime (the store holds only wrapped keys). Thread-safe. The store
// and master key outlive the KeyRing.
#pragma once

#include <map>
#include <mutex>
#include <string>

#include "common/result.h"
#include "crypto/crypto.h"
#include "store/store.h"
#include "wire/wire.h"

namespace parley::privacy {

class KeyRing {
 public:
  KeyRing(store::Store& store, const crypto::MasterKey& master) : store_(store), master_(master) {}

  Result<crypto::Key256> DataKey(const std::string& tenant_id);
  // A fresh data key wrapped for `tenant_id`, for a tenant being created.
  std::string NewWrappedDataKey(const std::string& tenant_id) const;
  const crypto::MasterKey& master() const { return master_; }
  // Blind index of an e-mail address (lower-cased, trimmed) for sign-in look-up.
  std::string EmailIndex(std::string_view email) const;
  // The tenant's key for the search terms of its records' parties
  // (privacy/search_terms.h): HMAC-SHA-256(index key,
  // "parley:search-key:v1:" + tenant_id). Per tenant, so equal values of two
  // tenants give unrelated terms. The one place that names the index key it
  // derives from (to become a stable platform index key).
  crypto::Key256 SearchKey(const std::string& tenant_id) const;

 private:
  store::Store& store_;
  const crypto::MasterKey& master_;
  std::mutex mu_;
  std::map<std::string, crypto::Key256> keys_;  // guarded by mu_
};

std::string NormalizeEmail(std::string_view email);

// The sealed JSON of a call's personal fields, bound by its AAD to
// (tenant, source, call id) so a blob cannot be moved to another row.
std::string CallAad(std::string_view tenant_id, std::string_view source, std::string_view call_id);
std::string SealCallPii(const crypto::Key256& key, std::string_view tenant_id, const wire::CallRecord& call);
// Fills the personal fields of orig/dest (name, number, uri, ip).
Status OpenCallPii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                   std::string_view call_id, std::string_view sealed, wire::Party& orig, wire::Party& dest);

// The other record kinds follow the call's pattern: one sealed JSON blob per
// row, its AAD "parley:<kind>:v1:<tenant_id>:<source>:<id>" binding it to the
// tenant, the record kind and the row (docs/formats/storage.md, "Sealed
// fields"). Each Open* fills only the personal fields it sealed.
std::string RecordAad(std::string_view kind, std::string_view tenant_id, std::string_view source,
                      std::string_view id);

// Conference: {"name"}.
std::string SealConferencePii(const crypto::Key256& key, std::string_view tenant_id,
                              const wire::ConferenceRecord& conference);
Status OpenConferencePii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                         std::string_view conference_id, std::string_view sealed, std::string& name);

// Participant: {"name", "number", "uri", "ip"} of its party.
std::string SealParticipantPii(const crypto::Key256& key, std::string_view tenant_id,
                               const wire::ParticipantRecord& participant);
Status OpenParticipantPii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                          std::string_view participant_id, std::string_view sealed, wire::Party& party);

// Device: {"name", "serial", "ip", "mac", "owner"}.
std::string SealDevicePii(const crypto::Key256& key, std::string_view tenant_id, const wire::DeviceRecord& device);
Status OpenDevicePii(const crypto::Key256& key, std::string_view tenant_id, std::string_view source,
                     std::string_view device_id, std::string_view sealed, wire::DeviceRecord& device);

std::string UserEmailAad(std::string_view tenant_id, std::string_view user_id);

}  // namespace parley::privacy
