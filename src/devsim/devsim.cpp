#include "devsim/devsim.h"

#include <sys/stat.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
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
constexpr int kServerThreads = 4;

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

namespace {

// `slow` faults wait on this, so a shutdown does not wait out their delay.
class Interruptible {
 public:
  void Sleep(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopped_; });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace

int RunDevsim(const DevsimOptions& options) {
  log::Init("devsim", options.log_level);
  auto fail = [](const Error& e, int code) {
    log::error("devsim: {}", e.detail);
    return code;
  };

  Result<Credentials> credentials = LoadCredentials(options.credentials_file);
  if (!credentials.ok()) return fail(credentials.error(), kExitConfig);
  Result<Credentials> rprm_credentials = *credentials;
  if (!options.rprm_credentials_file.empty()) {
    rprm_credentials = LoadCredentials(options.rprm_credentials_file);
    if (!rprm_credentials.ok()) return fail(rprm_credentials.error(), kExitConfig);
  }
  if (options.fault_delay < std::chrono::milliseconds(0) || options.fault_delay > kMaxFaultDelay)
    return fail(ConfigError("fault-delay-ms: must be between 0 and " + std::to_string(kMaxFaultDelay.count())),
                kExitConfig);
  if (options.retry_after_s < 0 || options.retry_after_s > 86400)
    return fail(ConfigError("retry-after: must be between 0 and 86400 seconds"), kExitConfig);

  WorkloadOptions wo;
  wo.seed = options.seed;
  wo.origin_unix = options.origin_unix.value_or(SystemClock::Instance().NowUnixSeconds());
  wo.history_days = options.history_days;
  wo.total_calls = options.calls;
  wo.live = options.live;
  Result<std::unique_ptr<Workload>> workload = Workload::Create(wo);
  if (!workload.ok()) return fail(workload.error(), kExitConfig);
  const Organisation& org = (*workload)->org();
  log::info("devsim: seed {} with {} sites, {} endpoints, {} VMRs, {} history calls, {} history conferences, "
            "licence {} MCU ports / {} calls{}",
            options.seed, org.sites.size(), org.endpoints.size(), org.vmrs.size(), (*workload)->HistoryCalls().size(),
            (*workload)->HistoryMeetings().size(), org.licensed_video_ports, org.licensed_calls,
            options.live ? ", live" : "");

  if (!options.print_expected.empty()) {
    if (Status s = WriteFileAtomic(options.print_expected, RenderExpected(**workload), 0600); !s.ok())
      return fail(s.error(), kExitRuntime);
  }

  Result<TlsFiles> tls_files = EnsureTlsFiles(options.tls_dir);
  if (!tls_files.ok()) return fail(tls_files.error(), kExitConfig);
  auto make_ctx = [&] {
    return crypto::MakeTlsContext(
        {crypto::TlsRole::kServer, tls_files->cert_file, tls_files->key_file, "", crypto::PeerVerification::kNone});
  };

  Interruptible pause;
  ApiOptions api;
  api.faults = options.faults;
  api.slow_delay = options.fault_delay;
  api.retry_after_s = options.retry_after_s;
  api.sleep = [&pause](std::chrono::milliseconds d) { pause.Sleep(d); };

  // Several threads, so one `slow` request does not hold up the others.
  std::unique_ptr<http::Server> server = http::Server::Create(kServerThreads);
  struct Listen {
    const char* name;
    std::string host;
    uint16_t port;
    http::Handler handler;
    std::filesystem::path port_file;
  };
  std::vector<Listen> listens;
  listens.push_back({"dma", options.listen_host, options.listen_port,
                     MakeDmaHandler(**workload, SystemClock::Instance(), *credentials, api, options.prerender_history),
                     options.port_file});
  if (!options.rprm_listen_host.empty())
    listens.push_back({"rprm", options.rprm_listen_host, options.rprm_listen_port,
                       MakeRprmHandler(**workload, SystemClock::Instance(), *rprm_credentials, api),
                       options.rprm_port_file});
  std::vector<uint16_t> ports;
  for (Listen& l : listens) {
    Result<crypto::SslCtxPtr> ctx = make_ctx();
    if (!ctx.ok()) return fail(ctx.error(), kExitConfig);
    http::ListenerOptions lo;
    lo.name = l.name;
    lo.host = l.host;
    lo.port = l.port;
    lo.tls = std::move(*ctx);
    Result<uint16_t> port = server->AddListener(std::move(lo), std::move(l.handler));
    if (!port.ok()) return fail(port.error(), kExitRuntime);
    ports.push_back(*port);
  }
  server->Start();
  for (size_t i = 0; i < listens.size(); ++i) {
    if (listens[i].port_file.empty()) continue;
    if (Status s = WriteFileAtomic(listens[i].port_file, std::to_string(ports[i]) + "\n"); !s.ok()) {
      pause.Stop();
      server->Drain(std::chrono::milliseconds(0));
      return fail(s.error(), kExitRuntime);
    }
  }
  log::info("devsim: DMA API on https://{}:{}/api/rest/calls", options.listen_host, ports[0]);
  if (listens.size() > 1)
    log::info("devsim: RPRM API on https://{}:{}/api/rest/device-inventory", options.rprm_listen_host, ports[1]);
  if (!options.faults.empty()) log::info("devsim: {} standing fault rule(s) active", options.faults.size());
  int sig = http::Server::WaitForStopSignal();
  log::info("devsim: signal {}, draining", sig);
  pause.Stop();
  server->Drain(kDrainGrace);
  return kExitOk;
}

}  // namespace parley::devsim
