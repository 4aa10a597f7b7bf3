#include "crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/files.h"
#include "crypto/detail/openssl_util.h"

namespace parley::crypto {
namespace {

using detail::CipherCtxPtr;
using detail::KdfCtxPtr;
using detail::KdfPtr;

constexpr uint8_t kSealVersion = 0x01;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kSealOverhead = 1 + kNonceSize + kTagSize;
// EVP update calls take an int length; larger inputs go in slices.
constexpr size_t kMaxSlice = size_t{1} << 30;
constexpr std::string_view kDekAadPrefix = "parley:dek:v1:";
constexpr std::string_view kPlatformKeyAadPrefix = "parley:platform-key:v1:";
constexpr std::string_view kIndexKeyInfo = "parley:blind-index:v1";
constexpr const char* kMasterKeyEnv = "PARLEY_MASTER_KEY";
constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// Failures of these calls mean the process cannot do cryptography at all
// (no entropy, out of memory): there is nothing sensible to return, and
// carrying on would risk writing unprotected data (style: error policy).
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "parley: fatal crypto failure: %s\n", detail::OpensslError(what).c_str());
  std::abort();
}

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

void EnsureSodium() {
  // sodium_init is idempotent and thread-safe, but a static makes the cost once.
  static const bool ready = sodium_init() >= 0;
  if (!ready) Fatal("sodium_init");
}

std::atomic<unsigned long long> g_pwhash_ops{crypto_pwhash_OPSLIMIT_INTERACTIVE};
std::atomic<size_t> g_pwhash_mem{crypto_pwhash_MEMLIMIT_INTERACTIVE};

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

std::string_view TrimTrailingWhitespace(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

Result<Key256> KeyFromBase64(std::string_view text, std::string_view source) {
  // The detail names where the key came from, never any of its bytes.
  auto decoded = Base64Decode(TrimTrailingWhitespace(text));
  if (!decoded.ok()) return InvalidArgument(std::string(source) + " is not valid base64");
  if (decoded->size() != 32)
    return InvalidArgument(std::string(source) + " must hold 32 bytes, found " + std::to_string(decoded->size()));
  Key256 key;
  std::memcpy(key.data(), decoded->data(), key.size());
  OPENSSL_cleanse(decoded->data(), decoded->size());
  return key;
}

// AES-256-GCM fetched once for the process. Initialising a context with
// EVP_aes_256_gcm() fetches the implementation from the provider again each
// time (a property query under the provider's locks); ingest seals every
// record it stores.
const EVP_CIPHER* AesGcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (cipher == nullptr) Fatal("EVP_CIPHER_fetch(AES-256-GCM)");
  return cipher;
}

}  // namespace

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    size_t slice = std::min(n - done, kMaxSlice);
    if (RAND_bytes(Bytes(out) + done, static_cast<int>(slice)) != 1) Fatal("RAND_bytes");
    done += slice;
  }
  return out;
}

std::string RandomToken() { return Base64UrlEncode(RandomBytes(32)); }

std::string RandomUuid() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = ToHex(b);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

Key256 RandomKey() {
  Key256 key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) Fatal("RAND_bytes");
  return key;
}

std::string Sha256(std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), Bytes(out), &len, EVP_sha256(), nullptr) != 1 || len != 32)
    Fatal("EVP_Digest");
  return out;
}

std::string Sha256Hex(std::string_view data) { return ToHex(Sha256(data)); }

std::string HmacSha256(const Key256& key, std::string_view data) {
  std::string out(32, '\0');
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), Bytes(data), data.size(),
                Bytes(out), out.size(), &len) == nullptr ||
      len != 32)
    Fatal("EVP_Q_mac(HMAC-SHA-256)");
  return out;
}

HmacSha256Key::HmacSha256Key(const Key256& key) {
  // Fetched once for the process (EVP_MAC_fetch takes the provider's locks).
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac == nullptr) Fatal("EVP_MAC_fetch(HMAC)");
  keyed_ = EVP_MAC_CTX_new(hmac);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (keyed_ == nullptr || EVP_MAC_init(keyed_, key.data(), key.size(), params) != 1) Fatal("EVP_MAC_init(HMAC-SHA-256)");
  work_ = EVP_MAC_CTX_dup(keyed_);
  if (work_ == nullptr) Fatal("EVP_MAC_CTX_dup(HMAC-SHA-256)");
}

HmacSha256Key::~HmacSha256Key() {  // both clear their key schedules
  EVP_MAC_CTX_free(work_);
  EVP_MAC_CTX_free(keyed_);
}

std::string HmacSha256Key::Mac(std::string_view data) const {
  std::string out(32, '\0');
  size_t len = 0;
  std::unique_lock lock(work_mu_, std::try_to_lock);
  // EVP_MAC_init without a key starts a new MAC under the key already set.
  EVP_MAC_CTX* ctx = lock.owns_lock() ? work_ : EVP_MAC_CTX_dup(keyed_);
  const bool ok = ctx != nullptr && (!lock.owns_lock() || EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1) &&
                  EVP_MAC_update(ctx, Bytes(data), data.size()) == 1 &&
                  EVP_MAC_final(ctx, Bytes(out), &len, out.size()) == 1 && len == 32;
  if (!lock.owns_lock()) EVP_MAC_CTX_free(ctx);
  if (!ok) Fatal("EVP_MAC(HMAC-SHA-256)");
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  // EVP_EncodeBlock takes an int: encode in slices that are a multiple of 3
  // bytes so the concatenation is the same as one call.
  constexpr size_t kSlice = 3 * (size_t{1} << 28);
  for (size_t done = 0; done < bytes.size(); done += kSlice) {
    size_t n = std::min(bytes.size() - done, kSlice);
    size_t old = out.size();
    out.resize(old + 4 * ((n + 2) / 3) + 1);  // +1: EncodeBlock writes a NUL
    int written = EVP_EncodeBlock(Bytes(out) + old, Bytes(bytes) + done, static_cast<int>(n));
    out.resize(old + static_cast<size_t>(written));
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  // EVP_DecodeBlock is lenient (skips whitespace, counts padding as zero
  // bytes), so the strict shape is checked first.
  if (text.size() % 4 != 0) return InvalidArgument("base64 length is not a multiple of 4");
  if (text.size() > INT_MAX) return InvalidArgument("base64 input too large");
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  for (size_t i = 0; i < text.size() - pad; ++i)
    if (!IsBase64Char(text[i])) return InvalidArgument("invalid base64 character");
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(Bytes(out), Bytes(text), static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return InvalidArgument("invalid base64");
  out.resize(out.size() - pad);
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out = Base64Encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string Seal(const Key256& key, std::string_view plaintext, std::string_view aad) {
  return Sealer(key).Seal(plaintext, aad);
}

Sealer::Sealer(const Key256& key) : ctx_(EVP_CIPHER_CTX_new()) {
  static_assert(kNonceBytes == kNonceSize);
  if (ctx_ == nullptr || EVP_EncryptInit_ex2(ctx_, AesGcm(), key.data(), nullptr, nullptr) != 1)
    Fatal("AES-256-GCM init");
}

Sealer::~Sealer() { EVP_CIPHER_CTX_free(ctx_); }

std::string Sealer::Seal(std::string_view plaintext, std::string_view aad) {
  std::string out(kSealOverhead + plaintext.size(), '\0');
  unsigned char* p = Bytes(out);
  p[0] = kSealVersion;
  unsigned char* nonce = p + 1;
  unsigned char* ct = nonce + kNonceSize;
  // A random 96-bit nonce per message: with one key per tenant the number of
  // messages stays far below the 2^32 bound NIST SP 800-38D sets for this.
  if (next_nonce_ == nonces_drawn_) {
    // One for the first message (Seal above seals only one), then a block.
    nonces_drawn_ = nonces_drawn_ == 0 ? 1 : kNoncesPerDraw;
    if (RAND_bytes(nonces_.data(), static_cast<int>(nonces_drawn_ * kNonceSize)) != 1) Fatal("RAND_bytes");
    next_nonce_ = 0;
  }
  std::memcpy(nonce, nonces_.data() + next_nonce_ * kNonceSize, kNonceSize);
  ++next_nonce_;

  // The key stays set; only the nonce is new.
  if (EVP_EncryptInit_ex2(ctx_, nullptr, nullptr, nonce, nullptr) != 1) Fatal("AES-256-GCM init");
  int len = 0;
  for (size_t done = 0; done < aad.size(); done += kMaxSlice) {
    int n = static_cast<int>(std::min(aad.size() - done, kMaxSlice));
    if (EVP_EncryptUpdate(ctx_, nullptr, &len, Bytes(aad) + done, n) != 1) Fatal("AES-256-GCM aad");
  }
  size_t written = 0;
  for (size_t done = 0; done < plaintext.size(); done += kMaxSlice) {
    int n = static_cast<int>(std::min(plaintext.size() - done, kMaxSlice));
    if (EVP_EncryptUpdate(ctx_, ct + written, &len, Bytes(plaintext) + done, n) != 1)
      Fatal("AES-256-GCM encrypt");
    written += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx_, ct + written, &len) != 1) Fatal("AES-256-GCM final");
  written += static_cast<size_t>(len);
  if (written != plaintext.size()) Fatal("AES-256-GCM length");
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, kTagSize, ct + written) != 1) Fatal("AES-256-GCM tag");
  return out;
}

Result<std::string> Open(const Key256& key, std::string_view sealed, std::string_view aad) {
  // One message for every failure: the caller (and any attacker) learns
  // nothing about which check failed.
  const Error failed = InvalidArgument("decryption failed");
  if (sealed.size() < kSealOverhead || static_cast<uint8_t>(sealed[0]) != kSealVersion) return failed;
  const unsigned char* nonce = Bytes(sealed) + 1;
  const unsigned char* ct = nonce + kNonceSize;
  size_t ct_size = sealed.size() - kSealOverhead;
  const unsigned char* tag = ct + ct_size;

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex2(ctx.get(), AesGcm(), key.data(), nonce, nullptr) != 1)
    Fatal("AES-256-GCM init");
  int len = 0;
  for (size_t done = 0; done < aad.size(); done += kMaxSlice) {
    int n = static_cast<int>(std::min(aad.size() - done, kMaxSlice));
    if (EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad) + done, n) != 1) Fatal("AES-256-GCM aad");
  }
  std::string plain(ct_size, '\0');
  size_t written = 0;
  for (size_t done = 0; done < ct_size; done += kMaxSlice) {
    int n = static_cast<int>(std::min(ct_size - done, kMaxSlice));
    if (EVP_DecryptUpdate(ctx.get(), Bytes(plain) + written, &len, ct + done, n) != 1) Fatal("AES-256-GCM decrypt");
    written += static_cast<size_t>(len);
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, const_cast<unsigned char*>(tag)) != 1)
    Fatal("AES-256-GCM set tag");
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(plain) + written, &len) != 1) {
    // Unauthenticated plaintext must not linger in freed memory.
    OPENSSL_cleanse(plain.data(), plain.size());
    ERR_clear_error();
    return failed;
  }
  return plain;
}

namespace {

std::string KeyFileText(const std::vector<Key256>& keys) {
  std::string text;
  for (const Key256& k : keys)
    text += Base64Encode(std::string_view(reinterpret_cast<const char*>(k.data()), k.size())) + "\n";
  return text;
}

// One key per line (or per comma for the environment variable); blank
// lines are ignored. The detail names the source and line, never a byte.
Result<std::vector<Key256>> ParseKeys(std::string_view text, char separator, const std::string& source) {
  std::vector<Key256> keys;
  size_t line = 0;
  while (!text.empty()) {
    ++line;
    size_t end = text.find(separator);
    std::string_view item = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    if (TrimTrailingWhitespace(item).empty()) continue;
    auto key = KeyFromBase64(item, source + (line > 1 || !text.empty() ? " (key " + std::to_string(line) + ")" : ""));
    if (!key.ok()) {
      for (Key256& k : keys) OPENSSL_cleanse(k.data(), k.size());
      return key.error();
    }
    keys.push_back(*key);
  }
  if (keys.empty()) return InvalidArgument(source + " holds no key");
  return keys;
}

Status WriteKeyFile(const std::filesystem::path& file, const std::vector<Key256>& keys) {
  std::string text = KeyFileText(keys);
  Status written = WriteFileAtomic(file, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  return written;
}

}  // namespace

Result<MasterKey> MasterKey::Generate(const std::filesystem::path& file) {
  std::error_code ec;
  // WriteFileAtomic renames over its target, so an existing key (whose loss
  // would crypto-shred every tenant) is checked for first.
  bool exists = std::filesystem::exists(file, ec);
  if (ec) return Internal("cannot check " + file.string() + ": " + ec.message());
  if (exists) return AlreadyExists(file.string() + " already exists; refusing to overwrite a master key");
  std::vector<Key256> keys{RandomKey()};
  if (Status written = WriteKeyFile(file, keys); !written.ok()) {
    OPENSSL_cleanse(keys[0].data(), keys[0].size());
    return written.error();
  }
  return MasterKey(std::move(keys));
}

bool MasterKey::FromEnvironment() {
  const char* env = std::getenv(kMasterKeyEnv);
  return env != nullptr && *env != '\0';
}

Result<MasterKey> MasterKey::Load(const std::filesystem::path& file) {
  if (FromEnvironment()) {
    PARLEY_ASSIGN_OR_RETURN(std::vector<Key256> keys, ParseKeys(std::getenv(kMasterKeyEnv), ',', kMasterKeyEnv));
    return MasterKey(std::move(keys));
  }
  PARLEY_TRY(CheckPrivateFile(file));
  PARLEY_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  auto keys = ParseKeys(text, '\n', "master key file " + file.string());
  OPENSSL_cleanse(text.data(), text.size());
  if (!keys.ok()) return keys.error();
  return MasterKey(std::move(*keys));
}

Result<MasterKey> MasterKey::AddActiveKey(const std::filesystem::path& file) {
  if (FromEnvironment())
    return FailedPrecondition(std::string(kMasterKeyEnv) + " is set: a rotation writes the key file, so unset it and "
                              "keep the keys in keys.master_key_file");
  PARLEY_ASSIGN_OR_RETURN(MasterKey current, Load(file));
  std::vector<Key256> keys{RandomKey()};
  keys.insert(keys.end(), current.keys_.begin(), current.keys_.end());
  PARLEY_TRY(WriteKeyFile(file, keys));
  return MasterKey(std::move(keys));
}

Status MasterKey::DropPreviousKeys(const std::filesystem::path& file) const {
  if (FromEnvironment()) return FailedPrecondition(std::string(kMasterKeyEnv) + " is set; the key file is not used");
  return WriteKeyFile(file, {keys_.front()});
}

std::vector<std::string> MasterKey::KeyIds() const {
  std::vector<std::string> ids;
  for (const Key256& k : keys_) {
    std::string material = "parley:master-key-id:v1";
    material.append(reinterpret_cast<const char*>(k.data()), k.size());
    ids.push_back(Sha256Hex(material).substr(0, 8));
    OPENSSL_cleanse(material.data(), material.size());
  }
  return ids;
}

std::string MasterKey::WrapDataKey(const Key256& data_key, std::string_view tenant_id) const {
  std::string aad = std::string(kDekAadPrefix) + std::string(tenant_id);
  return Seal(keys_.front(), std::string_view(reinterpret_cast<const char*>(data_key.data()), data_key.size()), aad);
}

Result<Key256> MasterKey::UnwrapWithAny(std::string_view wrapped, const std::string& aad, size_t* which) const {
  // AES-GCM authenticates: a wrong key fails reliably, so trying each key in
  // turn cannot yield a wrong data key.
  for (size_t i = 0; i < keys_.size(); ++i) {
    auto plain = Open(keys_[i], wrapped, aad);
    if (!plain.ok()) continue;
    if (plain->size() != 32) {
      OPENSSL_cleanse(plain->data(), plain->size());
      return InvalidArgument("wrapped key has the wrong size");
    }
    Key256 key;
    std::memcpy(key.data(), plain->data(), key.size());
    OPENSSL_cleanse(plain->data(), plain->size());
    if (which) *which = i;
    return key;
  }
  return InvalidArgument(keys_.size() == 1 ? "decryption failed: not wrapped by the master key"
                                           : "decryption failed: not wrapped by any of the master keys");
}

Result<Key256> MasterKey::UnwrapDataKey(std::string_view wrapped, std::string_view tenant_id) const {
  return UnwrapWithAny(wrapped, std::string(kDekAadPrefix) + std::string(tenant_id), nullptr);
}

Result<size_t> MasterKey::WrappingKeyIndex(std::string_view wrapped, std::string_view tenant_id) const {
  size_t which = 0;
  PARLEY_ASSIGN_OR_RETURN(Key256 key, UnwrapWithAny(wrapped, std::string(kDekAadPrefix) + std::string(tenant_id), &which));
  OPENSSL_cleanse(key.data(), key.size());
  return which;
}

std::string MasterKey::WrapPlatformKey(const Key256& key, std::string_view name) const {
  std::string aad = std::string(kPlatformKeyAadPrefix) + std::string(name);
  return Seal(keys_.front(), std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), aad);
}

Result<Key256> MasterKey::UnwrapPlatformKey(std::string_view wrapped, std::string_view name) const {
  return UnwrapWithAny(wrapped, std::string(kPlatformKeyAadPrefix) + std::string(name), nullptr);
}

Key256 MasterKey::DeriveIndexKey() const {
  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) Fatal("EVP_KDF_fetch(HKDF)");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) Fatal("EVP_KDF_CTX_new");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(keys_.front().data()), keys_.front().size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kIndexKeyInfo.data()),
                                        kIndexKeyInfo.size()),
      OSSL_PARAM_construct_end(),
  };
  Key256 out;
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) Fatal("HKDF-SHA-256");
  return out;
}

std::string BlindIndex(const Key256& key, std::string_view normalized_value) {
  return ToHex(HmacSha256(key, normalized_value));
}

std::string BlindIndex(const HmacSha256Key& key, std::string_view normalized_value) {
  return ToHex(key.Mac(normalized_value));
}

std::string HashPassword(std::string_view password) {
  EnsureSodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), g_pwhash_ops.load(), g_pwhash_mem.load(),
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    Fatal("crypto_pwhash_str_alg (out of memory?)");
  return std::string(out);
}

bool VerifyPassword(std::string_view password, std::string_view hash) {
  EnsureSodium();
  // Only our own format is accepted: an argon2i or foreign hash in the store
  // means it did not come from HashPassword.
  if (hash.size() >= crypto_pwhash_STRBYTES || hash.substr(0, kArgon2idPrefix.size()) != kArgon2idPrefix)
    return false;
  char str[crypto_pwhash_STRBYTES] = {};
  std::memcpy(str, hash.data(), hash.size());  // libsodium wants it NUL-terminated
  return crypto_pwhash_str_verify(str, password.data(), password.size()) == 0;
}

void UseMinimalPasswordHashCostForTests() {
  g_pwhash_ops.store(crypto_pwhash_OPSLIMIT_MIN);
  g_pwhash_mem.store(crypto_pwhash_MEMLIMIT_MIN);
}

}  // namespace parley::crypto
