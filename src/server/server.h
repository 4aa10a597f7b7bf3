// The `parley` server's commands as library functions, so main() stays thin
// and tests can run them in-process. Each returns a process exit code:
// 0 success, 1 failure, 2 bad configuration (the message names the key).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace parley::server {

struct InitOptions {
  std::filesystem::path dir;
  bool demo = false;
  std::filesystem::path web_root;  // empty: the front end built in this source tree
};
int RunInit(const InitOptions& options);

struct ServeOptions {
  std::filesystem::path config_file;
  std::filesystem::path ports_file;  // optional: write {"portal":P,"ingest":P} once listening
};
int RunServe(const ServeOptions& options);

// Prints a one-time agent enrollment token for tenant (name or id).
int RunEnrollToken(const std::filesystem::path& config_file, const std::string& tenant);
int RunTenantList(const std::filesystem::path& config_file);

}  // namespace parley::server
