#include "portal/password_policy.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>

#include <algorithm>
#include <array>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#ifndef PARLEY_COMMON_PASSWORDS_FILE
#error "CMake passes PARLEY_COMMON_PASSWORDS_FILE (data/common-passwords.txt)"
#endif
#ifndef PARLEY_COMMON_PASSWORDS_SHA256
#error "CMake passes PARLEY_COMMON_PASSWORDS_SHA256"
#endif

// The list is embedded in the binary, as the migrations are: a deployed
// `parley` needs no data files. The assembler's .incbin copies the file's
// bytes; the list's SHA-256 is part of this file's compile flags, so a
// changed list recompiles this file (ccache cannot see into .incbin).
asm(".pushsection .rodata,\"a\"\n"
    ".global parley_common_passwords_begin\n"
    ".hidden parley_common_passwords_begin\n"
    "parley_common_passwords_begin:\n"
    ".incbin \"" PARLEY_COMMON_PASSWORDS_FILE "\"\n"
    ".global parley_common_passwords_end\n"
    ".hidden parley_common_passwords_end\n"
    "parley_common_passwords_end:\n"
    ".popsection\n");
extern "C" const char parley_common_passwords_begin[];
extern "C" const char parley_common_passwords_end[];

namespace parley::portal {
namespace {

[[maybe_unused]] constexpr std::string_view kListSha256 = PARLEY_COMMON_PASSWORDS_SHA256;

const std::unordered_set<std::string_view>& CommonPasswords() {
  static const std::unordered_set<std::string_view> set = [] {
    std::unordered_set<std::string_view> s;
    std::string_view all(parley_common_passwords_begin,
                         static_cast<size_t>(parley_common_passwords_end - parley_common_passwords_begin));
    s.reserve(80000);
    while (!all.empty()) {
      size_t nl = all.find('\n');
      std::string_view line = all.substr(0, nl);
      all.remove_prefix(nl == std::string_view::npos ? all.size() : nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.front() == '#') continue;
      s.insert(line);
    }
    return s;
  }();
  return set;
}

size_t CodePoints(std::string_view utf8) {
  return static_cast<size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Case-folded (Unicode simple + full folding), so "PassWord" matches "password".
std::string Fold(std::string_view utf8) {
  std::string out;
  icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())))
      .foldCase()
      .toUTF8String(out);
  return out;
}

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (static_cast<unsigned char>(c) & 0x80); }

// The part between leading and trailing digits, symbols and spaces: the
// "word" of "2024password!!".
std::string_view Core(std::string_view s) {
  while (!s.empty() && !IsLetter(s.front())) s.remove_prefix(1);
  while (!s.empty() && !IsLetter(s.back())) s.remove_suffix(1);
  return s;
}

// Undoes the common l33t substitutions (ASCII only; the list is ASCII).
std::string Unleet(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    switch (c) {
      case '0': c = 'o'; break;
      case '1': case '!': c = 'i'; break;
      case '3': c = 'e'; break;
      case '4': case '@': c = 'a'; break;
      case '5': case '$': c = 's'; break;
      case '7': c = 't'; break;
      case '8': c = 'b'; break;
      default: break;
    }
  }
  return out;
}

// A known weak word hides in `f`: the whole of it, or its core once digits
// and symbols around it are removed, with or without l33t substitutions.
bool HasCommonCore(std::string_view f) {
  std::string unleet = Unleet(f);
  for (std::string_view v : {f, std::string_view(unleet)}) {
    if (IsCommonPassword(v)) return true;
    std::string_view core = Core(v);
    if (core.size() >= 3 && IsCommonPassword(core)) return true;
  }
  // "p@ssword2024": the digits stay digits, the letters get undone.
  std::string_view core = Core(f);
  if (core.size() >= 3 && IsCommonPassword(Unleet(core))) return true;
  return false;
}

// The whole password is a run along a sequence ("3456789012", "qwertyuiop",
// "zyxwvu…"), forwards or backwards, possibly wrapping around.
bool IsSequential(std::string_view f) {
  static const std::array<std::string_view, 8> kSequences = {
      "0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm", "qwertzuiopasdfghjklyxcvbnm",
      "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "!@#$%^&*()_+", "`1234567890-="};
  for (std::string_view seq : kSequences) {
    std::string forward;
    while (forward.size() < f.size() + 2 * seq.size()) forward += seq;
    std::string backward(forward.rbegin(), forward.rend());
    if (forward.find(f) != std::string::npos || backward.find(f) != std::string::npos) return true;
  }
  return false;
}

// Length of the shortest unit the whole string repeats ("abcabc" → 3).
size_t Period(std::string_view f) {
  for (size_t p = 1; p <= f.size() / 2; ++p) {
    if (f.size() % p) continue;
    bool repeats = true;
    for (size_t i = p; i < f.size() && repeats; ++i) repeats = f[i] == f[i - p];
    if (repeats) return p;
  }
  return f.size();
}

// Words of the e-mail address that must not appear in its password: the
// whole name part, its pieces split at . _ - +, and the domain's first label.
std::vector<std::string> ContextWords(std::string_view email) {
  std::vector<std::string> words;
  std::string e = Fold(email);
  size_t at = e.rfind('@');
  std::string local = at == std::string::npos ? e : e.substr(0, at);
  std::string domain = at == std::string::npos ? "" : e.substr(at + 1);
  if (CodePoints(local) >= 3) words.push_back(local);
  size_t start = 0;
  for (size_t i = 0; i <= local.size(); ++i) {
    if (i == local.size() || std::string_view("._-+").find(local[i]) != std::string_view::npos) {
      if (i - start >= 4) words.push_back(local.substr(start, i - start));
      start = i + 1;
    }
  }
  std::string label = domain.substr(0, domain.find('.'));
  if (label.size() >= 4) words.push_back(label);
  return words;
}

}  // namespace

Result<std::string> NormalizePassword(std::string_view utf8) {
  UErrorCode err = U_ZERO_ERROR;
  int32_t units = 0;
  // Preflight: validates the UTF-8 (fromUTF8 below would replace bad bytes silently).
  u_strFromUTF8(nullptr, 0, &units, utf8.data(), static_cast<int32_t>(utf8.size()), &err);
  if (err != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(err)) return InvalidArgument("password is not valid UTF-8");
  err = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(err);
  if (U_FAILURE(err)) return Internal("Unicode normalization (ICU NFKC) is unavailable");
  icu::UnicodeString normalized =
      nfkc->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size()))), err);
  if (U_FAILURE(err)) return InvalidArgument("password cannot be normalized");
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

bool IsCommonPassword(std::string_view lowercase) { return CommonPasswords().count(lowercase) > 0; }

size_t CommonPasswordCount() { return CommonPasswords().size(); }

Status CheckNewPassword(std::string_view password, std::string_view email) {
  PARLEY_ASSIGN_OR_RETURN(std::string normalized, NormalizePassword(password));
  const size_t length = CodePoints(normalized);
  if (length < kPasswordMinLength)
    return InvalidArgument("The password is too short: use at least " + std::to_string(kPasswordMinLength) +
                           " characters (a few unrelated words make a good one)");
  if (length > kPasswordMaxLength)
    return InvalidArgument("The password is too long: use at most " + std::to_string(kPasswordMaxLength) +
                           " characters");
  for (unsigned char c : normalized)
    if (c < 0x20 || c == 0x7F) return InvalidArgument("The password must not contain control characters");
  const std::string f = Fold(normalized);
  std::set<UChar32> distinct;
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(f.data(), static_cast<int32_t>(f.size())));
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) distinct.insert(u.char32At(i));
  if (distinct.size() < 5)
    return InvalidArgument("The password repeats too few different characters");
  if (IsSequential(f)) return InvalidArgument("The password is a keyboard or alphabet sequence");
  if (size_t p = Period(f); p < f.size() && (p < 6 || HasCommonCore(f.substr(0, p))))
    return InvalidArgument("The password repeats a short or common word");
  if (HasCommonCore(f))
    return InvalidArgument("The password is a commonly used password or a dictionary word (digits, symbols or "
                           "look-alike characters added do not help); choose something less predictable");
  if (f.find("parley") != std::string::npos || Unleet(f).find("parley") != std::string::npos)
    return InvalidArgument("The password must not contain the name of this service");
  for (const auto& word : ContextWords(email))
    if (f.find(word) != std::string::npos)
      return InvalidArgument("The password must not contain your e-mail address, its name part or your "
                             "organisation's domain");
  return Ok();
}

}  // namespace parley::portal
