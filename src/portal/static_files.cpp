#include "portal/static_files.h"

#include "common/files.h"
#include "common/log.h"

namespace parley::portal {

namespace {
std::string ContentType(const std::filesystem::path& p) {
  static const std::map<std::string, std::string> kTypes = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".ico", "image/x-icon"},
      {".json", "application/json"},         {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"}, {".map", "application/json"},
  };
  auto it = kTypes.find(p.extension().string());
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}
}  // namespace

StaticFiles StaticFiles::Load(const std::filesystem::path& root) {
  StaticFiles out;
  std::error_code ec;
  if (root.empty() || !std::filesystem::is_directory(root, ec)) {
    log::warn("portal: front end not found at {} (build it with `make web`); the API still works", root.string());
    return out;
  }
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    auto content = ReadFile(it->path());
    if (!content.ok()) continue;
    std::string rel = "/" + std::filesystem::relative(it->path(), root).generic_string();
    out.files_[rel] = File{std::move(*content), ContentType(it->path())};
  }
  log::info("portal: serving {} front-end files from {}", out.files_.size(), root.string());
  return out;
}

http::Response StaticFiles::Serve(const std::string& path) const {
  std::string key = path == "/" ? "/index.html" : path;
  auto it = files_.find(key);
  bool has_extension = std::filesystem::path(key).has_extension();
  if (it == files_.end() && !has_extension) it = files_.find("/index.html");
  if (it == files_.end()) {
    if (files_.empty())
      return http::Response::FromError(Unavailable("the portal front end is not built; run `make web`"));
    return http::Response::FromError(NotFound("no such file"));
  }
  http::Response res = http::Response::Text(200, it->second.body, it->second.content_type);
  bool immutable = key.rfind("/assets/", 0) == 0;
  res.SetHeader("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  return res;
}

}  // namespace parley::portal
