// Password rules per NIST SP 800-63B §5.1.1.2 (docs/accounts.md, "Password
// rules"): applied wherever a password is chosen — `parley user create`,
// self-registration and password reset. No composition rules (no "one digit,
// one capital"): length, a blocklist and context words only.
//
//   * Unicode is allowed; a password is normalized to NFKC (ICU) before it is
//     checked, hashed or verified, so the same password typed on different
//     keyboards or input methods matches.
//   * 12 to 128 characters (Unicode code points, after NFKC); no control
//     characters.
//   * Refused: entries of data/common-passwords.txt (common passwords and
//     dictionary words, embedded at build time), also with digits or symbols
//     added before/after or with l33t substitutions ("P@ssw0rd2024!");
//     repetitive or sequential strings ("aaaa…", "1234…", "qwerty…"); the
//     service name "parley"; the e-mail address's name part and domain.
//
// Error details say which rule failed and never echo the password.
// Thread-safe: the list is parsed once, on first use.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley::portal {

inline constexpr size_t kPasswordMinLength = 12;   // code points
inline constexpr size_t kPasswordMaxLength = 128;  // code points

// NFKC of a UTF-8 password; kInvalidArgument when it is not valid UTF-8.
Result<std::string> NormalizePassword(std::string_view utf8);

// Checks a newly chosen password (as typed: it is normalized here) for the
// account `email`. kInvalidArgument with a sentence naming the failed rule.
Status CheckNewPassword(std::string_view password, std::string_view email);

// True when `lowercase` is an entry of the embedded list.
bool IsCommonPassword(std::string_view lowercase);
// Entries in the embedded list (for tests and the docs).
size_t CommonPasswordCount();

}  // namespace parley::portal
