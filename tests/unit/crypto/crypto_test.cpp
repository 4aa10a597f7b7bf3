#include "crypto/crypto.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <regex>
#include <thread>
#include <set>

#include "common/files.h"
#include "unit/crypto/temp_dir.h"

namespace parley::crypto {
namespace {

using testing::TempDir;

std::string KeyBytes(const Key256& key) { return std::string(reinterpret_cast<const char*>(key.data()), key.size()); }

Key256 KeyOf(char fill) {
  Key256 key;
  key.fill(static_cast<uint8_t>(fill));
  return key;
}

// --- AEAD --------------------------------------------------------------------

// Seal then Open with the same key and AAD gives the plaintext back, for
// empty, short and multi-block plaintexts.
TEST(SealTest, RoundTripsPlaintextOfAnyLength) {
  Key256 key = RandomKey();
  for (std::string plain : {std::string(), std::string("x"), std::string("alice@example.com"), RandomBytes(4096)}) {
    std::string sealed = Seal(key, plain, "tenant-1:users:42");
    ASSERT_EQ(sealed.size(), 1 + 12 + plain.size() + 16);
    EXPECT_EQ(static_cast<uint8_t>(sealed[0]), 0x01);
    auto opened = Open(key, sealed, "tenant-1:users:42");
    ASSERT_TRUE(opened.ok()) << opened.error().detail;
    EXPECT_EQ(*opened, plain);
  }
}

// Flipping any bit of any region (version, nonce, ciphertext, tag) makes
// Open fail with the one generic message.
TEST(SealTest, DetectsTamperingInEveryRegion) {
  Key256 key = RandomKey();
  const std::string sealed = Seal(key, "+41 22 555 01 23", "aad");
  const size_t tag_start = sealed.size() - 16;
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string tampered = sealed;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    auto opened = Open(key, tampered, "aad");
    const char* region = i == 0 ? "version" : i < 13 ? "nonce" : i < tag_start ? "ciphertext" : "tag";
    ASSERT_FALSE(opened.ok()) << "byte " << i << " (" << region << ")";
    EXPECT_EQ(opened.error().code, Code::kInvalidArgument);
    EXPECT_EQ(opened.error().detail, "decryption failed");
  }
}

// Truncated or empty blobs are refused, not read out of bounds.
TEST(SealTest, RefusesTruncatedBlobs) {
  Key256 key = RandomKey();
  std::string sealed = Seal(key, "hello", "");
  for (size_t n = 0; n < sealed.size(); ++n) EXPECT_FALSE(Open(key, sealed.substr(0, n), "").ok()) << n;
}

// A blob moved to another row (different AAD) does not open.
TEST(SealTest, WrongAadFails) {
  Key256 key = RandomKey();
  std::string sealed = Seal(key, "secret", "tenant-1:users:42");
  EXPECT_FALSE(Open(key, sealed, "tenant-1:users:43").ok());
  EXPECT_FALSE(Open(key, sealed, "").ok());
}

// Another tenant's key does not open the blob.
TEST(SealTest, WrongKeyFails) {
  std::string sealed = Seal(KeyOf('a'), "secret", "aad");
  EXPECT_FALSE(Open(KeyOf('b'), sealed, "aad").ok());
}

// Each Seal draws a fresh nonce, so equal plaintexts give different blobs.
TEST(SealTest, SamePlaintextSealsDifferently) {
  Key256 key = RandomKey();
  std::string a = Seal(key, "same", "aad");
  std::string b = Seal(key, "same", "aad");
  EXPECT_NE(a, b);
  EXPECT_NE(a.substr(1, 12), b.substr(1, 12));
}

// A Sealer keeps its key across messages and draws nonces in blocks: every
// message opens with Open under the key and its own AAD only, and no two of
// them (past several blocks of nonces) share a nonce.
TEST(SealerTest, ManyMessagesEachOpenWithItsOwnNonce) {
  Key256 key = RandomKey();
  Sealer sealer(key);
  std::set<std::string> nonces;
  const size_t messages = 3 * Sealer::kNoncesPerDraw + 5;
  for (size_t i = 0; i < messages; ++i) {
    const std::string plain = "message " + std::to_string(i) + std::string(i % 40, 'x');
    const std::string aad = "aad:" + std::to_string(i);
    const std::string sealed = sealer.Seal(plain, aad);
    auto opened = Open(key, sealed, aad);
    ASSERT_TRUE(opened.ok()) << i;
    EXPECT_EQ(*opened, plain);
    EXPECT_FALSE(Open(key, sealed, aad + "x").ok()) << i;
    nonces.insert(sealed.substr(1, 12));
  }
  EXPECT_EQ(nonces.size(), messages);
  // Another key's sealer does not open them, nor they its messages.
  Sealer other(RandomKey());
  EXPECT_FALSE(Open(key, other.Seal("m", "a"), "a").ok());
}

// --- Key wrapping and master key ----------------------------------------------

// A data key wrapped for a tenant unwraps to the same key for that tenant.
TEST(MasterKeyTest, WrapUnwrapRoundTrips) {
  MasterKey master = MasterKey::FromBytesForTest(RandomKey());
  Key256 dek = RandomKey();
  std::string wrapped = master.WrapDataKey(dek, "tenant-7");
  EXPECT_EQ(wrapped.size(), 1 + 12 + 32 + 16u);
  auto unwrapped = master.UnwrapDataKey(wrapped, "tenant-7");
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.error().detail;
  EXPECT_EQ(*unwrapped, dek);
}

// A wrapped key copied to another tenant's row does not unwrap there.
TEST(MasterKeyTest, UnwrapWithWrongTenantFails) {
  MasterKey master = MasterKey::FromBytesForTest(RandomKey());
  std::string wrapped = master.WrapDataKey(RandomKey(), "tenant-7");
  EXPECT_FALSE(master.UnwrapDataKey(wrapped, "tenant-8").ok());
  EXPECT_FALSE(MasterKey::FromBytesForTest(RandomKey()).UnwrapDataKey(wrapped, "tenant-7").ok());
}

// The wrapping AAD is the documented "parley:dek:v1:" + tenant id.
TEST(MasterKeyTest, WrappedKeyIsSealWithDocumentedAad) {
  Key256 master_bytes = RandomKey();
  Key256 dek = RandomKey();
  std::string wrapped = MasterKey::FromBytesForTest(master_bytes).WrapDataKey(dek, "t1");
  auto opened = Open(master_bytes, wrapped, "parley:dek:v1:t1");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, KeyBytes(dek));
}

class MasterKeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv("PARLEY_MASTER_KEY"); }
  void TearDown() override { ::unsetenv("PARLEY_MASTER_KEY"); }
  TempDir dir_;
};

// Generate writes base64(32 bytes) + newline with mode 0600; Load reads back
// the same key.
TEST_F(MasterKeyFileTest, GenerateThenLoadGivesSameKey) {
  auto file = dir_ / "master.key";
  auto generated = MasterKey::Generate(file);
  ASSERT_TRUE(generated.ok()) << generated.error().detail;
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto text = ReadFile(file);
  ASSERT_TRUE(text.ok());
  ASSERT_EQ(text->size(), 45u);
  EXPECT_EQ(text->back(), '\n');
  EXPECT_EQ(Base64Decode(text->substr(0, 44))->size(), 32u);

  auto loaded = MasterKey::Load(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().detail;
  Key256 dek = RandomKey();
  auto unwrapped = loaded->UnwrapDataKey(generated->WrapDataKey(dek, "t"), "t");
  ASSERT_TRUE(unwrapped.ok());
  EXPECT_EQ(*unwrapped, dek);
}

// A key file readable by group/others is refused with the chmod hint.
TEST_F(MasterKeyFileTest, LoadRefusesGroupReadableFile) {
  auto file = dir_ / "master.key";
  ASSERT_TRUE(MasterKey::Generate(file).ok());
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  auto loaded = MasterKey::Load(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, Code::kPermissionDenied);
}

// Generate never overwrites an existing key (that would shred every tenant).
TEST_F(MasterKeyFileTest, GenerateRefusesToOverwrite) {
  auto file = dir_ / "master.key";
  ASSERT_TRUE(MasterKey::Generate(file).ok());
  std::string before = *ReadFile(file);
  auto again = MasterKey::Generate(file);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
  EXPECT_EQ(*ReadFile(file), before);
}

// A private file holding the wrong number of bytes (or no base64) is refused.
TEST_F(MasterKeyFileTest, LoadRefusesWrongSize) {
  auto file = dir_ / "short.key";
  ASSERT_TRUE(WriteFileAtomic(file, Base64Encode(RandomBytes(16)) + "\n", 0600).ok());
  EXPECT_EQ(MasterKey::Load(file).error().code, Code::kInvalidArgument);
  ASSERT_TRUE(WriteFileAtomic(file, "not base64!\n", 0600).ok());
  EXPECT_FALSE(MasterKey::Load(file).ok());
}

// During a rotation the file holds several keys, active first: new keys are
// wrapped with the first, every key unwraps; dropping leaves the active one.
TEST_F(MasterKeyFileTest, SeveralKeysActiveFirstThenDropped) {
  auto file = dir_ / "master.key";
  auto first = MasterKey::Generate(file);
  ASSERT_TRUE(first.ok());
  const std::string old_wrapped = first->WrapDataKey(KeyOf('d'), "t");
  auto both = MasterKey::AddActiveKey(file);
  ASSERT_TRUE(both.ok()) << both.error().detail;
  ASSERT_EQ(both->key_count(), 2u);
  EXPECT_EQ(both->KeyIds()[1], first->KeyIds()[0]);
  EXPECT_NE(both->KeyIds()[0], first->KeyIds()[0]);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = MasterKey::Load(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().detail;
  EXPECT_EQ(loaded->KeyIds(), both->KeyIds());
  EXPECT_EQ(*loaded->UnwrapDataKey(old_wrapped, "t"), KeyOf('d'));
  EXPECT_EQ(*loaded->WrappingKeyIndex(old_wrapped, "t"), 1u);
  const std::string new_wrapped = loaded->WrapDataKey(KeyOf('e'), "t");
  EXPECT_EQ(*loaded->WrappingKeyIndex(new_wrapped, "t"), 0u);
  EXPECT_FALSE(first->UnwrapDataKey(new_wrapped, "t").ok());

  ASSERT_TRUE(loaded->DropPreviousKeys(file).ok());
  auto after = MasterKey::Load(file);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->KeyIds(), std::vector<std::string>{both->KeyIds()[0]});
  EXPECT_FALSE(after->UnwrapDataKey(old_wrapped, "t").ok());
  EXPECT_EQ(*after->UnwrapDataKey(new_wrapped, "t"), KeyOf('e'));
  // Platform keys: own AAD, so a data key blob is not a platform key blob.
  const std::string platform = after->WrapPlatformKey(KeyOf('p'), "blind-index");
  EXPECT_EQ(*after->UnwrapPlatformKey(platform, "blind-index"), KeyOf('p'));
  EXPECT_FALSE(after->UnwrapPlatformKey(platform, "other").ok());
  EXPECT_FALSE(after->UnwrapPlatformKey(new_wrapped, "t").ok());
}

// A file with no key, or one bad line among good ones, is refused naming the line.
TEST_F(MasterKeyFileTest, LoadRefusesEmptyFileAndBadLine) {
  auto file = dir_ / "master.key";
  ASSERT_TRUE(WriteFileAtomic(file, "\n\n", 0600).ok());
  EXPECT_EQ(MasterKey::Load(file).error().code, Code::kInvalidArgument);
  ASSERT_TRUE(WriteFileAtomic(file, Base64Encode(KeyBytes(KeyOf('a'))) + "\nnot base64\n", 0600).ok());
  auto loaded = MasterKey::Load(file);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().detail.find("key 2"), std::string::npos) << loaded.error().detail;
}

// PARLEY_MASTER_KEY may list several keys, comma-separated; rotation then
// refuses to write the file (the keys live elsewhere).
TEST_F(MasterKeyFileTest, EnvironmentListsSeveralKeysAndRotationRefuses) {
  const std::string env = Base64Encode(KeyBytes(KeyOf('a'))) + "," + Base64Encode(KeyBytes(KeyOf('b')));
  ASSERT_EQ(::setenv("PARLEY_MASTER_KEY", env.c_str(), 1), 0);
  auto loaded = MasterKey::Load(dir_ / "absent.key");
  ASSERT_TRUE(loaded.ok()) << loaded.error().detail;
  EXPECT_EQ(loaded->key_count(), 2u);
  const std::string wrapped_by_b = MasterKey::FromBytesForTest(KeyOf('b')).WrapDataKey(KeyOf('d'), "t");
  EXPECT_EQ(*loaded->UnwrapDataKey(wrapped_by_b, "t"), KeyOf('d'));
  EXPECT_EQ(MasterKey::AddActiveKey(dir_ / "absent.key").error().code, Code::kFailedPrecondition);
}

// A missing key file is an error, not a fresh key.
TEST_F(MasterKeyFileTest, LoadRefusesMissingFile) { EXPECT_FALSE(MasterKey::Load(dir_ / "absent.key").ok()); }

// PARLEY_MASTER_KEY wins over the file (which need not even exist).
TEST_F(MasterKeyFileTest, EnvironmentOverridesFile) {
  auto file = dir_ / "master.key";
  ASSERT_TRUE(MasterKey::Generate(file).ok());
  Key256 env_key = RandomKey();
  ASSERT_EQ(::setenv("PARLEY_MASTER_KEY", Base64Encode(KeyBytes(env_key)).c_str(), 1), 0);
  for (const auto& path : {file, dir_ / "absent.key"}) {
    auto loaded = MasterKey::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.error().detail;
    Key256 dek = RandomKey();
    auto unwrapped = loaded->UnwrapDataKey(MasterKey::FromBytesForTest(env_key).WrapDataKey(dek, "t"), "t");
    ASSERT_TRUE(unwrapped.ok());
    EXPECT_EQ(*unwrapped, dek);
  }
}

// A malformed PARLEY_MASTER_KEY is refused and its value is not echoed.
TEST_F(MasterKeyFileTest, MalformedEnvironmentKeyIsRefusedWithoutEcho) {
  const std::string bad = Base64Encode("sixteen byte key");
  ASSERT_EQ(::setenv("PARLEY_MASTER_KEY", bad.c_str(), 1), 0);
  auto loaded = MasterKey::Load(dir_ / "absent.key");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().detail.find(bad), std::string::npos);
  EXPECT_NE(loaded.error().detail.find("PARLEY_MASTER_KEY"), std::string::npos);
}

// --- Blind index ----------------------------------------------------------------

// Same key and value give the same 64-hex index; another key or value does not.
TEST(BlindIndexTest, DeterministicAndKeyDependent) {
  Key256 k1 = KeyOf('1');
  Key256 k2 = KeyOf('2');
  std::string a = BlindIndex(k1, "alice@example.com");
  EXPECT_EQ(a, BlindIndex(k1, "alice@example.com"));
  EXPECT_TRUE(std::regex_match(a, std::regex("[0-9a-f]{64}")));
  EXPECT_NE(a, BlindIndex(k2, "alice@example.com"));
  EXPECT_NE(a, BlindIndex(k1, "bob@example.com"));
  EXPECT_EQ(a, ToHex(HmacSha256(k1, "alice@example.com")));
}

// HMAC-SHA-256 matches an independent computation (the openssl CLI:
// printf 'Hi There' | openssl dgst -sha256 -mac HMAC -macopt hexkey:0b...0b).
TEST(BlindIndexTest, HmacMatchesKnownVector) {
  EXPECT_EQ(ToHex(HmacSha256(KeyOf('\x0b'), "Hi There")),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7");
}

// A keyed HMAC gives what the one-shot function gives, for every message it
// is used for (each starts from the key, not from the message before), from
// several threads at once, and under the known-answer key above.
TEST(HmacSha256KeyTest, SameMacsAsOneShotForManyMessagesAndThreads) {
  const HmacSha256Key keyed(KeyOf('1'));
  const std::vector<std::string> messages{"", "a", "alice@example.com", std::string(200, 'x'), "phone:1001"};
  for (int round = 0; round < 3; ++round)
    for (const std::string& m : messages) EXPECT_EQ(keyed.Mac(m), HmacSha256(KeyOf('1'), m)) << m;
  EXPECT_NE(keyed.Mac("a"), HmacSha256(KeyOf('2'), "a"));
  EXPECT_EQ(BlindIndex(keyed, "bob@example.com"), BlindIndex(KeyOf('1'), "bob@example.com"));
  EXPECT_EQ(ToHex(HmacSha256Key(KeyOf('\x0b')).Mac("Hi There")),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7");

  std::atomic<int> wrong = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string m = "m" + std::to_string(t * 1000 + i);
        if (keyed.Mac(m) != HmacSha256(KeyOf('1'), m)) ++wrong;
      }
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

// The index key is derived deterministically from the master key and is
// neither the master key nor shared between master keys.
TEST(BlindIndexTest, DerivedIndexKeyIsStableAndMasterSpecific) {
  Key256 m1 = KeyOf('m');
  Key256 k = MasterKey::FromBytesForTest(m1).DeriveIndexKey();
  EXPECT_EQ(k, MasterKey::FromBytesForTest(m1).DeriveIndexKey());
  EXPECT_NE(k, m1);
  EXPECT_NE(k, MasterKey::FromBytesForTest(KeyOf('n')).DeriveIndexKey());
}

// --- Passwords ------------------------------------------------------------------

// Argon2id at the interactive cost by default; the right password verifies,
// a wrong one does not; salts make two hashes differ. Then the test-only
// minimal cost still produces verifiable argon2id hashes.
TEST(PasswordTest, HashVerifiesGoodAndRejectsBad) {
  std::string hash = HashPassword("correct horse battery staple");
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_NE(hash.find("m=65536,t=2"), std::string::npos) << hash;
  EXPECT_TRUE(VerifyPassword("correct horse battery staple", hash));
  EXPECT_FALSE(VerifyPassword("correct horse battery stapler", hash));
  EXPECT_FALSE(VerifyPassword("", hash));
  EXPECT_NE(hash, HashPassword("correct horse battery staple"));

  UseMinimalPasswordHashCostForTests();
  std::string fast = HashPassword("pw");
  EXPECT_EQ(fast.rfind("$argon2id$", 0), 0u) << fast;
  EXPECT_TRUE(VerifyPassword("pw", fast));
  EXPECT_FALSE(VerifyPassword("pW", fast));
}

// Anything that is not one of our argon2id strings never verifies.
TEST(PasswordTest, ForeignOrMalformedHashesNeverVerify) {
  EXPECT_FALSE(VerifyPassword("pw", ""));
  EXPECT_FALSE(VerifyPassword("pw", "pw"));
  EXPECT_FALSE(VerifyPassword("pw", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"));
  EXPECT_FALSE(VerifyPassword("pw", "$argon2id$" + std::string(500, 'a')));
}

// --- Random values and encodings --------------------------------------------------

// Tokens are 43 base64url characters (256 bits) and do not repeat.
TEST(RandomTest, TokensAreLongUrlSafeAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string token = RandomToken();
    ASSERT_EQ(token.size(), 43u);
    ASSERT_TRUE(std::regex_match(token, std::regex("[A-Za-z0-9_-]{43}"))) << token;
    ASSERT_TRUE(seen.insert(token).second);
  }
}

// UUIDs have the v4 layout and do not repeat.
TEST(RandomTest, UuidsAreVersion4) {
  std::string a = RandomUuid();
  EXPECT_TRUE(std::regex_match(a, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << a;
  EXPECT_NE(a, RandomUuid());
  EXPECT_EQ(RandomBytes(100).size(), 100u);
  EXPECT_NE(RandomKey(), RandomKey());
}

// Standard base64 round-trips every length and matches RFC 4648 vectors.
TEST(Base64Test, RoundTripsAndMatchesRfcVectors) {
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes = RandomBytes(n);
    auto decoded = Base64Decode(Base64Encode(bytes));
    ASSERT_TRUE(decoded.ok()) << n;
    EXPECT_EQ(*decoded, bytes);
  }
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*Base64Decode("Zm8="), "fo");
}

// Malformed base64 is refused instead of being decoded leniently.
TEST(Base64Test, RefusesMalformedInput) {
  for (const char* bad : {"Zm9", "Zm9v!", "=Zm8", "Zm=8", "Z===", " Zm8=", "Zm8=\n", "Zm9v-_8="})
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
}

// base64url swaps +/ for -_ and drops the padding.
TEST(Base64Test, UrlVariantIsUnpadded) {
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

// Digests and comparisons behave as documented.
TEST(DigestTest, Sha256AndConstantTimeEquals) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256("abc").size(), 32u);
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace parley::crypto
