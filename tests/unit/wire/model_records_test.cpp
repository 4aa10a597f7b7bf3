// ParseBatch / Serialize* for the normalized model beyond calls: conference,
// participant and device records and the quality samples on calls and
// participants (docs/formats/wire-v1.md, docs/formats/model.md).
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "wire/wire.h"

namespace parley::wire {
namespace {

ParseOutcome Parse(std::string_view body, int64_t max_records = 5000) {
  BatchLimits limits;
  limits.max_records = max_records;
  return ParseBatch(body, limits);
}

std::string OnlyError(std::string_view body) {
  ParseOutcome out = Parse(body);
  EXPECT_FALSE(out.batch.has_value());
  EXPECT_EQ(out.errors.size(), 1u);
  return out.errors.empty() ? std::string() : out.errors.front().reason;
}

// `extra` (",\"k\":v") is appended before the closing brace.
std::string Conference(std::string_view extra = "") {
  return R"({"type":"conference","source":"dma-main","id":"conf-9","start":"2026-12-04T16:00:00Z",)"
         R"("end":"2026-12-04T17:00:00Z")" +
         std::string(extra) + "}";
}

std::string Participant(std::string_view extra = "") {
  return R"({"type":"participant","source":"dma-main","id":"p-1","conference_id":"conf-9",)"
         R"("start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:10:00Z","duration_s":600)" +
         std::string(extra) + "}";
}

std::string Device(std::string_view extra = "") {
  return R"({"type":"device","source":"rprm","id":"dev-1","observed_at":"2026-12-04T16:00:00Z")" +
         std::string(extra) + "}";
}

std::string CallWithQuality(std::string_view quality) {
  return R"({"type":"call","source":"dma-main","id":"c-1","start":"2026-12-04T16:26:16Z",)"
         R"("end":"2026-12-04T16:27:16Z","duration_s":60,"status":"completed","protocol":"SIP",)"
         R"("call_type":"VMR","orig":{},"dest":{},"quality":)" +
         std::string(quality) + "}";
}

constexpr std::string_view kFullConference =
    R"({"type":"conference","source":"dma-main","id":"conf-9","start":"2026-12-04T16:00:00Z",)"
    R"("end":"2026-12-04T17:00:00Z","name":"Weekly sync of Alice","room":"7001","mcu":"RMX-1",)"
    R"("participant_count":5,"max_resources_used":4,"scheduled_start":"2026-12-04T15:55:00+01:00",)"
    R"("scheduled_end":"2026-12-04T17:00:00+01:00"})";

constexpr std::string_view kFullParticipant =
    R"({"type":"participant","source":"pexip","id":"p-1","conference_id":"conf-9","call_id":"c-1",)"
    R"("start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:10:00Z","duration_s":598,"protocol":"WebRTC",)"
    R"("role":"chair","disconnect_reason":"Call disconnected",)"
    R"("party":{"name":"Alice","uri":"sip:alice@example.com","ip":"10.0.0.1","model":"Chrome","site":"Paris"},)"
    R"("quality":[{"party":"participant","direction":"rx","media":"video","codec":"VP8","bitrate_kbps":1200,)"
    R"("packet_loss_pct_avg":0.25,"packet_loss_pct_max":3,"jitter_ms_avg":4.5,"jitter_ms_max":20,)"
    R"("latency_ms_avg":35.5,"latency_ms_max":80,"mos":4.2},)"
    R"({"party":"participant","direction":"tx","media":"audio"}]})";

constexpr std::string_view kFullDevice =
    R"({"type":"device","source":"rprm","id":"dev-1","observed_at":"2026-12-04T16:00:00Z",)"
    R"("name":"Alice's room","device_type":"endpoint","model":"Group 500","version":"6.4.2",)"
    R"("site":"Paris","serial":"8G1234","ip":"10.0.0.5","mac":"00:e0:db:01:02:03","owner":"alice",)"
    R"("status":"online","registration":"ACTIVE","timezone":"Europe/Paris"})";

TEST(WireModel, ConferenceParsesWithAllFields) {
  ParseOutcome out = Parse(kFullConference);
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  ASSERT_EQ(out.batch->conferences.size(), 1u);
  const ConferenceRecord& c = out.batch->conferences[0];
  EXPECT_EQ(c.source, "dma-main");
  EXPECT_EQ(c.id, "conf-9");
  EXPECT_EQ(c.end - c.start, 3600);
  EXPECT_EQ(c.name, "Weekly sync of Alice");
  EXPECT_EQ(c.room, "7001");
  EXPECT_EQ(c.mcu, "RMX-1");
  EXPECT_EQ(c.participant_count, 5);
  EXPECT_EQ(c.max_resources_used, 4);
  ASSERT_TRUE(c.scheduled_start.has_value());
  EXPECT_EQ(*c.scheduled_start, c.start - 3600 - 300);  // +01:00 applied
  EXPECT_EQ(*c.scheduled_end, c.end - 3600);
}

TEST(WireModel, MinimalConferenceLeavesOptionalsAbsent) {
  ParseOutcome out = Parse(Conference());
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  const ConferenceRecord& c = out.batch->conferences.at(0);
  EXPECT_EQ(c.participant_count, 0);
  EXPECT_FALSE(c.max_resources_used.has_value());
  EXPECT_FALSE(c.scheduled_start.has_value());
  EXPECT_FALSE(c.scheduled_end.has_value());
}

TEST(WireModel, ParticipantParsesWithAllFields) {
  ParseOutcome out = Parse(kFullParticipant);
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  ASSERT_EQ(out.batch->participants.size(), 1u);
  const ParticipantRecord& p = out.batch->participants[0];
  EXPECT_EQ(p.conference_id, "conf-9");
  EXPECT_EQ(p.call_id, "c-1");
  EXPECT_EQ(p.duration_s, 598);
  EXPECT_EQ(p.protocol, "WebRTC");
  EXPECT_EQ(p.role, "chair");
  EXPECT_EQ(p.disconnect_reason, "Call disconnected");
  EXPECT_EQ(p.party.name, "Alice");
  EXPECT_EQ(p.party.site, "Paris");
  ASSERT_EQ(p.quality.size(), 2u);
  const QualitySample& q = p.quality[0];
  EXPECT_EQ(q.party, "participant");
  EXPECT_EQ(q.direction, "rx");
  EXPECT_EQ(q.media, "video");
  EXPECT_EQ(q.codec, "VP8");
  EXPECT_EQ(q.bitrate_kbps, 1200);
  EXPECT_DOUBLE_EQ(*q.packet_loss_pct_avg, 0.25);
  EXPECT_DOUBLE_EQ(*q.packet_loss_pct_max, 3);  // JSON integer accepted for a double field
  EXPECT_DOUBLE_EQ(*q.jitter_ms_avg, 4.5);
  EXPECT_DOUBLE_EQ(*q.jitter_ms_max, 20);
  EXPECT_DOUBLE_EQ(*q.latency_ms_avg, 35.5);
  EXPECT_DOUBLE_EQ(*q.latency_ms_max, 80);
  EXPECT_DOUBLE_EQ(*q.mos, 4.2);
  // Unmeasured stays absent, never 0.
  const QualitySample& a = p.quality[1];
  EXPECT_EQ(a.media, "audio");
  EXPECT_FALSE(a.bitrate_kbps.has_value());
  EXPECT_FALSE(a.packet_loss_pct_avg.has_value());
  EXPECT_FALSE(a.mos.has_value());
}

TEST(WireModel, MinimalParticipantHasEmptyParty) {
  ParseOutcome out = Parse(Participant());
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  const ParticipantRecord& p = out.batch->participants.at(0);
  EXPECT_TRUE(p.party.name.empty());
  EXPECT_TRUE(p.quality.empty());
  EXPECT_TRUE(p.call_id.empty());
}

TEST(WireModel, DeviceParsesWithAllFields) {
  ParseOutcome out = Parse(kFullDevice);
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  ASSERT_EQ(out.batch->devices.size(), 1u);
  const DeviceRecord& d = out.batch->devices[0];
  EXPECT_EQ(d.id, "dev-1");
  EXPECT_EQ(d.observed_at, 1796400000);
  EXPECT_EQ(d.name, "Alice's room");
  EXPECT_EQ(d.type, "endpoint");
  EXPECT_EQ(d.model, "Group 500");
  EXPECT_EQ(d.version, "6.4.2");
  EXPECT_EQ(d.site, "Paris");
  EXPECT_EQ(d.serial, "8G1234");
  EXPECT_EQ(d.ip, "10.0.0.5");
  EXPECT_EQ(d.mac, "00:e0:db:01:02:03");
  EXPECT_EQ(d.owner, "alice");
  EXPECT_EQ(d.status, "online");
  EXPECT_EQ(d.registration, "ACTIVE");
  EXPECT_EQ(d.timezone, "Europe/Paris");
}

TEST(WireModel, CallQualityParses) {
  ParseOutcome out = Parse(CallWithQuality(
      R"([{"party":"orig","direction":"tx","media":"video","mos":1},{"party":"dest","direction":"rx","media":"content","packet_loss_pct_avg":100}])"));
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  const CallRecord& c = out.batch->calls.at(0);
  ASSERT_EQ(c.quality.size(), 2u);
  EXPECT_EQ(c.quality[0].party, "orig");
  EXPECT_DOUBLE_EQ(*c.quality[0].mos, 1);
  EXPECT_EQ(c.quality[1].media, "content");
  EXPECT_DOUBLE_EQ(*c.quality[1].packet_loss_pct_avg, 100);
  // An empty array is the same as none.
  EXPECT_TRUE(Parse(CallWithQuality("[]")).batch.has_value());
}

TEST(WireModel, BadConferences) {
  EXPECT_EQ(OnlyError(Conference(R"(,"organizer":"x")")), "unknown field \"organizer\"");
  EXPECT_EQ(OnlyError(R"({"type":"conference","source":"dma-main","start":"2026-12-04T16:00:00Z","end":"2026-12-04T17:00:00Z"})"),
            "missing required field \"id\"");
  std::string bad = Conference();
  bad.replace(bad.find("17:00:00Z"), 9, "15:00:00Z");
  EXPECT_EQ(OnlyError(bad), "\"end\" is before \"start\"");
  EXPECT_EQ(OnlyError(Conference(R"(,"participant_count":-1)")), "field \"participant_count\" must be >= 0");
  EXPECT_EQ(OnlyError(Conference(R"(,"participant_count":2.0)")), "field \"participant_count\" must be an integer");
  EXPECT_EQ(OnlyError(Conference(R"(,"max_resources_used":"4")")), "field \"max_resources_used\" must be an integer");
  EXPECT_EQ(OnlyError(Conference(R"(,"scheduled_start":"yesterday")")),
            "field \"scheduled_start\" must be an RFC 3339 timestamp");
  EXPECT_EQ(OnlyError(Conference(R"(,"scheduled_start":"2026-12-04T16:00:00Z","scheduled_end":"2026-12-04T15:00:00Z")")),
            "\"scheduled_end\" is before \"scheduled_start\"");
  EXPECT_EQ(OnlyError(Conference(R"(,"name":7)")), "field \"name\" must be a string");
}

TEST(WireModel, BadParticipants) {
  EXPECT_EQ(OnlyError(R"({"type":"participant","source":"s","id":"p","start":"2026-12-04T16:00:00Z","end":"2026-12-04T16:00:00Z","duration_s":0})"),
            "missing required field \"conference_id\"");
  EXPECT_EQ(OnlyError(Participant(R"(,"role":"host")")),
            "field \"role\" must be \"chair\", \"guest\" or \"participant\"");
  EXPECT_EQ(OnlyError(Participant(R"(,"party":{"nick":"a"})")), "unknown field \"party.nick\"");
  EXPECT_EQ(OnlyError(Participant(R"(,"party":[])")), "field \"party\" must be an object");
  EXPECT_EQ(OnlyError(Participant(R"(,"call_id":")" + std::string(201, 'c') + "\"")),
            "field \"call_id\" must be 0..200 bytes long");
  std::string bad = Participant();
  bad.replace(bad.find("600"), 3, "700");
  EXPECT_EQ(OnlyError(bad), "\"duration_s\" is longer than \"end\" - \"start\"");
  // A participant's samples belong to the participant, not to orig/dest.
  EXPECT_EQ(OnlyError(Participant(R"(,"quality":[{"party":"orig","direction":"rx","media":"audio"}])")),
            "field \"quality[0].party\" must be \"participant\"");
}

TEST(WireModel, BadDevices) {
  EXPECT_EQ(OnlyError(R"({"type":"device","source":"rprm","id":"d"})"), "missing required field \"observed_at\"");
  EXPECT_EQ(OnlyError(Device(R"(,"status":"up")")),
            "field \"status\" must be \"online\", \"offline\" or \"unknown\"");
  EXPECT_EQ(OnlyError(Device(R"(,"type2":"x")")), "unknown field \"type2\"");
  EXPECT_EQ(OnlyError(Device(R"(,"mac":null)")), "field \"mac\" must be a string");
  EXPECT_EQ(OnlyError(Device(R"(,"serial":"a\u0000")")), "field \"serial\" must not contain NUL");
}

TEST(WireModel, BadQualitySamples) {
  auto q = [](std::string_view sample) { return OnlyError(CallWithQuality("[" + std::string(sample) + "]")); };
  EXPECT_EQ(OnlyError(CallWithQuality("{}")), "field \"quality\" must be an array");
  EXPECT_EQ(q("1"), "field \"quality[0]\" must be an object");
  EXPECT_EQ(q(R"({"direction":"rx","media":"audio"})"), "missing required field \"quality[0].party\"");
  EXPECT_EQ(q(R"({"party":"participant","direction":"rx","media":"audio"})"),
            "field \"quality[0].party\" must be \"orig\" or \"dest\"");
  EXPECT_EQ(q(R"({"party":"orig","direction":"in","media":"audio"})"),
            "field \"quality[0].direction\" must be \"rx\" or \"tx\"");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"data"})"),
            "field \"quality[0].media\" must be \"audio\", \"video\" or \"content\"");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","loss":1})"),
            "unknown field \"quality[0].loss\"");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","packet_loss_pct_avg":100.5})"),
            "field \"quality[0].packet_loss_pct_avg\" must be 0..100");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","packet_loss_pct_max":-0.1})"),
            "field \"quality[0].packet_loss_pct_max\" must be 0..100");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","jitter_ms_avg":-1})"),
            "field \"quality[0].jitter_ms_avg\" must be >= 0");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","latency_ms_max":-1e-9})"),
            "field \"quality[0].latency_ms_max\" must be >= 0");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","mos":0.99})"),
            "field \"quality[0].mos\" must be 1..5");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","mos":5.01})"),
            "field \"quality[0].mos\" must be 1..5");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","mos":"4"})"),
            "field \"quality[0].mos\" must be a number");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","mos":null})"),
            "field \"quality[0].mos\" must be a number");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","bitrate_kbps":1.5})"),
            "field \"quality[0].bitrate_kbps\" must be an integer");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","bitrate_kbps":-1})"),
            "field \"quality[0].bitrate_kbps\" must be >= 0");
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio"},{"party":"orig","direction":"rx","media":"audio"})"),
            "second quality sample for orig/rx/audio");
  // A number too large for a double is not a measurement either.
  EXPECT_FALSE(Parse(CallWithQuality(R"([{"party":"orig","direction":"rx","media":"audio","jitter_ms_avg":1e400}])"))
                   .batch.has_value());
  // Record -> quality -> sample -> value is the deepest valid shape.
  EXPECT_EQ(q(R"({"party":"orig","direction":"rx","media":"audio","mos":[[1]]})"),
            "malformed JSON: nested too deeply");
}

// Every record type counts towards max_records; cursors do not.
TEST(WireModel, RecordLimitCountsEveryType) {
  std::string body = Conference() + "\n" + Participant() + "\n" + Device() + "\n" +
                     R"({"type":"cursor","source":"dma-main","value":"v"})" + "\n";
  EXPECT_TRUE(Parse(body, 3).batch.has_value());
  ParseOutcome out = Parse(body + CallWithQuality("[]"), 3);
  ASSERT_FALSE(out.batch.has_value());
  EXPECT_EQ(out.summary, "line 5: too many records: more than 3 records");
}

// A batch of only devices (an inventory poll) is not empty.
TEST(WireModel, DeviceOnlyBatchIsValid) { EXPECT_TRUE(Parse(Device()).batch.has_value()); }

// Serialize -> parse gives back the same record, for every type, and the
// serializers omit what is absent.
TEST(WireModel, RoundTripsEveryType) {
  ParseOutcome first = Parse(std::string(kFullConference) + "\n" + std::string(kFullParticipant) + "\n" +
                             std::string(kFullDevice) + "\n" +
                             CallWithQuality(R"([{"party":"dest","direction":"rx","media":"video","jitter_ms_avg":0.1}])"));
  ASSERT_TRUE(first.batch.has_value()) << first.summary;
  const Batch& b = *first.batch;
  std::vector<Record> records = {b.calls.at(0), b.conferences.at(0), b.participants.at(0), b.devices.at(0)};
  std::string body;
  for (const Record& r : records) body += SerializeRecord(r) + "\n";
  ParseOutcome second = Parse(body);
  ASSERT_TRUE(second.batch.has_value()) << second.summary;
  std::string again;
  again += SerializeCall(second.batch->calls.at(0)) + "\n";
  again += SerializeConference(second.batch->conferences.at(0)) + "\n";
  again += SerializeParticipant(second.batch->participants.at(0)) + "\n";
  again += SerializeDevice(second.batch->devices.at(0)) + "\n";
  EXPECT_EQ(body, again);
  // Doubles survive exactly (shortest round-trip form).
  EXPECT_EQ(*second.batch->calls.at(0).quality.at(0).jitter_ms_avg, 0.1);
  EXPECT_EQ(*second.batch->participants.at(0).quality.at(0).mos, 4.2);
  EXPECT_EQ(second.batch->conferences.at(0).scheduled_start, b.conferences.at(0).scheduled_start);
  // Unmeasured values are not written at all.
  std::string audio = SerializeParticipant(b.participants.at(0));
  EXPECT_NE(audio.find(R"({"party":"participant","direction":"tx","media":"audio"})"), std::string::npos) << audio;

  EXPECT_EQ(RecordId(records[0]), "c-1");
  EXPECT_EQ(RecordId(records[1]), "conf-9");
  EXPECT_EQ(RecordId(records[2]), "p-1");
  EXPECT_EQ(RecordId(records[3]), "dev-1");
}

// CheckRecord (the agent's check) must answer exactly what ParseBatch answers
// for the serialized line, accepted or refused and with the same reason, on
// records the parser accepts and on each way it refuses one.
TEST(WireModel, CheckRecordAgreesWithTheParserOnItsLine) {
  ParseOutcome full = Parse(std::string(kFullConference) + "\n" + std::string(kFullParticipant) + "\n" +
                            std::string(kFullDevice) + "\n" +
                            CallWithQuality(R"([{"party":"dest","direction":"rx","media":"video","mos":4.5}])"));
  ASSERT_TRUE(full.batch.has_value()) << full.summary;
  const CallRecord call = full.batch->calls.at(0);
  const ConferenceRecord conference = full.batch->conferences.at(0);
  const ParticipantRecord participant = full.batch->participants.at(0);
  const DeviceRecord device = full.batch->devices.at(0);
  const std::string too_long(20000, 'x');
  const std::string bad_utf8 = "caf\xc3";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  std::vector<Record> cases = {call, conference, participant, device};
  auto with_call = [&](auto change) {
    CallRecord c = call;
    change(c);
    cases.push_back(c);
  };
  with_call([](CallRecord& c) { c.id.clear(); });
  with_call([&](CallRecord& c) { c.id = too_long; });
  with_call([&](CallRecord& c) { c.orig.name = bad_utf8; });
  with_call([&](CallRecord& c) { c.dest.uri = std::string("a\0b\n\x01", 5); });
  with_call([](CallRecord& c) { c.end = c.start - 1; });
  with_call([](CallRecord& c) { c.duration_s = -1; });
  with_call([](CallRecord& c) { c.duration_s = c.end - c.start + 1; });
  with_call([](CallRecord& c) { c.bitrate_kbps = -5; });
  with_call([](CallRecord& c) { c.start = -62167219201; });
  with_call([](CallRecord& c) { c.quality.at(0).mos = 7; });
  with_call([&](CallRecord& c) { c.quality.at(0).mos = nan; });
  with_call([&](CallRecord& c) { c.quality.at(0).jitter_ms_avg = inf; });
  with_call([](CallRecord& c) { c.quality.at(0).packet_loss_pct_avg = 150; });
  with_call([](CallRecord& c) { c.quality.at(0).party = "participant"; });
  with_call([](CallRecord& c) { c.quality.at(0).media = "smell"; });
  with_call([](CallRecord& c) { c.quality.push_back(c.quality.at(0)); });
  with_call([](CallRecord& c) { c.quality.at(0).bitrate_kbps = -1; });
  ConferenceRecord conf = conference;
  conf.scheduled_end = conf.scheduled_start.value() - 60;
  cases.push_back(conf);
  conf = conference;
  conf.max_resources_used = -1;
  cases.push_back(conf);
  ParticipantRecord part = participant;
  part.conference_id.clear();
  cases.push_back(part);
  part = participant;
  part.quality.at(0).party = "orig";
  cases.push_back(part);
  DeviceRecord dev = device;
  dev.observed_at = 253402300800;  // year 10000
  cases.push_back(dev);
  dev = device;
  dev.timezone = bad_utf8;
  cases.push_back(dev);

  size_t refused = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string line = SerializeRecord(cases[i]);
    const ParseOutcome parsed = Parse(line, 1);
    const std::string expected = parsed.batch ? "" : parsed.errors.at(0).reason;
    const RecordCheck check = CheckRecord(cases[i]);
    EXPECT_EQ(check.line, line) << "case " << i;
    EXPECT_EQ(check.reason, expected) << "case " << i << ": " << line;
    if (!expected.empty()) ++refused;
  }
  // Most cases are refusals; the first four, the full records, are not.
  EXPECT_GE(refused, cases.size() - 8);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(CheckRecord(cases[i]).reason, "") << "case " << i;
}

TEST(WireModel, MinimalRecordsSerializeMinimally) {
  ConferenceRecord c;
  c.source = "s";
  c.id = "c";
  EXPECT_EQ(SerializeConference(c),
            R"({"type":"conference","source":"s","id":"c","start":"1970-01-01T00:00:00Z","end":"1970-01-01T00:00:00Z"})");
  DeviceRecord d;
  d.source = "s";
  d.id = "d";
  EXPECT_EQ(SerializeDevice(d), R"({"type":"device","source":"s","id":"d","observed_at":"1970-01-01T00:00:00Z"})");
  ParticipantRecord p;
  p.source = "s";
  p.id = "p";
  p.conference_id = "c";
  EXPECT_EQ(SerializeParticipant(p),
            R"({"type":"participant","source":"s","id":"p","conference_id":"c","start":"1970-01-01T00:00:00Z",)"
            R"("end":"1970-01-01T00:00:00Z","duration_s":0,"party":{}})");
  EXPECT_TRUE(Parse(SerializeConference(c) + "\n" + SerializeDevice(d) + "\n" + SerializeParticipant(p)).batch);
}

}  // namespace
}  // namespace parley::wire
