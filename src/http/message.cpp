// Request/Response helpers and the one Error -> HTTP mapping.
#include <boost/json.hpp>
#include <boost/url.hpp>

#include "http/http.h"

namespace parley::http {

namespace {
std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}
}  // namespace

std::string Request::Header(std::string_view name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::optional<std::string> Request::Query(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Request::Cookie(std::string_view name) const {
  std::string_view all = headers.count("cookie") ? std::string_view(headers.at("cookie")) : std::string_view();
  while (!all.empty()) {
    auto semi = all.find(';');
    std::string_view part = all.substr(0, semi);
    all = semi == std::string_view::npos ? std::string_view() : all.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) continue;
    if (part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
  }
  return std::nullopt;
}

void Response::SetHeader(std::string name, std::string value) {
  for (auto& [k, v] : headers)
    if (IEquals(k, name)) {
      v = std::move(value);
      return;
    }
  headers.emplace_back(std::move(name), std::move(value));
}

std::string Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (IEquals(k, name)) return v;
  return {};
}

Response Response::Json(int status, std::string json_body) {
  Response r;
  r.status = status;
  r.body = std::move(json_body);
  r.SetHeader("Content-Type", "application/json");
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

Response Response::Text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.SetHeader("Content-Type", std::move(content_type));
  return r;
}

int StatusFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kResourceExhausted: return 429;
    case Code::kPayloadTooLarge: return 413;
    case Code::kUnsupportedMediaType: return 415;
    case Code::kFailedPrecondition: return 409;
    case Code::kAborted: return 409;
    case Code::kUnavailable: return 503;
    case Code::kConfig: return 500;
    case Code::kInternal: return 500;
  }
  return 500;
}

Response Response::FromError(const Error& error) {
  boost::json::object body;
  body["error"] = std::string(CodeName(error.code));
  body["detail"] = error.detail;
  return Json(StatusFor(error.code), boost::json::serialize(body));
}

Status ParseTarget(std::string_view target, std::string& path, std::map<std::string, std::string>& query) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return InvalidArgument("malformed request target");
  path = parsed->path();
  query.clear();
  for (auto param : parsed->params()) query[std::string(param.key)] = std::string(param.value);
  return Ok();
}

}  // namespace parley::http
