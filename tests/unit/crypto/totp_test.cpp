#include "crypto/totp.h"

#include <gtest/gtest.h>

namespace parley::crypto {
namespace {

// RFC 6238 Appendix B, the SHA-1 rows: secret "12345678901234567890",
// 8-digit codes, T0 = 0, X = 30 s.
TEST(Totp, Rfc6238AppendixBSha1Vectors) {
  const std::string secret = "12345678901234567890";
  const std::pair<int64_t, const char*> vectors[] = {
      {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
      {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
  };
  for (const auto& [time, code] : vectors) {
    EXPECT_EQ(TotpCode(secret, TotpStep(time), 8), code) << "T = " << time;
    // The 6-digit code authenticator apps show is the same value mod 10^6.
    EXPECT_EQ(TotpCode(secret, TotpStep(time)), std::string(code).substr(2)) << "T = " << time;
  }
  EXPECT_EQ(TotpStep(59), 1);
  EXPECT_EQ(TotpStep(1111111109), 0x23523EC);
  EXPECT_EQ(TotpStep(20000000000), 0x27BC86AA);
}

// RFC 4226 Appendix D: HOTP values for counters 0..9 (6 digits).
TEST(Totp, Rfc4226AppendixDHotpVectors) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(TotpCode("12345678901234567890", i), expected[i]) << i;
}

// RFC 4648 §10 test vectors (without padding, as otpauth:// URIs carry them).
TEST(Totp, Base32) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},          {"f", "MY"},          {"fo", "MZXQ"},          {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base32Encode(plain), encoded);
    EXPECT_EQ(Base32Decode(encoded), plain);
  }
  EXPECT_EQ(Base32Decode("mzxw 6ytb oi======"), "foobar");  // case, spaces and padding
  EXPECT_FALSE(Base32Decode("MZXW1").has_value());          // 1 is not in the alphabet
  std::string secret = NewTotpSecret();
  EXPECT_EQ(secret.size(), kTotpSecretBytes);
  EXPECT_EQ(Base32Encode(secret).size(), 32u);
  EXPECT_EQ(Base32Decode(Base32Encode(secret)), secret);
  EXPECT_NE(NewTotpSecret(), secret);
}

// Codes of the previous, current and next step are accepted (phone clock
// drift); two steps away are not; the matching step is returned.
TEST(Totp, MatchAcceptsOneStepEitherSide) {
  const std::string secret = "12345678901234567890";
  const int64_t now = 1'800'000'015;
  const int64_t step = TotpStep(now);
  for (int64_t d : {-1, 0, 1}) EXPECT_EQ(MatchTotp(secret, TotpCode(secret, step + d), now), step + d) << d;
  for (int64_t d : {-2, 2}) EXPECT_FALSE(MatchTotp(secret, TotpCode(secret, step + d), now).has_value()) << d;
  EXPECT_FALSE(MatchTotp(secret, "12345", now).has_value());
  EXPECT_FALSE(MatchTotp(secret, "1234567", now).has_value());
  EXPECT_FALSE(MatchTotp(secret, "abcdef", now).has_value());
  EXPECT_FALSE(MatchTotp("another secret......", TotpCode(secret, step), now).has_value());
}

// The Key Uri Format authenticator apps scan.
TEST(Totp, OtpauthUri) {
  EXPECT_EQ(TotpUri("Parley", "ann.lee+ops@example.com", "foobar"),
            "otpauth://totp/Parley:ann.lee%2Bops%40example.com?secret=MZXW6YTBOI&issuer=Parley&algorithm=SHA1"
            "&digits=6&period=30");
  EXPECT_EQ(TotpUri("Parley Demo", "a b", "f"),
            "otpauth://totp/Parley%20Demo:a%20b?secret=MY&issuer=Parley%20Demo&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace parley::crypto
