// ContentDigest / VerifyContentDigest (RFC 9530) and IsUuid.
#include <gtest/gtest.h>

#include <string>

#include "wire/wire.h"

namespace parley::wire {
namespace {

// sha-256("hello") and sha-256(""), from `openssl dgst -sha256 -binary | base64`.
constexpr std::string_view kHelloB64 = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=";
constexpr std::string_view kEmptyB64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

std::string Detail(const Status& s) { return s.ok() ? std::string("ok") : s.error().detail; }

// ContentDigest matches the known SHA-256 of a body.
TEST(WireDigest, ContentDigestKnownValues) {
  EXPECT_EQ(ContentDigest("hello"), "sha-256=:" + std::string(kHelloB64) + ":");
  EXPECT_EQ(ContentDigest(""), "sha-256=:" + std::string(kEmptyB64) + ":");
}

// A correct header verifies, in the canonical and in looser spellings.
TEST(WireDigest, CorrectDigestVerifies) {
  EXPECT_TRUE(VerifyContentDigest(ContentDigest("hello"), "hello").ok());
  EXPECT_TRUE(VerifyContentDigest("  SHA-256 = :" + std::string(kHelloB64) + ":  ", "hello").ok());
  EXPECT_TRUE(VerifyContentDigest("sha-256=:" + std::string(kHelloB64) + ":;p=1", "hello").ok());
  std::string body = "{\"type\":\"cursor\"}\n";
  EXPECT_TRUE(VerifyContentDigest(ContentDigest(body), body).ok());
}

// A digest of other bytes is refused as a mismatch.
TEST(WireDigest, IncorrectDigestRefused) {
  Status s = VerifyContentDigest(ContentDigest("hello"), "hellO");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  EXPECT_EQ(s.error().detail, "Content-Digest does not match the body");
}

// A header without a sha-256 member is refused.
TEST(WireDigest, MissingSha256Refused) {
  for (std::string_view header : {"", "   ", "sha-512=:AAAA:", "sha256=:" "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:",
                                  "garbage", ","}) {
    Status s = VerifyContentDigest(header, "hello");
    ASSERT_FALSE(s.ok()) << header;
    EXPECT_EQ(s.error().code, Code::kInvalidArgument);
    EXPECT_EQ(s.error().detail, "Content-Digest has no sha-256 member") << header;
  }
}

// A sha-256 member that is not a 32-byte base64 byte sequence is refused.
TEST(WireDigest, MalformedSha256Refused) {
  for (std::string_view header : {"sha-256=LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=", "sha-256=:AAAA:",
                                  "sha-256=:!!!!:", "sha-256=:", "sha-256=::",
                                  "sha-256=:LPJNul+wow4m6Dsqx ninhsWHlwfp0JecwQzYpOLmCQ=:"}) {
    EXPECT_EQ(Detail(VerifyContentDigest(header, "hello")), "Content-Digest sha-256 member is malformed") << header;
  }
}

// Several algorithms are fine as long as sha-256 is present and every sha-256 member matches.
TEST(WireDigest, MultipleAlgorithms) {
  std::string good = "sha-256=:" + std::string(kHelloB64) + ":";
  std::string bad = "sha-256=:" + std::string(kEmptyB64) + ":";
  EXPECT_TRUE(VerifyContentDigest("sha-512=:AAAA:, " + good, "hello").ok());
  EXPECT_TRUE(VerifyContentDigest(good + ",unixsum=:AAAA:,md5", "hello").ok());
  EXPECT_EQ(Detail(VerifyContentDigest("sha-512=:AAAA:, " + bad, "hello")), "Content-Digest does not match the body");
  EXPECT_EQ(Detail(VerifyContentDigest(good + ", " + bad, "hello")), "Content-Digest does not match the body");
}

// IsUuid accepts 8-4-4-4-12 hex in either case and nothing else.
TEST(WireUuid, IsUuidCases) {
  EXPECT_TRUE(IsUuid("123e4567-e89b-12d3-a456-426614174000"));
  EXPECT_TRUE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_TRUE(IsUuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("123e4567e89b12d3a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-4266141740000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456_426614174000"));
  EXPECT_FALSE(IsUuid("g23e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("{123e4567-e89b-12d3-a456-426614174000}"));
  EXPECT_FALSE(IsUuid(" 123e4567-e89b-12d3-a456-42661417400"));
}

// CallStatusName gives the wire spelling.
TEST(WireStatus, CallStatusNames) {
  EXPECT_EQ(CallStatusName(CallStatus::kCompleted), "completed");
  EXPECT_EQ(CallStatusName(CallStatus::kFailed), "failed");
}

}  // namespace
}  // namespace parley::wire
