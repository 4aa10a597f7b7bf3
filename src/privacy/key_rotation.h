// Key rotation without downtime (`parley keys rotate`; docs/keys.md).
//
// Master key: RotateMasterKey adds a new active key to the key file (the old
// ones stay readable), re-wraps every tenant's data keys and the platform
// keys under it, then drops the old keys from the file. Running servers
// re-read the file when a wrapped key does not open with the keys they hold
// (privacy::KeyRing), so nothing has to restart. Interrupted, it is run
// again: a file that still holds several keys means "finish the rotation to
// the active key" rather than "add another key".
//
// Data key: RotateDataKey gives one tenant a new data key and re-encrypts
// every sealed value of the tenant (store::SealedField) under it, while the
// servers keep running:
//   1. the new key becomes the tenant's current key and the old one its
//      retiring key, in one compare-and-swap; servers read both and open
//      with either, and seal with the new one once their cache expires;
//   2. it waits `grace_seconds` (more than a server caches a key), so no
//      server seals with the old key any longer;
//   3. it re-seals, in key order and in batches, every value that does not
//      open with the new key, saving its cursor with each batch: killed, it
//      resumes from the cursor when run again;
//   4. it drops the retiring key. From then on the old key exists nowhere.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "privacy/pii.h"
#include "store/store.h"

namespace parley::privacy {

struct MasterRotationReport {
  std::string active_key_id;                 // the key everything is wrapped with now
  std::vector<std::string> dropped_key_ids;  // removed from the file
  bool finished_interrupted = false;         // the file held several keys: no new key was added
  int64_t tenants_rewrapped = 0;
  int64_t tenants_already_current = 0;
  int64_t platform_keys_rewrapped = 0;
};

// REQUIRES: the key file is not replaced by PARLEY_MASTER_KEY
// (kFailedPrecondition otherwise).
Result<MasterRotationReport> RotateMasterKey(store::Store& store, KeyRing& keys,
                                             const std::filesystem::path& master_key_file, const Clock& clock);

struct DataKeyRotationOptions {
  int64_t grace_seconds = 65;                // > 2 x keys.data_key_cache_seconds
  int64_t batch_rows = 1000;                 // values re-sealed per transaction
  // Waits; tests pass one that advances a fake clock.
  std::function<void(int64_t seconds)> sleep;
  // Called after each batch: the field being swept and the total re-sealed so far.
  std::function<void(store::SealedField field, int64_t resealed)> progress;
};

struct DataKeyRotationReport {
  bool resumed = false;                      // an earlier, interrupted rotation was finished
  int64_t waited_seconds = 0;
  int64_t values_resealed = 0;
  int64_t values_already_current = 0;        // sealed under the new key already (new data, or a resumed run)
  int64_t values_unreadable = 0;             // opened with neither key: left as they were, and reported
};

Result<DataKeyRotationReport> RotateDataKey(store::Store& store, KeyRing& keys, const std::string& tenant_id,
                                            const Clock& clock, const DataKeyRotationOptions& options);

// Every sealed field, in the order a data-key rotation sweeps them.
const std::vector<store::SealedField>& AllSealedFields();
std::string_view SealedFieldName(store::SealedField field);  // "call", "user_email", ...

}  // namespace parley::privacy
