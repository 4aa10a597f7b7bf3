// ParseBatch / SerializeCall / SerializeCursor: the v1 NDJSON batch schema.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "wire/wire.h"

namespace parley::wire {
namespace {

// A complete, valid call record line with every field set.
constexpr std::string_view kFullCall =
    R"({"type":"call","source":"dma-main","id":"c-1","start":"2026-12-04T16:26:16Z",)"
    R"("end":"2026-12-04T16:30:16Z","duration_s":230,"status":"failed","protocol":"SIP",)"
    R"("call_type":"PT-PT","cause":"486:BUSY HERE","bitrate_kbps":1920,"conference_id":"conf-9",)"
    R"("orig":{"name":"Alice","number":"1001","uri":"sip:alice@example.com","ip":"10.0.0.1",)"
    R"("model":"RealPresence","version":"6.4.2","site":"Paris"},)"
    R"("dest":{"name":"Bob","number":"1002","uri":"sip:bob@example.com","ip":"10.0.0.2",)"
    R"("model":"Group 500","version":"6.2.0","site":"Lyon"}})";

// A minimal valid call record; `extra` (",\"k\":v") is appended before the closing brace.
std::string MinimalCall(std::string_view extra = "", std::string_view id = "c-2") {
  std::string s = R"({"type":"call","source":"dma-main","id":")" + std::string(id) +
                  R"(","start":"2026-12-04T16:26:16Z","end":"2026-12-04T16:27:16Z",)"
                  R"("duration_s":60,"status":"completed","protocol":"SIP","call_type":"VMR",)"
                  R"("orig":{},"dest":{})";
  s += extra;
  s += "}";
  return s;
}

constexpr std::string_view kCursor = R"({"type":"cursor","source":"dma-main","value":"2026-12-04T16:30:16Z#c-1"})";

ParseOutcome Parse(std::string_view body, int64_t max_records = 5000) {
  BatchLimits limits;
  limits.max_records = max_records;
  return ParseBatch(body, limits);
}

// Parses a body expected to hold exactly one bad line and returns its reason.
std::string OnlyError(std::string_view body) {
  ParseOutcome out = Parse(body);
  EXPECT_FALSE(out.batch.has_value());
  EXPECT_EQ(out.errors.size(), 1u);
  return out.errors.empty() ? std::string() : out.errors.front().reason;
}

// A record with every field set parses into every struct member.
TEST(WireBatch, GoodBatchParsesWithAllFields) {
  ParseOutcome out = Parse(std::string(kFullCall) + "\n" + std::string(kCursor) + "\n");
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  EXPECT_TRUE(out.errors.empty());
  ASSERT_EQ(out.batch->calls.size(), 1u);
  const CallRecord& c = out.batch->calls[0];
  EXPECT_EQ(c.source, "dma-main");
  EXPECT_EQ(c.id, "c-1");
  EXPECT_EQ(c.start, 1796401576);
  EXPECT_EQ(c.end, 1796401576 + 240);
  EXPECT_EQ(c.duration_s, 230);
  EXPECT_EQ(c.status, CallStatus::kFailed);
  EXPECT_EQ(c.protocol, "SIP");
  EXPECT_EQ(c.call_type, "PT-PT");
  EXPECT_EQ(c.cause, "486:BUSY HERE");
  EXPECT_EQ(c.bitrate_kbps, 1920);
  EXPECT_EQ(c.conference_id, "conf-9");
  EXPECT_EQ(c.orig.name, "Alice");
  EXPECT_EQ(c.orig.number, "1001");
  EXPECT_EQ(c.orig.uri, "sip:alice@example.com");
  EXPECT_EQ(c.orig.ip, "10.0.0.1");
  EXPECT_EQ(c.orig.model, "RealPresence");
  EXPECT_EQ(c.orig.version, "6.4.2");
  EXPECT_EQ(c.orig.site, "Paris");
  EXPECT_EQ(c.dest.name, "Bob");
  EXPECT_EQ(c.dest.site, "Lyon");
  ASSERT_EQ(out.batch->cursors.size(), 1u);
  EXPECT_EQ(out.batch->cursors[0].source, "dma-main");
  EXPECT_EQ(out.batch->cursors[0].value, "2026-12-04T16:30:16Z#c-1");
}

// Optional fields may be absent; absent party fields read as "".
TEST(WireBatch, OptionalFieldsDefaultToEmpty) {
  ParseOutcome out = Parse(MinimalCall());
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  const CallRecord& c = out.batch->calls[0];
  EXPECT_EQ(c.status, CallStatus::kCompleted);
  EXPECT_EQ(c.cause, "");
  EXPECT_EQ(c.bitrate_kbps, 0);
  EXPECT_EQ(c.conference_id, "");
  EXPECT_EQ(c.orig.name, "");
}

// Timestamps with offsets and fractions are normalised to Unix seconds.
TEST(WireBatch, TimestampOffsetsAreNormalised) {
  std::string line = MinimalCall();
  line.replace(line.find("2026-12-04T16:26:16Z"), 20, "2026-12-04T17:26:16.250+01:00");
  ParseOutcome out = Parse(line);
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  EXPECT_EQ(out.batch->calls[0].start, 1796401576);
}

// What SerializeCall/SerializeCursor write, ParseBatch reads back unchanged.
TEST(WireBatch, SerializeParseRoundTrip) {
  CallRecord c;
  c.source = "dma.main_2";
  c.id = "id with \"quotes\" and \\ and \n newline";
  c.start = 1796401576;
  c.end = 1796401576 + 100;
  c.duration_s = 101;  // within the one-second tolerance
  c.status = CallStatus::kFailed;
  c.protocol = "H.323";
  c.call_type = "PT-PT";
  c.cause = "486:BUSY HERE";
  c.bitrate_kbps = 768;
  c.conference_id = "conf";
  c.orig = {"Zoë Ünicode 名前", "+33 1 23", "sip:z@example.com", "2001:db8::1", "m", "v", "s"};
  c.dest.number = "1002";
  CursorUpdate cur{"dma.main_2", "opaque\tcursor"};

  std::string line = SerializeCall(c);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find("\"site\":\"\""), std::string::npos) << "empty fields are omitted";
  std::string cursor_line = SerializeCursor(cur);
  ParseOutcome out = Parse(line + "\n" + cursor_line);
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  const CallRecord& r = out.batch->calls.at(0);
  EXPECT_EQ(r.source, c.source);
  EXPECT_EQ(r.id, c.id);
  EXPECT_EQ(r.start, c.start);
  EXPECT_EQ(r.end, c.end);
  EXPECT_EQ(r.duration_s, c.duration_s);
  EXPECT_EQ(r.status, c.status);
  EXPECT_EQ(r.protocol, c.protocol);
  EXPECT_EQ(r.call_type, c.call_type);
  EXPECT_EQ(r.cause, c.cause);
  EXPECT_EQ(r.bitrate_kbps, c.bitrate_kbps);
  EXPECT_EQ(r.conference_id, c.conference_id);
  EXPECT_EQ(r.orig.name, c.orig.name);
  EXPECT_EQ(r.orig.ip, c.orig.ip);
  EXPECT_EQ(r.orig.site, c.orig.site);
  EXPECT_EQ(r.dest.number, c.dest.number);
  EXPECT_EQ(r.dest.name, "");
  EXPECT_EQ(out.batch->cursors.at(0).source, cur.source);
  EXPECT_EQ(out.batch->cursors.at(0).value, cur.value);
}

// Errors carry the 1-based physical line number, blank lines included.
TEST(WireBatch, ReportsLineNumberOfBadRecord) {
  std::string body = MinimalCall() + "\n\n" + MinimalCall(R"(,"bogus":1)") + "\n" + std::string(kCursor) + "\n";
  ParseOutcome out = Parse(body);
  ASSERT_FALSE(out.batch.has_value());
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 3);
  EXPECT_EQ(out.summary, "line 3: unknown field \"bogus\"");
}

// Every bad line is listed, up to 20.
TEST(WireBatch, CollectsUpToTwentyErrors) {
  std::string body;
  for (int i = 0; i < 30; ++i) body += "nope\n";
  ParseOutcome out = Parse(body);
  ASSERT_FALSE(out.batch.has_value());
  EXPECT_EQ(out.errors.size(), 20u);
  EXPECT_EQ(out.errors.back().line, 20);
  EXPECT_EQ(out.summary.rfind("line 1: malformed JSON", 0), 0u) << out.summary;
}

// A line that is not JSON is refused as malformed.
TEST(WireBatch, MalformedJsonLine) {
  EXPECT_EQ(OnlyError(R"({"type":"call",)").rfind("malformed JSON", 0), 0u);
  EXPECT_EQ(OnlyError(MinimalCall() + " trailing").rfind("malformed JSON", 0), 0u);
}

// Valid JSON that is not an object is refused.
TEST(WireBatch, NonObjectLine) {
  EXPECT_EQ(OnlyError("[1,2,3]"), "record must be a JSON object");
  EXPECT_EQ(OnlyError("\"call\""), "record must be a JSON object");
  EXPECT_EQ(OnlyError("null"), "record must be a JSON object");
}

// Unknown and missing "type" values are refused and named.
TEST(WireBatch, UnknownRecordType) {
  EXPECT_EQ(OnlyError(R"({"type":"x","source":"dma-main"})"), "unknown record type \"x\"");
  EXPECT_EQ(OnlyError(R"({"source":"dma-main"})"), "missing required field \"type\"");
  EXPECT_EQ(OnlyError(R"({"type":7})"), "field \"type\" must be a string");
}

// Fields outside the schema are refused, nested ones with their path.
TEST(WireBatch, UnknownField) {
  EXPECT_EQ(OnlyError(MinimalCall(R"(,"extra":"x")")), "unknown field \"extra\"");
  std::string line = MinimalCall();
  line.replace(line.find(R"("orig":{})"), 9, R"("orig":{"nickname":"a"})");
  EXPECT_EQ(OnlyError(line), "unknown field \"orig.nickname\"");
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"a","value":"v","x":1})"), "unknown field \"x\"");
}

// The same key twice in one object is refused (parsers disagree on which wins).
TEST(WireBatch, DuplicateField) {
  EXPECT_EQ(OnlyError(MinimalCall(R"(,"id":"other")")), "duplicate field \"id\"");
  // In a nested object, also after another nested object closed.
  std::string nested(kFullCall);
  nested.replace(nested.find(R"("site":"Lyon")"), 13, R"("site":"Lyon","name":"Eve")");
  EXPECT_EQ(OnlyError(nested), "duplicate field \"name\"");
  // A key of a closed nested object, or of the line before, is no duplicate.
  std::string sibling = MinimalCall(R"(,"cause":"x")");
  sibling.replace(sibling.find(R"("orig":{})"), 9, R"("orig":{"site":"a","model":"b"})");
  sibling.replace(sibling.find(R"("dest":{})"), 9, R"("dest":{"model":"c","site":"d"})");
  ParseOutcome out = Parse(sibling + "\n" + sibling + "\n" + std::string(kFullCall) + "\n" + std::string(kCursor));
  ASSERT_TRUE(out.batch) << out.summary;
  EXPECT_EQ(out.batch->calls.size(), 3u);
  EXPECT_EQ(out.batch->calls[0].dest.site, "d");
  // Each line is checked on its own: a duplicate on the second line of a batch.
  ParseOutcome second = Parse(std::string(kFullCall) + "\n" + MinimalCall(R"(,"status":"failed")") + "\n");
  ASSERT_FALSE(second.batch);
  EXPECT_EQ(second.summary, "line 2: duplicate field \"status\"");
  // The parse stops at a duplicate, yet what comes first in the order of
  // the checks is still named: JSON broken further on, a line that is not an
  // object, invalid UTF-8 after the duplicate.
  EXPECT_EQ(OnlyError(MinimalCall(R"(,"id":"other")") + " trailing").rfind("malformed JSON", 0), 0u);
  EXPECT_EQ(OnlyError(R"([{"a":1,"a":2}])"), "record must be a JSON object");
  std::string bad_bytes = MinimalCall(std::string(R"(,"id":"other","cause":")") + "\xFF\"");
  EXPECT_EQ(OnlyError(bad_bytes), "invalid UTF-8");
  // Duplicates in an array's objects and after a deep closed object.
  std::string in_array = MinimalCall();
  in_array.replace(in_array.find(R"("orig":{})"), 9, R"("orig":{"model":"m","model":"n"})");
  EXPECT_EQ(OnlyError(in_array), "duplicate field \"model\"");
}

// A JSON type other than the schema's is refused with the field named.
TEST(WireBatch, WrongFieldType) {
  std::string line = MinimalCall();
  line.replace(line.find(R"("duration_s":60)"), 15, R"("duration_s":"60")");
  EXPECT_EQ(OnlyError(line), "field \"duration_s\" must be an integer");
  line = MinimalCall();
  line.replace(line.find(R"("duration_s":60)"), 15, R"("duration_s":60.0)");
  EXPECT_EQ(OnlyError(line), "field \"duration_s\" must be an integer");
  line = MinimalCall();
  line.replace(line.find(R"("orig":{})"), 9, R"("orig":{"name":42})");
  EXPECT_EQ(OnlyError(line), "field \"orig.name\" must be a string");
  line = MinimalCall();
  line.replace(line.find(R"("dest":{})"), 9, R"("dest":"bob")");
  EXPECT_EQ(OnlyError(line), "field \"dest\" must be an object");
  EXPECT_EQ(OnlyError(MinimalCall(R"(,"bitrate_kbps":-1)")), "field \"bitrate_kbps\" must be >= 0");
  EXPECT_EQ(OnlyError(MinimalCall(R"(,"bitrate_kbps":18446744073709551615)")),
            "field \"bitrate_kbps\" is out of range");
}

// Each required field, when absent, is named.
TEST(WireBatch, MissingRequiredField) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"source", R"("dma-main")"}, {"id", R"("c")"},          {"start", R"("2026-12-04T16:26:16Z")"},
      {"end", R"("2026-12-04T16:27:16Z")"}, {"duration_s", "60"}, {"status", R"("completed")"},
      {"protocol", R"("SIP")"},    {"call_type", R"("VMR")"}, {"orig", "{}"},
      {"dest", "{}"}};
  for (const auto& missing : fields) {
    std::string line = R"({"type":"call")";
    for (const auto& [key, value] : fields) {
      if (key != missing.first) line += ",\"" + key + "\":" + value;
    }
    line += "}";
    EXPECT_EQ(OnlyError(line), "missing required field \"" + missing.first + "\"") << line;
  }
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"a"})"), "missing required field \"value\"");
}

// end must not precede start; duration_s must fit between them (+1 s).
TEST(WireBatch, EndBeforeStart) {
  std::string line = MinimalCall();
  line.replace(line.find("2026-12-04T16:27:16Z"), 20, "2026-12-04T16:26:15Z");
  EXPECT_EQ(OnlyError(line), "\"end\" is before \"start\"");
  line = MinimalCall();
  line.replace(line.find(R"("duration_s":60)"), 15, R"("duration_s":62)");
  EXPECT_EQ(OnlyError(line), "\"duration_s\" is longer than \"end\" - \"start\"");
  line = MinimalCall();
  line.replace(line.find(R"("duration_s":60)"), 15, R"("duration_s":61)");
  EXPECT_TRUE(Parse(line).batch.has_value());
}

// Timestamps that are not RFC 3339 are refused.
TEST(WireBatch, BadTimestamp) {
  for (std::string_view bad : {"2026-12-04 16:26", "2026-02-31T00:00:00Z", "1796401576", "2026-12-04T16:26:16",
                               "1969-12-31T23:59:59Z", "9999-12-31T23:59:59-00:01"}) {
    std::string line = MinimalCall();
    line.replace(line.find("2026-12-04T16:26:16Z"), 20, bad);
    EXPECT_EQ(OnlyError(line), "field \"start\" must be an RFC 3339 timestamp") << bad;
  }
}

// Strings outside their bounds and bad source names are refused.
TEST(WireBatch, StringBounds) {
  EXPECT_EQ(OnlyError(MinimalCall("", "")), "field \"id\" must be 1..200 bytes long");
  EXPECT_EQ(OnlyError(MinimalCall("", std::string(201, 'x'))), "field \"id\" must be 1..200 bytes long");
  EXPECT_TRUE(Parse(MinimalCall("", std::string(200, 'x'))).batch.has_value());
  std::string line = MinimalCall();
  line.replace(line.find(R"("orig":{})"), 9, R"("orig":{"name":")" + std::string(1025, 'n') + "\"}");
  EXPECT_EQ(OnlyError(line), "field \"orig.name\" must be 0..1024 bytes long");
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"dma main","value":"v"})"),
            "field \"source\" must be 1..64 characters of [A-Za-z0-9._-]");
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"a","value":")" + std::string(1025, 'v') + "\"}"),
            "field \"value\" must be 0..1024 bytes long");
  EXPECT_EQ(OnlyError(MinimalCall("", R"(a\u0000b)")), "field \"id\" must not contain NUL");
  EXPECT_EQ(OnlyError(MinimalCall(R"(,"status2":1)")), "unknown field \"status2\"");
  line = MinimalCall();
  line.replace(line.find("completed"), 9, "done");
  EXPECT_EQ(OnlyError(line), "field \"status\" must be \"completed\" or \"failed\"");
}

// More records than the limit are refused at the first one too many.
TEST(WireBatch, TooManyRecords) {
  std::string body;
  for (int i = 0; i < 4; ++i) {
    // Built with += : GCC 12 -O2 warns falsely (-Wrestrict, PR105329) on "c" + std::string.
    std::string id = "c";
    id += std::to_string(i);
    body += MinimalCall("", id) + "\n";
  }
  EXPECT_TRUE(Parse(body, 4).batch.has_value());
  ParseOutcome out = Parse(body, 3);
  ASSERT_FALSE(out.batch.has_value());
  EXPECT_EQ(out.summary, "line 4: too many records: more than 3 records");
}

// A body with no records at all is refused.
TEST(WireBatch, EmptyBatch) {
  for (std::string_view body : {"", "\n", "\n\n\r\n"}) {
    ParseOutcome out = Parse(body);
    ASSERT_FALSE(out.batch.has_value());
    ASSERT_EQ(out.errors.size(), 1u);
    EXPECT_EQ(out.errors[0].line, 0);
    EXPECT_EQ(out.summary, "empty batch");
  }
}

// Bytes that are not UTF-8 are refused with their line number.
TEST(WireBatch, InvalidUtf8) {
  std::string line = MinimalCall("", "caf\xC3\xA9");  // valid: "café"
  EXPECT_TRUE(Parse(line).batch.has_value());
  for (std::string_view bad : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"}) {
    std::string body = std::string(kCursor) + "\n" + MinimalCall("", bad);
    ParseOutcome out = Parse(body);
    ASSERT_FALSE(out.batch.has_value());
    EXPECT_EQ(out.summary, "line 2: invalid UTF-8");
  }
  // Wherever a bad or good sequence falls against the validator's 8-byte
  // ASCII steps.
  for (size_t before = 0; before < 17; ++before) {
    const std::string ascii(before, 'a');
    EXPECT_TRUE(Parse(MinimalCall("", ascii + "caf\xC3\xA9" + ascii)).batch.has_value()) << before;
    for (std::string_view bad : {"\xC3", "\xED\xA0\x80", "\xFF"}) {
      ParseOutcome out = Parse(MinimalCall("", ascii + std::string(bad) + ascii));
      ASSERT_FALSE(out.batch.has_value()) << before;
      EXPECT_EQ(out.summary, "line 1: invalid UTF-8") << before;
    }
  }
  // A lone surrogate escape is not a character either.
  EXPECT_FALSE(Parse(MinimalCall("", R"(\ud800)")).batch.has_value());
}

// A batch carrying only a cursor (nothing new collected) is fine; CRLF too.
TEST(WireBatch, CursorOnlyBatchOk) {
  ParseOutcome out = Parse(std::string(kCursor) + "\r\n");
  ASSERT_TRUE(out.batch.has_value()) << out.summary;
  EXPECT_TRUE(out.batch->calls.empty());
  ASSERT_EQ(out.batch->cursors.size(), 1u);
}

// "after" (the cursor the batch was collected after) is optional; empty
// means the source's beginning, and it round-trips through SerializeCursor.
TEST(WireBatch, CursorAfterIsOptionalAndRoundTrips) {
  ParseOutcome plain = Parse(std::string(kCursor));
  ASSERT_TRUE(plain.batch.has_value()) << plain.summary;
  EXPECT_FALSE(plain.batch->cursors.at(0).after.has_value());

  for (std::string after : {std::string(), std::string("2026-12-04T16:00:00Z#c-0"), std::string(1024, 'a')}) {
    CursorUpdate cur{"dma-main", "2026-12-04T16:30:16Z#c-1", after};
    ParseOutcome out = Parse(SerializeCursor(cur));
    ASSERT_TRUE(out.batch.has_value()) << out.summary;
    ASSERT_TRUE(out.batch->cursors.at(0).after.has_value());
    EXPECT_EQ(*out.batch->cursors.at(0).after, after);
  }
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"a","value":"v","after":1})"), "field \"after\" must be a string");
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"a","value":"v","after":")" + std::string(1025, 'v') + "\"}"),
            "field \"after\" must be 0..1024 bytes long");
  EXPECT_EQ(OnlyError(R"({"type":"cursor","source":"a","value":"v","after":"x\u0000"})"),
            "field \"after\" must not contain NUL");
}

// Two cursors for one source in a batch are ambiguous and refused.
TEST(WireBatch, DuplicateCursorForSource) {
  ParseOutcome out = Parse(std::string(kCursor) + "\n" + std::string(kCursor));
  ASSERT_FALSE(out.batch.has_value());
  EXPECT_EQ(out.summary, "line 2: second cursor record for source \"dma-main\"");
}

// Deeply nested input is refused without building it.
TEST(WireBatch, DeepNestingRefused) {
  std::string deep = R"({"type":"call","orig":)" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_EQ(OnlyError(deep), "malformed JSON: nested too deeply");
}

// Echoed input in reasons is truncated and printable.
TEST(WireBatch, EchoedInputIsSanitised) {
  std::string reason = OnlyError(R"({"type":")" + std::string(100, 't') + R"(\n"})");
  EXPECT_EQ(reason, "unknown record type \"" + std::string(64, 't') + "...\"");
  EXPECT_EQ(OnlyError(R"({"type":"a\"b\u0001"})"), R"(unknown record type "a\"b?")");
}

// Times outside [earliest_time, latest_time] refuse that record alone, with
// its line, type, source and a reason without values; a structural error
// still refuses the whole batch.
TEST(BatchTimes, ImplausibleTimesRefuseOnlyTheirRecord) {
  BatchLimits limits;
  limits.earliest_time = 1796400000;  // 2026-12-04T16:00:00Z
  limits.latest_time = 1796400000 + 3600;
  std::string body = MinimalCall() + "\n" +
                     R"({"type":"call","source":"s2","id":"x","start":"2026-12-04T15:59:59Z","end":"2026-12-04T16:10:00Z","duration_s":1,"status":"completed","protocol":"SIP","call_type":"VMR","orig":{},"dest":{}})"
                     "\n" +
                     R"({"type":"conference","source":"dma-main","id":"f","start":"2026-12-04T16:10:00Z","end":"2026-12-04T16:20:00Z","scheduled_end":"2026-12-04T17:00:01Z"})"
                     "\n" + std::string(kCursor) + "\n";
  ParseOutcome out = ParseBatch(body, limits);
  ASSERT_TRUE(out.batch) << out.summary;
  EXPECT_EQ(out.batch->calls.size(), 1u);
  EXPECT_TRUE(out.batch->conferences.empty());
  EXPECT_EQ(out.batch->cursors.size(), 1u);
  ASSERT_EQ(out.refused.size(), 2u);
  EXPECT_EQ(out.refused[0].line, 2);
  EXPECT_EQ(out.refused[0].type, "call");
  EXPECT_EQ(out.refused[0].source, "s2");
  EXPECT_EQ(out.refused[0].reason, "start is before the earliest accepted time");
  EXPECT_EQ(out.refused[1].line, 3);
  EXPECT_EQ(out.refused[1].reason, "scheduled_end is too far in the future");

  // Only refused records (and no cursor): still a batch, not "empty".
  ParseOutcome only_refused = ParseBatch(
      R"({"type":"device","source":"r","id":"d","observed_at":"2030-01-01T00:00:00Z"})", limits);
  ASSERT_TRUE(only_refused.batch) << only_refused.summary;
  EXPECT_EQ(only_refused.refused.size(), 1u);

  // A malformed line next to an implausible one: the whole batch is refused.
  ParseOutcome broken = ParseBatch(body + "{not json}\n", limits);
  EXPECT_FALSE(broken.batch);
  EXPECT_TRUE(broken.refused.empty());

  // Default limits accept any time.
  EXPECT_TRUE(Parse(body).refused.empty());
}

}  // namespace
}  // namespace parley::wire
