// Helpers for the dma/rprm collector tests: fixture files and a scripted
// DeviceTransport.
#pragma once

#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "agent/device_http.h"

namespace parley::agent::fixtures {

inline std::string Fixture(const std::string& relative) {
  std::ifstream in(std::string(PARLEY_AGENT_FIXTURES) + "/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Answers by path (the URL without the base and the query); a path with no
// script answers 404. Each path's answers are used in order, the last one
// repeating. Records every request URL.
class FakeTransport final : public DeviceTransport {
 public:
  struct Answer {
    long status = 200;
    std::string body;
    std::map<std::string, std::string> headers;
    bool unreachable = false;
  };
  explicit FakeTransport(std::string base) : base_(std::move(base)) {}

  void Script(const std::string& path, Answer answer) { scripts_[path].push_back(std::move(answer)); }
  void Ok(const std::string& path, std::string body) { Script(path, Answer{200, std::move(body), {}, false}); }

  Result<HttpResponse> Send(const HttpRequest& request) override {
    requests.push_back(request.url);
    std::string rest = request.url.substr(base_.size());
    std::string path = rest.substr(0, rest.find('?'));
    auto it = scripts_.find(path);
    if (it == scripts_.end() || it->second.empty()) return HttpResponse{404, {}, "{}"};
    Answer a = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    if (a.unreachable) return Unavailable("https://device: Timeout was reached");
    return HttpResponse{a.status, a.headers, a.body};
  }

  std::vector<std::string> requests;

 private:
  std::string base_;
  std::map<std::string, std::deque<Answer>> scripts_;
};

}  // namespace parley::agent::fixtures
