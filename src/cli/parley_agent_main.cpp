// parley-agent: the on-premises collector. Thin: parses arguments and calls
// the agent library (src/agent/agent.h). Exit codes: 0 success or clean stop,
// 1 failure, 2 bad configuration.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "agent/agent.h"
#include "agent/config.h"
#include "common/files.h"
#include "common/log.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t start = s.find_first_not_of(" \t");
  return start == std::string::npos ? std::string() : s.substr(start);
}

int ExitFor(const parley::Error& e) {
  std::cerr << "parley-agent: " << e.detail << "\n";
  return e.code == parley::Code::kConfig ? kExitConfig : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"parley-agent: collects call data on premises and ships it to Parley (docs/agent.md)"};
  app.require_subcommand(1);

  parley::agent::EnrollOptions enroll_options;
  std::string ca_file, dir, token_file;
  CLI::App* enroll = app.add_subcommand("enroll", "Enroll with a Parley server using a one-time token");
  enroll->add_option("--server", enroll_options.server_url, "Ingest URL, https://host:port")->required();
  enroll->add_option("--ca-file", ca_file, "CA certificate that verifies the server (PEM)")->required();
  enroll->add_option("--dir", dir, "Directory for agent.key, agent.crt, server-ca.crt, agent.toml")->required();
  enroll->add_option("--name", enroll_options.name, "Name shown in the portal (default: host name)");
  enroll->add_option("--token-file", token_file,
                     "File holding the enrollment token (default: environment variable PARLEY_ENROLL_TOKEN)");

  std::string config_file;
  CLI::App* run = app.add_subcommand("run", "Collect and upload until SIGTERM/SIGINT");
  run->add_option("--config", config_file, "agent.toml")->required();
  CLI::App* check = app.add_subcommand("check", "Validate the configuration and reach the server and every source");
  check->add_option("--config", config_file, "agent.toml")->required();

  CLI11_PARSE(app, argc, argv);

  if (enroll->parsed()) {
    parley::log::Init("agent", "info");
    if (!token_file.empty()) {
      auto token = parley::ReadFile(token_file);
      if (!token.ok()) return ExitFor(token.error());
      enroll_options.token = Trim(*token);
    } else if (const char* env = std::getenv("PARLEY_ENROLL_TOKEN")) {
      enroll_options.token = Trim(env);
    }
    enroll_options.ca_file = ca_file;
    enroll_options.dir = dir;
    auto result = parley::agent::Enroll(enroll_options);
    if (!result.ok()) return ExitFor(result.error());
    std::cout << "enrolled: agent id " << result->agent_id << "\n";
    if (result->config_written) std::cout << "wrote " << result->config_file.string() << ": add your [[sources]]\n";
    return 0;
  }

  auto config = parley::agent::AgentConfig::Load(config_file);
  if (!config.ok()) return ExitFor(config.error());
  parley::log::Init("agent", config->log_level);

  if (check->parsed()) {
    // A table an installer can read; exit 0 only if every row is OK.
    std::vector<parley::agent::CheckRow> rows = parley::agent::Check(*config);
    std::cout << parley::agent::FormatCheckTable(rows);
    bool ok = parley::agent::AllChecksOk(rows);
    std::cout << (ok ? "all checks passed\n" : "some checks FAILED\n");
    return ok ? 0 : kExitFailure;
  }

  parley::agent::StopSignal stop;
  parley::agent::StopOnSignals(stop);
  parley::Status s = parley::agent::Run(*config, stop);
  if (!s.ok()) return ExitFor(s.error());
  return 0;
}
