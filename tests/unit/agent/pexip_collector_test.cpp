// Pexip Infinity history API: mapping of the fixtures
// (tests/unit/agent/fixtures/pexip, shaped like a Management Node's answers),
// and the collector against a fake Management Node that filters, orders and
// pages like Tastypie (end_time__gte / end_time__lt, limit/offset, meta.next)
// and can misbehave on demand (401, 503, malformed JSON, a repeating page, a
// timeout, a foreign next link).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "agent/pexip_collector.h"
#include "support/fake_clock.h"

namespace parley::agent {
namespace {

namespace json = boost::json;

const std::string kFixtures = std::string(PARLEY_AGENT_FIXTURES) + "/pexip/";
constexpr int64_t kNow = 1796428800;  // 2026-12-05T00:00:00Z

std::string Slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// A Management Node's history API in memory.
class FakePexip {
 public:
  enum class Fault { kNone, k401, k503, kBadJson, kRepeatPage, kTimeout, kForeignNext, kUnordered };

  FakePexip() {
    conferences_ = json::parse(Slurp(kFixtures + "conference.json")).at("objects").as_array();
    participants_ = json::parse(Slurp(kFixtures + "participant.json")).at("objects").as_array();
  }

  Result<HttpResponse> operator()(const HttpRequest& request) {
    requests.push_back(request.url);
    if (fault == Fault::kTimeout) return Unavailable("https://pexip.example:443: Timeout was reached");
    HttpResponse r;
    if (fault == Fault::k401) {
      r.status = 401;
      r.body = "Authorization Required";
      return r;
    }
    if (fault == Fault::k503) {
      r.status = 503;
      return r;
    }
    r.status = 200;
    if (fault == Fault::kBadJson) {
      r.body = R"({"meta": {"next": null}, "objects": [{"id": "x")";
      return r;
    }
    std::string url = request.url;
    EXPECT_EQ(url.rfind("https://pexip.example", 0), 0u) << url;
    std::string path = url.substr(std::string("https://pexip.example").size());
    std::string query;
    if (auto q = path.find('?'); q != std::string::npos) {
      query = path.substr(q + 1);
      path = path.substr(0, q);
    }
    std::map<std::string, std::string> params;
    std::stringstream qs(query);
    for (std::string kv; std::getline(qs, kv, '&');) {
      auto eq = kv.find('=');
      params[kv.substr(0, eq)] = eq == std::string::npos ? "" : PercentDecode(kv.substr(eq + 1));
    }
    const json::array* all = path == "/api/admin/history/v1/conference/"    ? &conferences_
                             : path == "/api/admin/history/v1/participant/" ? &participants_
                                                                            : nullptr;
    if (!all) {
      r.status = 404;
      return r;
    }
    EXPECT_EQ(params["order_by"], "end_time");
    std::vector<json::object> hits;
    for (const json::value& v : *all) {
      std::string end(v.at("end_time").as_string());
      if (params.count("end_time__gte") && end < params["end_time__gte"]) continue;
      if (params.count("end_time__lt") && end >= params["end_time__lt"]) continue;
      hits.push_back(v.as_object());
    }
    std::stable_sort(hits.begin(), hits.end(), [](const json::object& a, const json::object& b) {
      return a.at("end_time").as_string() < b.at("end_time").as_string();
    });
    if (fault == Fault::kUnordered) std::reverse(hits.begin(), hits.end());
    size_t limit = params.count("limit") ? std::stoul(params["limit"]) : 20;
    size_t offset = params.count("offset") && fault != Fault::kRepeatPage ? std::stoul(params["offset"]) : 0;
    json::object meta;
    meta["limit"] = limit;
    meta["offset"] = offset;
    meta["total_count"] = hits.size();
    json::array objects;
    for (size_t i = offset; i < hits.size() && i < offset + limit; ++i) objects.push_back(hits[i]);
    if (offset + limit < hits.size()) {
      std::string next = path + "?limit=" + std::to_string(limit) + "&offset=" + std::to_string(offset + limit) +
                         "&order_by=end_time";
      if (params.count("end_time__gte")) next += "&end_time__gte=" + params["end_time__gte"];
      if (params.count("end_time__lt")) next += "&end_time__lt=" + params["end_time__lt"];
      if (fault == Fault::kRepeatPage) next += "&again=" + std::to_string(requests.size());
      if (fault == Fault::kForeignNext) next = "https://evil.example" + next;
      meta["next"] = next;
    } else {
      meta["next"] = nullptr;
    }
    json::object body;
    body["meta"] = std::move(meta);
    body["objects"] = std::move(objects);
    r.body = json::serialize(body);
    return r;
  }

  void AddParticipant(json::object p) { participants_.push_back(std::move(p)); }
  json::object Participant(size_t i) const { return participants_[i].as_object(); }

  Fault fault = Fault::kNone;
  std::vector<std::string> requests;

 private:
  json::array conferences_;
  json::array participants_;
};

class PexipCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakePexip();
    source_.name = "pexip-main";
    source_.type = "pexip";
    source_.url = "https://pexip.example";
    source_.settle_seconds = 120;
    source_.initial_history_days = 30;
    collector_ = PexipCollector::CreateWithTransport(
        source_, [this](const HttpRequest& r) { return fake_(r); }, clock_);
  }

  // Fetches pages of `page` records until caught up.
  std::vector<wire::Record> Drain(std::string& cursor, size_t page) {
    std::vector<wire::Record> out;
    for (int i = 0; i < 50; ++i) {
      auto p = collector_->FetchAfter(cursor, page);
      EXPECT_TRUE(p.ok()) << p.error().detail;
      if (!p.ok()) break;
      EXPECT_LE(p->records.size(), page);
      EXPECT_LE(p->next_cursor.size(), 1024u);
      out.insert(out.end(), p->records.begin(), p->records.end());
      cursor = p->next_cursor;
      if (!p->more) break;
    }
    return out;
  }

  testing::FakeClock clock_{kNow};
  SourceConfig source_;
  FakePexip fake_;
  std::unique_ptr<PexipCollector> collector_;
};

std::multiset<std::string> Ids(const std::vector<wire::Record>& records) {
  std::multiset<std::string> ids;
  for (const auto& r : records) ids.insert(wire::RecordId(r));
  return ids;
}

// ---------------------------------------------------------------- mapping

TEST(PexipMapping, Times) {
  EXPECT_EQ(ParsePexipTime("2026-12-04T09:55:33.141261"), (kNow - 86400 + 9 * 3600 + 55 * 60 + 33) * 1000000LL + 141261);
  EXPECT_EQ(ParsePexipTime("2026-12-04T09:55:33"), (kNow - 86400 + 9 * 3600 + 55 * 60 + 33) * 1000000LL);
  EXPECT_EQ(ParsePexipTime("2026-12-04T09:55:33.5Z"), (kNow - 86400 + 9 * 3600 + 55 * 60 + 33) * 1000000LL + 500000);
  EXPECT_FALSE(ParsePexipTime("2026-12-04T09:55:33+01:00"));
  EXPECT_FALSE(ParsePexipTime("yesterday"));
  EXPECT_FALSE(ParsePexipTime(""));
  EXPECT_EQ(FormatPexipTime(*ParsePexipTime("2026-12-04T09:55:33.000042")), "2026-12-04T09:55:33.000042");
}

TEST(PexipMapping, Conferences) {
  auto list = ParsePexipConferences(Slurp(kFixtures + "conference.json"), "pexip-main");
  ASSERT_TRUE(list.ok()) << list.error().detail;
  ASSERT_EQ(list->items.size(), 4u);
  ASSERT_TRUE(list->items[0].record);
  const auto& c = std::get<wire::ConferenceRecord>(*list->items[0].record);
  EXPECT_EQ(c.source, "pexip-main");
  EXPECT_EQ(c.id, "8583f400-7886-48c9-874b-5fefc2ac097e");
  EXPECT_EQ(c.name, "meet.alice");
  EXPECT_EQ(c.participant_count, 3);
  EXPECT_EQ(c.end - c.start, 579);  // whole seconds: 09:45:54 .. 09:55:33
  EXPECT_FALSE(list->items[3].record);
  EXPECT_EQ(list->items[3].skip_reason, "end_time is before start_time");
  EXPECT_FALSE(list->next);
}

TEST(PexipMapping, ParticipantsAndMediaStreams) {
  auto list = ParsePexipParticipants(Slurp(kFixtures + "participant.json"), "pexip-main");
  ASSERT_TRUE(list.ok()) << list.error().detail;
  ASSERT_EQ(list->items.size(), 5u);
  const auto& bob = std::get<wire::ParticipantRecord>(*list->items[0].record);
  EXPECT_EQ(bob.id, "5881adda-00ef-4315-8886-5d873d2ef269");
  EXPECT_EQ(bob.conference_id, "8583f400-7886-48c9-874b-5fefc2ac097e");
  EXPECT_EQ(bob.call_id, "b0a5b554-d1de-11e3-a321-000c29e37602");
  EXPECT_EQ(bob.duration_s, 519);
  EXPECT_EQ(bob.protocol, "WebRTC");
  EXPECT_EQ(bob.role, "chair");
  EXPECT_EQ(bob.disconnect_reason, "Call disconnected");
  EXPECT_EQ(bob.party.name, "Bob");
  EXPECT_EQ(bob.party.uri, "bob@example.com");
  EXPECT_EQ(bob.party.number, "");
  EXPECT_EQ(bob.party.ip, "198.51.100.20");
  EXPECT_EQ(bob.party.site, "London");
  EXPECT_EQ(bob.party.model, "Mozilla/5.0 Chrome/120.0");
  // Pexip's rx_* is what the participant SENT (tx), tx_* what it received (rx).
  auto sample = [&](const std::string& dir, const std::string& media) -> const wire::QualitySample* {
    for (const auto& q : bob.quality)
      if (q.direction == dir && q.media == media) return &q;
    return nullptr;
  };
  ASSERT_EQ(bob.quality.size(), 5u);  // audio tx/rx, video tx/rx, content rx (content tx carried nothing)
  const wire::QualitySample* video_tx = sample("tx", "video");
  ASSERT_NE(video_tx, nullptr);
  EXPECT_EQ(video_tx->party, "participant");
  EXPECT_EQ(video_tx->codec, "VP8");
  EXPECT_EQ(*video_tx->bitrate_kbps, 511);
  EXPECT_NEAR(*video_tx->packet_loss_pct_avg, 100.0 * 2 / 37029, 1e-9);
  EXPECT_DOUBLE_EQ(*video_tx->packet_loss_pct_max, 0.01);
  EXPECT_FALSE(video_tx->jitter_ms_avg);  // the history API has no jitter: absent, not 0
  EXPECT_FALSE(video_tx->mos);
  const wire::QualitySample* content_rx = sample("rx", "content");
  ASSERT_NE(content_rx, nullptr);
  EXPECT_DOUBLE_EQ(*content_rx->packet_loss_pct_avg, 2.5);  // 500 of 20000 sent
  EXPECT_EQ(*content_rx->bitrate_kbps, 1200);
  EXPECT_EQ(sample("tx", "content"), nullptr);

  const auto& room = std::get<wire::ParticipantRecord>(*list->items[1].record);
  EXPECT_EQ(room.protocol, "H.323");
  EXPECT_EQ(room.party.number, "+442079460555");
  EXPECT_TRUE(room.quality.empty());
  // Percent only (no packet counts): the percent is the average.
  const auto& carol = std::get<wire::ParticipantRecord>(*list->items[2].record);
  ASSERT_EQ(carol.quality.size(), 2u);
  for (const auto& q : carol.quality) {
    EXPECT_DOUBLE_EQ(*q.packet_loss_pct_avg, q.direction == "tx" ? 12.5 : 0.5);
    EXPECT_FALSE(q.packet_loss_pct_max);
  }
  EXPECT_FALSE(list->items[4].record);
  EXPECT_EQ(list->items[4].skip_reason, "missing conference");
}

TEST(PexipMapping, MalformedPages) {
  EXPECT_FALSE(ParsePexipParticipants("<html>", "p").ok());
  EXPECT_FALSE(ParsePexipParticipants(R"({"meta":{}})", "p").ok());
  EXPECT_FALSE(ParsePexipParticipants(R"({"objects":{}})", "p").ok());
  EXPECT_FALSE(ParsePexipParticipants(R"({"meta":{"next":5},"objects":[]})", "p").ok());
  auto odd = ParsePexipParticipants(R"({"objects":[7, {"end_time":"2026-12-04T11:00:00"}]})", "p");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->items[0].skip_reason, "list item is not an object");
  EXPECT_EQ(odd->items[1].skip_reason, "missing id");
}

TEST(PexipMapping, CursorRoundTrip) {
  PexipCursor c;
  c.conferences.end_us = *ParsePexipTime("2026-12-04T11:00:00.000000");
  c.conferences.seen = {PexipIdHash("a"), PexipIdHash("b")};
  auto text = EncodePexipCursor(c);
  ASSERT_TRUE(text.ok());
  auto back = DecodePexipCursor(*text);
  ASSERT_TRUE(back.ok()) << *text;
  EXPECT_EQ(back->conferences.end_us, c.conferences.end_us);
  EXPECT_EQ(back->conferences.seen, c.conferences.seen);
  EXPECT_FALSE(back->participants.end_us);
  EXPECT_FALSE(DecodePexipCursor("tok").ok());
  EXPECT_FALSE(DecodePexipCursor(R"({"v":1,"c":{"t":"x"}})").ok());
  // The most ids a cursor keeps still fit the server's 1024 bytes.
  for (int i = 0; i < 40; ++i) {
    c.conferences.seen.push_back(PexipIdHash(std::to_string(i)));
    c.participants.seen.push_back(PexipIdHash(std::to_string(i)));
  }
  c.conferences.seen.resize(40);
  c.participants.end_us = c.conferences.end_us;
  auto full = EncodePexipCursor(c);
  ASSERT_TRUE(full.ok());
  EXPECT_LE(full->size(), 1024u);
}

// ---------------------------------------------------------------- collector

// Small pages cut between records that share an end time (11:00:00 has two
// conferences and two participants): every mappable record arrives exactly
// once, and a caught-up cursor fetches nothing more.
TEST_F(PexipCollectorTest, PagesAcrossTiesExactlyOnce) {
  for (size_t page : {1u, 2u, 3u, 500u}) {
    std::string cursor;
    auto records = Drain(cursor, page);
    std::multiset<std::string> want = {"8583f400-7886-48c9-874b-5fefc2ac097e",
                                       "1d2c3b4a-0000-4000-8000-000000000002",
                                       "1d2c3b4a-0000-4000-8000-000000000003",
                                       "5881adda-00ef-4315-8886-5d873d2ef269",
                                       "e9883f1d-88ca-495d-8366-b6eb772dfe57",
                                       "00000000-0000-0000-0000-000000000004",
                                       "00000000-0000-0000-0000-000000000005"};
    EXPECT_EQ(Ids(records), want) << "page size " << page;
    // One conference and one participant could not be mapped: degraded, not failing.
    EXPECT_EQ(collector_->health().status, SourceStatus::kDegraded);
    auto again = collector_->FetchAfter(cursor, page);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->records.empty()) << "page size " << page;
    EXPECT_EQ(again->next_cursor, cursor);
  }
  // Requests carry the documented filters; nothing before initial_history_days.
  ASSERT_FALSE(fake_.requests.empty());
  EXPECT_NE(fake_.requests[0].find("end_time__gte=2026-11-05T00%3A00%3A00.000000"), std::string::npos)
      << fake_.requests[0];
  EXPECT_NE(fake_.requests[0].find("end_time__lt=2026-12-04T23%3A58%3A00.000000"), std::string::npos);
}

// A record that turns up later with the same end time as the cursor's
// newest record is still collected; the ones sent before are not repeated.
TEST_F(PexipCollectorTest, LateRecordAtTheCursorTime) {
  std::string cursor;
  Drain(cursor, 500);
  json::object late = fake_.Participant(3);
  late["id"] = "00000000-0000-0000-0000-00000000000a";
  late["end_time"] = "2026-12-04T11:20:00.000000";  // the cursor's newest participant (Eve) ends then too
  fake_.AddParticipant(late);
  auto more = Drain(cursor, 500);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(wire::RecordId(more[0]), "00000000-0000-0000-0000-00000000000a");
}

// Records younger than settle_seconds wait for a later poll.
TEST_F(PexipCollectorTest, YoungRecordsWait) {
  clock_.Set(*ParsePexipTime("2026-12-04T11:01:00") / 1000000);  // the 11:00:00 records are 60 s old
  std::string cursor;
  auto first = Drain(cursor, 500);
  EXPECT_EQ(Ids(first).count("00000000-0000-0000-0000-000000000004"), 0u);
  clock_.Advance(std::chrono::seconds(120));
  auto second = Drain(cursor, 500);
  EXPECT_EQ(Ids(second).count("00000000-0000-0000-0000-000000000004"), 1u);
  EXPECT_EQ(Ids(second).count("5881adda-00ef-4315-8886-5d873d2ef269"), 0u);
}

// Every way a device misbehaves makes the source failing with a short,
// PII-free last_error, and moves no cursor.
TEST_F(PexipCollectorTest, FaultsMakeTheSourceFailing) {
  struct Case {
    FakePexip::Fault fault;
    const char* expect;
  };
  const Case cases[] = {
      {FakePexip::Fault::k401, "401 Unauthorized: check username/password_file"},
      {FakePexip::Fault::k503, "HTTP 503"},
      {FakePexip::Fault::kBadJson, "not JSON"},
      {FakePexip::Fault::kTimeout, "Timeout"},
      {FakePexip::Fault::kRepeatPage, "repeated a page"},
      {FakePexip::Fault::kForeignNext, "meta.next is not a link"},
      {FakePexip::Fault::kUnordered, "not ordered by end_time"},
  };
  for (const Case& c : cases) {
    SetUp();
    fake_.fault = c.fault;
    std::string cursor;
    // Page size 1 so that paging (next links) is exercised; the repeating
    // device answers page 1 for every offset.
    const size_t size = c.fault == FakePexip::Fault::kUnordered ? 500 : 1;
    Result<CollectedPage> page = collector_->FetchAfter(cursor, size);
    if (c.fault == FakePexip::Fault::kRepeatPage || c.fault == FakePexip::Fault::kForeignNext) {
      // The first page is fine; the fault shows once a whole page was seen before.
      ASSERT_TRUE(page.ok()) << page.error().detail;
      cursor = page->next_cursor;
      page = collector_->FetchAfter(cursor, size);
      while (page.ok() && page->more && fake_.requests.size() < 100) {
        cursor = page->next_cursor;
        page = collector_->FetchAfter(cursor, size);
      }
    }
    ASSERT_FALSE(page.ok()) << "fault " << static_cast<int>(c.fault);
    SourceHealth h = collector_->health();
    EXPECT_EQ(h.status, SourceStatus::kFailing);
    ASSERT_TRUE(h.last_error);
    EXPECT_NE(h.last_error->find(c.expect), std::string::npos) << *h.last_error;
    for (const char* pii : {"Bob", "bob@example.com", "198.51.100.20", "Authorization Required"})
      EXPECT_EQ(h.last_error->find(pii), std::string::npos) << *h.last_error;
  }
  // Healthy again after the device recovers.
  SetUp();
  std::string cursor;
  ASSERT_TRUE(collector_->FetchAfter(cursor, 2).ok());
  EXPECT_NE(collector_->health().status, SourceStatus::kFailing);
}

TEST_F(PexipCollectorTest, Probe) {
  auto probe = collector_->Probe("");
  ASSERT_TRUE(probe.ok()) << probe.error().detail;
  EXPECT_EQ(*probe, "history API readable; 4 conference(s) in history");
  fake_.fault = FakePexip::Fault::k401;
  auto denied = collector_->Probe("");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().detail, "401 Unauthorized: check username/password_file");
}

}  // namespace
}  // namespace parley::agent
