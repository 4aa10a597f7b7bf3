// Time-based one-time passwords (RFC 6238 TOTP over RFC 4226 HOTP), as
// authenticator apps (Google Authenticator, Microsoft Authenticator, FreeOTP,
// 1Password, ...) compute them: HMAC-SHA-1, 6 digits, 30-second steps,
// counted from the Unix epoch. The HMAC is OpenSSL's; this file only does the
// dynamic truncation and the base32 the otpauth:// URI format needs (no
// library on the machine provides RFC 4648 base32).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::crypto {

inline constexpr int64_t kTotpStepSeconds = 30;
inline constexpr int kTotpDigits = 6;
// Secrets are 160 bits, the size RFC 4226 §4 recommends for HMAC-SHA-1.
inline constexpr size_t kTotpSecretBytes = 20;

// A fresh random secret (raw bytes).
std::string NewTotpSecret();

// RFC 4648 base32, upper case, without "=" padding (as otpauth:// URIs carry it).
std::string Base32Encode(std::string_view bytes);
// Accepts upper or lower case, ignores spaces and "=" padding; nullopt for
// any other character.
std::optional<std::string> Base32Decode(std::string_view text);

// The step number holding Unix time `unix_seconds` (floor(t / 30)).
int64_t TotpStep(int64_t unix_seconds);
// The `digits`-digit code of `secret` for `step` (HOTP with counter = step,
// HMAC-SHA-1), zero-padded. REQUIRES: 1 <= digits <= 9.
std::string TotpCode(std::string_view secret, int64_t step, int digits = kTotpDigits);

// Checks `code` against the steps now-window .. now+window (clock drift
// between the phone and the server) and returns the matching step, or
// nullopt. Compares in constant time. Replay protection (a step used once)
// is the caller's: it must remember the last accepted step.
std::optional<int64_t> MatchTotp(std::string_view secret, std::string_view code, int64_t unix_seconds,
                                 int window = 1);

// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
// (the Key Uri Format authenticator apps read from a QR code). Label and
// parameters are percent-encoded.
std::string TotpUri(std::string_view issuer, std::string_view account, std::string_view secret);

}  // namespace parley::crypto
