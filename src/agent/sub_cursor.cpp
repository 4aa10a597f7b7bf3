#include "agent/sub_cursor.h"

#include <boost/json.hpp>

namespace parley::agent {

namespace json = boost::json;

Result<SubCursors> DecodeSubCursors(std::string_view cursor, std::string_view legacy_key) {
  SubCursors out;
  if (cursor.empty()) return out;
  if (cursor.front() != '{') {
    out.emplace(std::string(legacy_key), std::string(cursor));
    return out;
  }
  json::error_code ec;
  json::value root = json::parse(json::string_view(cursor.data(), cursor.size()), ec);
  if (ec || !root.is_object()) return InvalidArgument("cursor is not a JSON object of sub-cursors");
  for (const auto& [key, value] : root.get_object()) {
    if (!value.is_string()) return InvalidArgument("cursor: sub-cursor values must be strings");
    out.emplace(std::string(key.data(), key.size()), std::string(value.get_string().data(), value.get_string().size()));
  }
  return out;
}

Result<std::string> EncodeSubCursors(const SubCursors& cursors) {
  if (cursors.empty()) return std::string();
  json::object o;
  for (const auto& [key, value] : cursors) o[key] = value;  // std::map: keys sorted
  std::string out = json::serialize(o);
  // A value that is not UTF-8 would not read back (nor pass the server).
  json::error_code ec;
  (void)json::parse(out, ec);
  if (ec) return FailedPrecondition("a sub-cursor is not valid UTF-8");
  if (out.size() > kMaxCursorBytes)
    return FailedPrecondition("cursor of " + std::to_string(out.size()) + " bytes exceeds the server's limit");
  return out;
}

}  // namespace parley::agent
