// Parley's cryptographic building blocks, all on OpenSSL 3 and libsodium.
// Nothing here hand-rolls a primitive. Thread-safe: every function is pure
// apart from drawing from the OS random generator.
//
// Formats (docs/security.md):
//   sealed blob   = version(1 byte, 0x01) || nonce(12) || ciphertext || tag(16)
//                   AES-256-GCM; the AAD binds a blob to where it belongs
//                   (tenant, table, row), so blobs cannot be swapped.
//   wrapped key   = Seal(master key, data key, aad = "parley:dek:v1:" + tenant_id)
//   blind index   = HMAC-SHA-256(index key, normalized value), hex
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct evp_mac_ctx_st;     // OpenSSL's EVP_MAC_CTX
struct evp_cipher_ctx_st;  // OpenSSL's EVP_CIPHER_CTX

namespace parley::crypto {

using Key256 = std::array<uint8_t, 32>;

// Cryptographically secure random bytes (OpenSSL RAND_bytes).
std::string RandomBytes(size_t n);
// 256-bit random token, base64url without padding (43 chars): session ids,
// enrollment and verification tokens.
std::string RandomToken();
// Random UUID v4 string ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string RandomUuid();
Key256 RandomKey();

std::string Sha256(std::string_view data);                       // 32 raw bytes
std::string Sha256Hex(std::string_view data);                    // 64 hex chars
std::string HmacSha256(const Key256& key, std::string_view data);  // 32 raw bytes

// HMAC-SHA-256 under one key, for many messages: the algorithm is fetched and
// the key set up once, where HmacSha256 does both on every call (at ingest,
// ~7 search terms a call, that was a tenth of the server's CPU).
// Mac(data) == HmacSha256(key, data). Safe to share between threads.
//
// One thread at a time re-initialises a work context that keeps the key
// schedule (221 ns a MAC where copying the keyed context cost 549 ns,
// measured with OpenSSL 3.0 on the bench machine); a second thread meanwhile
// copies the keyed context instead of waiting.
class HmacSha256Key {
 public:
  explicit HmacSha256Key(const Key256& key);
  ~HmacSha256Key();
  HmacSha256Key(const HmacSha256Key&) = delete;
  HmacSha256Key& operator=(const HmacSha256Key&) = delete;
  std::string Mac(std::string_view data) const;  // 32 raw bytes

 private:
  evp_mac_ctx_st* keyed_;           // never changed
  mutable std::mutex work_mu_;
  evp_mac_ctx_st* work_;            // GUARDED_BY(work_mu_)
};
std::string ToHex(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);                // standard, padded
Result<std::string> Base64Decode(std::string_view text);         // standard, padded
std::string Base64UrlEncode(std::string_view bytes);             // no padding
// Constant-time comparison of equal-length strings (false if lengths differ).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// AES-256-GCM with a fresh random 96-bit nonce per call.
std::string Seal(const Key256& key, std::string_view plaintext, std::string_view aad);

// Seal for many messages under one key, as ingest seals a batch's records:
// the AES key schedule is set up once, not per message, and the random
// nonces are drawn from the DRBG kNoncesPerDraw at a time (after the first
// message's) instead of one RAND_bytes call each (3% of the server's ingest
// CPU). Every message still gets its own random 96-bit nonce, never reused;
// the output is Seal's. One instance per thread.
class Sealer {
 public:
  explicit Sealer(const Key256& key);
  ~Sealer();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;
  std::string Seal(std::string_view plaintext, std::string_view aad);

  static constexpr size_t kNoncesPerDraw = 64;

 private:
  static constexpr size_t kNonceBytes = 12;
  evp_cipher_ctx_st* ctx_;
  std::array<unsigned char, kNonceBytes * kNoncesPerDraw> nonces_{};
  size_t nonces_drawn_ = 0;  // in nonces_
  size_t next_nonce_ = 0;
};
// Fails (kDataLoss-free: kInvalidArgument "decryption failed") on any tamper,
// wrong key or wrong AAD.
Result<std::string> Open(const Key256& key, std::string_view sealed, std::string_view aad);

// The master key: 32 random bytes stored base64 in a file of mode 0600.
// During a rotation (`parley keys rotate`, docs/keys.md) the file holds
// several keys, one per line: the first is the active key, which wraps every
// new data key; the others are previous keys, still accepted for unwrapping
// until every data key has been re-wrapped, then dropped from the file.
class MasterKey {
 public:
  // Creates FILE (refuses to overwrite) with a new random key.
  static Result<MasterKey> Generate(const std::filesystem::path& file);
  // Loads FILE; refuses a file readable by group/others, a key of the wrong
  // size, or a file without a key. If the environment variable
  // PARLEY_MASTER_KEY (base64 keys, comma-separated, active first) is set,
  // it wins over the file (for deployments that inject secrets).
  static Result<MasterKey> Load(const std::filesystem::path& file);
  static bool FromEnvironment();  // PARLEY_MASTER_KEY is set
  // Rewrites FILE (atomically, 0600) as a new random active key followed by
  // the keys it holds now, and returns the result.
  static Result<MasterKey> AddActiveKey(const std::filesystem::path& file);
  // Rewrites FILE with the active key only.
  Status DropPreviousKeys(const std::filesystem::path& file) const;
  static MasterKey FromBytesForTest(const Key256& key) { return MasterKey({key}); }

  // Short public names of the keys, active first: the first 8 hex digits
  // of SHA-256("parley:master-key-id:v1" || key). Shown by `parley keys status`.
  std::vector<std::string> KeyIds() const;
  size_t key_count() const { return keys_.size(); }

  // Wraps with the active key.
  std::string WrapDataKey(const Key256& data_key, std::string_view tenant_id) const;
  // Unwraps with whichever key wrapped it.
  Result<Key256> UnwrapDataKey(std::string_view wrapped, std::string_view tenant_id) const;
  // Which of the keys (0 = active) wrapped it; kInvalidArgument if none.
  Result<size_t> WrappingKeyIndex(std::string_view wrapped, std::string_view tenant_id) const;
  // Platform-wide secrets kept in the store wrapped by the master key (the
  // blind-index key), AAD "parley:platform-key:v1:" + name.
  std::string WrapPlatformKey(const Key256& key, std::string_view name) const;
  Result<Key256> UnwrapPlatformKey(std::string_view wrapped, std::string_view name) const;
  // HKDF-SHA-256(active key, info = "parley:blind-index:v1"): the blind-index
  // key of deployments made before key rotation existed. KeyRing stores it
  // wrapped on first use, so the index key survives master-key rotation;
  // nothing else should call this.
  Key256 DeriveIndexKey() const;

 private:
  explicit MasterKey(std::vector<Key256> keys) : keys_(std::move(keys)) {}
  Result<Key256> UnwrapWithAny(std::string_view wrapped, const std::string& aad, size_t* which) const;
  std::vector<Key256> keys_;  // active first; never empty
};

// Blind index for equality search: hex(HMAC-SHA-256(key, value)).
std::string BlindIndex(const Key256& key, std::string_view normalized_value);
std::string BlindIndex(const HmacSha256Key& key, std::string_view normalized_value);

// Argon2id (libsodium crypto_pwhash_str, OPSLIMIT/MEMLIMIT_INTERACTIVE unless
// overridden for tests). The output is the self-describing $argon2id$ string.
std::string HashPassword(std::string_view password);
bool VerifyPassword(std::string_view password, std::string_view hash);
// Switches HashPassword to libsodium's minimum Argon2id cost for the rest of
// the process, so suites that hash many passwords stay fast. Tests only.
void UseMinimalPasswordHashCostForTests();

}  // namespace parley::crypto
