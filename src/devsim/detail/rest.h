// What the emulated DMA and RPRM APIs share, private to devsim: a small
// route table behind HTTP Basic, Accept negotiation with vendor media types,
// ETag / If-None-Match, the fault flags, and a JSON writer.
//
// Order of checks for every request (docs/devsim.md "Common rules"):
//   credentials (401) -> path (404) -> method (405) -> Accept (406) ->
//   fault parameters (400) -> faults 401/429/500 -> the route ->
//   ETag/304 or `malformed` -> `slow` delay.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "common/clock.h"
#include "common/result.h"
#include "devsim/api_options.h"
#include "http/http.h"

namespace parley::devsim::detail {

// Compact JSON like boost::json::serialize, except that doubles are written
// in plain decimal notation with at least one fractional digit ("0.35",
// "2.0"), not Boost's "3.5E-1": values read the same in every parser.
std::string SerializeJson(const boost::json::value& value);

// Does an Accept header admit `media_type`? Absent/empty, */*, application/*
// and (when json_ok) application/json do; a vendor type
// "application/vnd.plcm.NAME+json" also matches "…NAME-vN+json"; `also`
// lists further acceptable types; q=0 excludes a range.
bool AcceptAdmits(std::string_view accept, std::string_view media_type, const std::vector<std::string>& also,
                  bool json_ok);

// Quoted strong entity tag of a body, and whether an If-None-Match header
// matches it (weak comparison, lists and "*" allowed).
std::string EntityTag(std::string_view body);
bool IfNoneMatchHits(std::string_view if_none_match, std::string_view etag);

// `limit`: absent -> default; 1..max else kInvalidArgument.
Result<size_t> ParseLimit(const std::optional<std::string>& text, size_t default_limit, size_t max_limit);

// A 200 with a JSON body and the given Content-Type; the second takes the
// body already serialized.
http::Response JsonOk(const boost::json::value& body, std::string_view media_type);
http::Response SerializedJsonOk(std::string body, std::string_view media_type);

class RouteContext {
 public:
  RouteContext(const http::Request& request, int64_t now, bool repeat, std::function<void()> sleep_once)
      : request(request), now(now), repeat(repeat), sleep_once_(std::move(sleep_once)) {}
  const http::Request& request;
  int64_t now;   // the clock's Unix seconds
  bool repeat;   // `repeat` fault: a paged list ignores `after`
  // Waits the `slow` delay here if it applies (once); otherwise the service
  // waits after the route returns. The CDR export waits while it holds its
  // one-at-a-time lock.
  void SleepIfSlow() const { sleep_once_(); }

 private:
  std::function<void()> sleep_once_;
};

struct Route {
  std::string path;
  std::string media_type;          // Content-Type of a 200, and what Accept must admit
  std::vector<std::string> also;   // further media types Accept may name
  bool json_ok = true;             // whether application/json is acceptable
  std::function<http::Response(const RouteContext&)> handle;
};

class RestService {
 public:
  RestService(std::string realm, const Credentials& credentials, const Clock& clock, ApiOptions options,
              std::vector<Route> routes);
  http::Response Handle(const http::Request& request) const;

 private:
  http::Response Unauthorized() const;

  std::string realm_;
  std::string expected_;  // "user:password"
  const Clock& clock_;
  ApiOptions options_;
  std::vector<Route> routes_;
  mutable std::atomic<uint64_t> requests_{0};  // fault-rule counter
};

}  // namespace parley::devsim::detail
