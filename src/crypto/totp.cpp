#include "crypto/totp.h"

#include <openssl/evp.h>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cstdlib>

#include "crypto/crypto.h"

namespace parley::crypto {

namespace {

constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string Hmac1(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, key.data(), key.size(),
                reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof out, &len) == nullptr ||
      len != 20)
    std::abort();  // an OpenSSL without SHA-1 HMAC cannot run Parley at all
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Encode(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

}  // namespace

std::string NewTotpSecret() { return RandomBytes(kTotpSecretBytes); }

std::string Base32Encode(std::string_view bytes) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::optional<std::string> Base32Decode(std::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == ' ' || c == '=') continue;
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a';
    else if (c >= '2' && c <= '7') v = c - '2' + 26;
    else return std::nullopt;
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

int64_t TotpStep(int64_t unix_seconds) {
  // Floor division: times before 1970 do not occur, but stay well defined.
  return unix_seconds >= 0 ? unix_seconds / kTotpStepSeconds : -((-unix_seconds + kTotpStepSeconds - 1) / kTotpStepSeconds);
}

std::string TotpCode(std::string_view secret, int64_t step, int digits) {
  // RFC 4226 §5.3: HMAC over the 8-byte big-endian counter, then dynamic truncation.
  char counter[8];
  uint64_t c = static_cast<uint64_t>(step);
  for (int i = 7; i >= 0; --i, c >>= 8) counter[i] = static_cast<char>(c & 0xff);
  std::string mac = Hmac1(secret, std::string_view(counter, sizeof counter));
  size_t offset = static_cast<unsigned char>(mac[19]) & 0x0f;
  uint32_t binary = (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset]) & 0x7f) << 24) |
                    (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 1])) << 16) |
                    (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 2])) << 8) |
                    static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 3]));
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  std::string code = std::to_string(binary % modulus);
  return std::string(static_cast<size_t>(digits) - code.size(), '0') + code;
}

std::optional<int64_t> MatchTotp(std::string_view secret, std::string_view code, int64_t unix_seconds, int window) {
  if (code.size() != static_cast<size_t>(kTotpDigits)) return std::nullopt;
  const int64_t now = TotpStep(unix_seconds);
  std::optional<int64_t> match;
  // Every candidate is computed and compared, so the time taken does not
  // tell which step (if any) matched.
  for (int64_t step = now - window; step <= now + window; ++step) {
    if (ConstantTimeEquals(TotpCode(secret, step), code) && !match) match = step;
  }
  return match;
}

std::string TotpUri(std::string_view issuer, std::string_view account, std::string_view secret) {
  return "otpauth://totp/" + Encode(issuer) + ":" + Encode(account) + "?secret=" + Base32Encode(secret) +
         "&issuer=" + Encode(issuer) + "&algorithm=SHA1&digits=" + std::to_string(kTotpDigits) +
         "&period=" + std::to_string(kTotpStepSeconds);
}

}  // namespace parley::crypto
