#include "agent/device_http.h"

#include "common/files.h"
#include "common/log.h"

namespace parley::agent {

Result<std::unique_ptr<HttpClient>> MakeDeviceHttpClient(const SourceConfig& source, const std::atomic<bool>* abort) {
  std::string label = "source " + source.name + ": ";
  if (Status s = CheckPrivateFile(source.password_file); !s.ok())
    return ConfigError(label + "password_file: " + s.error().detail);
  auto password = ReadFile(source.password_file);
  if (!password.ok()) return ConfigError(label + "password_file: " + password.error().detail);
  std::string pw = std::move(*password);
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  if (pw.empty()) return ConfigError(label + "password_file: is empty");

  HttpClientOptions options;
  options.ca_file = source.ca_file;
  options.pin_sha256 = source.pin_sha256;
  options.insecure_skip_verify = source.insecure_skip_verify;
  options.username = source.username;
  options.password = std::move(pw);
  options.abort = abort;
  // A device that stops answering must not stall the agent: connect within
  // 15 s, whole transfer (a CDR export included) within 120 s.
  options.connect_timeout_s = 15;
  options.total_timeout_s = 120;
  auto http = HttpClient::Create(std::move(options));
  if (!http.ok()) {
    std::string key = source.ca_file.empty() ? "pin_sha256" : "ca_file";
    return ConfigError(label + key + ": " + http.error().detail);
  }
  if (source.insecure_skip_verify) {
    log::warn("SECURITY: source {}: insecure_skip_verify = true: the device's TLS certificate is NOT verified; "
              "anyone on the network path can read the device password and forge its data. Configure ca_file or "
              "pin_sha256 instead.",
              source.name);
  }
  return std::move(*http);
}

namespace {

class HttpTransport final : public DeviceTransport {
 public:
  explicit HttpTransport(std::unique_ptr<HttpClient> http) : http_(std::move(http)) {}
  Result<HttpResponse> Send(const HttpRequest& request) override { return http_->Send(request); }

 private:
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

Result<std::unique_ptr<DeviceTransport>> MakeDeviceTransport(const SourceConfig& source,
                                                             const std::atomic<bool>* abort) {
  PARLEY_ASSIGN_OR_RETURN(auto http, MakeDeviceHttpClient(source, abort));
  return std::unique_ptr<DeviceTransport>(new HttpTransport(std::move(http)));
}

void InventoryTracker::BeginSweep(int64_t now) {
  if (last_full_ < 0 || now - last_full_ >= full_refresh_s_) {
    sent_.clear();
    last_full_ = now;
  }
}

bool InventoryTracker::Changed(const wire::DeviceRecord& device) const {
  auto it = sent_.find(device.id);
  return it == sent_.end() || it->second != Digest(device);
}

void InventoryTracker::MarkSent(const wire::DeviceRecord& device) { sent_[device.id] = Digest(device); }

void InventoryTracker::Forget() {
  sent_.clear();
  last_full_ = -1;
}

uint64_t InventoryTracker::Digest(const wire::DeviceRecord& d) {
  // FNV-1a over the fields with separators; a collision only delays an update
  // until the next full refresh.
  uint64_t h = 1469598103934665603ull;
  for (const std::string* f : {&d.name, &d.type, &d.model, &d.version, &d.site, &d.serial, &d.ip, &d.mac, &d.owner,
                               &d.status, &d.registration, &d.timezone}) {
    for (unsigned char c : *f) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xFFu) * 1099511628211ull;
  }
  return h;
}

std::string DescribeDeviceStatus(long status) {
  std::string s = "device answered HTTP " + std::to_string(status);
  if (status == 401 || status == 403) s += " (check username and password file)";
  if (status == 429) s += " (rate limited)";
  return s;
}

std::string IdForLog(std::string_view id) {
  if (id.empty()) return "(none)";
  std::string out;
  for (size_t i = 0; i < id.size() && i < 64; ++i) {
    char c = id[i];
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  if (id.size() > 64) out += "...";
  return out;
}

}  // namespace parley::agent
