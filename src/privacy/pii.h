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

std::string UserEmailAad(std::string_view tenant_id, std::string_view user_id);

}  // namespace parley::privacy
