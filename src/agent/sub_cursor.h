// SubCursors: several sub-resource cursors in the one cursor string a source
// has on the server (the dma and rprm collectors read several resources of
// one device, each with its own resume point).
//
// Encoding: a compact JSON object of strings, keys sorted, e.g.
//   {"cdr":"1796371200123 c-9","devices":"done 1796371200"}
// A cursor that does not start with '{' is a legacy single cursor (the dma
// source's call-history token before sub-cursors existed) and decodes as
// {legacy_key: cursor}; "" decodes as no sub-cursors (from the beginning).
// The server caps a cursor at 1024 bytes: Encode refuses a longer result.
//
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

namespace parley::agent {

inline constexpr size_t kMaxCursorBytes = 1024;

using SubCursors = std::map<std::string, std::string, std::less<>>;

// kInvalidArgument when the cursor starts with '{' but is not a JSON object
// whose values are all strings.
Result<SubCursors> DecodeSubCursors(std::string_view cursor, std::string_view legacy_key);

// kFailedPrecondition when the encoding exceeds kMaxCursorBytes or a value is
// not UTF-8 (it would not read back). An empty map
// encodes as "" (from the beginning).
Result<std::string> EncodeSubCursors(const SubCursors& cursors);

}  // namespace parley::agent
