// The built front end (web/dist), loaded into memory once at start so a
// request never touches the file system with a user-supplied path. Paths
// with an extension that do not exist get 404; anything else gets index.html
// (client-side routing). Hashed assets (/assets/*) are cached for a year,
// index.html never.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "http/http.h"

namespace parley::portal {

class StaticFiles {
 public:
  static StaticFiles Load(const std::filesystem::path& root);
  http::Response Serve(const std::string& path) const;
  bool empty() const { return files_.empty(); }

 private:
  struct File {
    std::string body;
    std::string content_type;
  };
  std::map<std::string, File> files_;  // "/index.html" -> file
};

}  // namespace parley::portal
