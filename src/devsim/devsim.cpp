#include "devsim/devsim.h"

#include <sys/stat.h>

#include <cstdlib>
#include <system_error>

#include "common/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "crypto/pki.h"
#include "crypto/tls_policy.h"
#include "http/http.h"

namespace parley::devsim {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;
constexpr int kCertDays = 825;  // the longest validity browsers accept for a server cert
constexpr std::chrono::seconds kDrainGrace{5};

std::string_view TrimLine(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<Credentials> LoadCredentials(const std::filesystem::path& file) {
  if (file.empty()) {
    const char* password = std::getenv("PARLEY_DEVSIM_PASSWORD");
    if (password == nullptr || *password == '\0')
      return ConfigError("credentials: give --credentials-file or set PARLEY_DEVSIM_PASSWORD");
    return Credentials{"parley", password};
  }
  if (Status s = CheckPrivateFile(file); !s.ok()) return ConfigError("credentials-file: " + s.error().detail);
  PARLEY_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  std::string_view line = text;
  if (size_t nl = line.find('\n'); nl != std::string_view::npos) line = line.substr(0, nl);
  line = TrimLine(line);
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == line.size())
    return ConfigError("credentials-file: expected one line user:password in " + file.string());
  return Credentials{std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))};
}

Result<TlsFiles> EnsureTlsFiles(const std::filesystem::path& tls_dir) {
  if (tls_dir.empty()) return ConfigError("tls-dir: required");
  std::error_code ec;
  std::filesystem::create_directories(tls_dir, ec);
  if (ec) return ConfigError("tls-dir: cannot create " + tls_dir.string() + ": " + ec.message());
  TlsFiles files{tls_dir / "devsim.key", tls_dir / "devsim.crt"};
  const bool have_key = std::filesystem::exists(files.key_file);
  const bool have_cert = std::filesystem::exists(files.cert_file);
  if (have_key && have_cert) {
    if (Status s = CheckPrivateFile(files.key_file); !s.ok()) return ConfigError("tls-dir: " + s.error().detail);
    return files;
  }
  if (have_key != have_cert)
    return ConfigError("tls-dir: found only one of devsim.key and devsim.crt in " + tls_dir.string() +
                       "; remove it to have both made anew");
  PARLEY_ASSIGN_OR_RETURN(crypto::KeyAndCert made,
                          crypto::MakeSelfSignedServerCert("parley-devsim", {"localhost", "127.0.0.1"}, kCertDays));
  // Key first: a crash in between leaves a lone key, which we refuse above
  // rather than silently pairing it with some other certificate.
  PARLEY_TRY(WriteFileAtomic(files.key_file, made.key_pem, 0600));
  PARLEY_TRY(WriteFileAtomic(files.cert_file, made.cert_pem, 0644));
  log::info("devsim: created a self-signed certificate in {}", tls_dir.string());
  return files;
}

std::string RenderExpected(const Workload& workload) {
  std::string out;
  for (const Call& call : workload.HistoryCalls()) {
    out += ExpectedLine(workload, call);
    out += '\n';
  }
  return out;
}

int RunDevsim(const DevsimOptions& options) {
  log::Init("devsim", options.log_level);
  auto fail = [](const Error& e, int code) {
    log::error("devsim: {}", e.detail);
    return code;
  };

  Result<Credentials> credentials = LoadCredentials(options.credentials_file);
  if (!credentials.ok()) return fail(credentials.error(), kExitConfig);

  WorkloadOptions wo;
  wo.seed = options.seed;
  wo.origin_unix = options.origin_unix.value_or(SystemClock::Instance().NowUnixSeconds());
  wo.history_days = options.history_days;
  wo.total_calls = options.calls;
  wo.live = options.live;
  Result<std::unique_ptr<Workload>> workload = Workload::Create(wo);
  if (!workload.ok()) return fail(workload.error(), kExitConfig);
  log::info("devsim: seed {} with {} sites, {} endpoints, {} history calls{}", options.seed,
            (*workload)->org().sites.size(), (*workload)->org().endpoints.size(),
            (*workload)->HistoryCalls().size(), options.live ? ", live" : "");

  if (!options.print_expected.empty()) {
    if (Status s = WriteFileAtomic(options.print_expected, RenderExpected(**workload), 0600); !s.ok())
      return fail(s.error(), kExitRuntime);
  }

  Result<TlsFiles> tls_files = EnsureTlsFiles(options.tls_dir);
  if (!tls_files.ok()) return fail(tls_files.error(), kExitConfig);
  Result<crypto::SslCtxPtr> ctx = crypto::MakeTlsContext(
      {crypto::TlsRole::kServer, tls_files->cert_file, tls_files->key_file, "", crypto::PeerVerification::kNone});
  if (!ctx.ok()) return fail(ctx.error(), kExitConfig);

  std::unique_ptr<http::Server> server = http::Server::Create(1);
  http::ListenerOptions lo;
  lo.name = "dma";
  lo.host = options.listen_host;
  lo.port = options.listen_port;
  lo.tls = std::move(*ctx);
  Result<uint16_t> port =
      server->AddListener(std::move(lo), MakeDmaHandler(**workload, SystemClock::Instance(), *credentials));
  if (!port.ok()) return fail(port.error(), kExitRuntime);
  server->Start();
  if (!options.port_file.empty()) {
    if (Status s = WriteFileAtomic(options.port_file, std::to_string(*port) + "\n"); !s.ok()) {
      server->Drain(std::chrono::milliseconds(0));
      return fail(s.error(), kExitRuntime);
    }
  }
  log::info("devsim: DMA API on https://{}:{}/api/rest/calls", options.listen_host, *port);
  int sig = http::Server::WaitForStopSignal();
  log::info("devsim: signal {}, draining", sig);
  server->Drain(kDrainGrace);
  return kExitOk;
}

}  // namespace parley::devsim
