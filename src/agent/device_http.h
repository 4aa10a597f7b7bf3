// Building the HTTPS client for a device source (dma, rprm): reads the
// password file (must be private: mode 0600), applies the source's TLS choice
// (ca_file and/or pin_sha256, or insecure_skip_verify — warned about loudly
// on every start) and HTTP Basic credentials. The password goes only into the
// client, which sends it only to the device; it is never logged.
//
// Also small helpers every device collector shares. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "agent/config.h"
#include "agent/http_client.h"
#include "common/result.h"
#include "wire/wire.h"

namespace parley::agent {

// How a device collector talks HTTP: the real HttpClient, or a fake in
// tests. Same contract as HttpClient::Send (any HTTP status is a value;
// transport failures are kUnavailable). Not thread-safe.
class DeviceTransport {
 public:
  virtual ~DeviceTransport() = default;
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// kConfig errors name the key ("source dma-main: password_file: ...").
Result<std::unique_ptr<HttpClient>> MakeDeviceHttpClient(const SourceConfig& source, const std::atomic<bool>* abort);
// The same client behind the DeviceTransport interface.
Result<std::unique_ptr<DeviceTransport>> MakeDeviceTransport(const SourceConfig& source,
                                                             const std::atomic<bool>* abort);

// Remembers a digest of every device record sent (name, model, status, ...:
// everything but observed_at), so an inventory read only ships what changed,
// plus everything once every `full_refresh_seconds`. Memory: one id and
// 8 bytes per device. Not thread-safe.
class InventoryTracker {
 public:
  explicit InventoryTracker(int64_t full_refresh_seconds = 86400) : full_refresh_s_(full_refresh_seconds) {}
  // Starts a read at `now`: forgets everything when a full refresh is due.
  void BeginSweep(int64_t now);
  // True if `device` is new or changed since it was last marked sent.
  bool Changed(const wire::DeviceRecord& device) const;
  void MarkSent(const wire::DeviceRecord& device);
  // After a cursor reset (a refused batch) nothing is known to be stored.
  void Forget();

 private:
  static uint64_t Digest(const wire::DeviceRecord& device);
  int64_t full_refresh_s_;
  int64_t last_full_ = -1;
  std::map<std::string, uint64_t, std::less<>> sent_;
};

// "device answered HTTP 401 (check username and password file)": short,
// PII-free, for last_error.
std::string DescribeDeviceStatus(long status);

// A device-supplied identifier as it may appear in a log line: printable
// ASCII, at most 64 characters; "(none)" when empty.
std::string IdForLog(std::string_view id);

}  // namespace parley::agent
