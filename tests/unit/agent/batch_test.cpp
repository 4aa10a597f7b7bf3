// BuildBatch (NDJSON body: records then the cursor line) and the BatchQueue
// memory bound.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "agent/uploader.h"
#include "wire/wire.h"

namespace parley::agent {
namespace {

wire::CallRecord Call(const std::string& id) {
  wire::CallRecord r;
  r.source = "dma-main";
  r.id = id;
  r.start = 1796371200;
  r.end = r.start + 60;
  r.duration_s = 58;
  r.protocol = "SIP";
  r.call_type = "PT-PT";
  r.orig.name = "Alice";
  return r;
}

std::vector<std::string> Lines(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    out.push_back(body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// The body is one line per record and ends with the cursor line; the server's
// validator accepts it and reads the same records and cursor back.
TEST(BuildBatch, RecordsThenCursorLine) {
  CollectedPage page;
  for (int i = 0; i < 3; ++i) page.records.push_back(Call("c-" + std::to_string(i)));
  page.next_cursor = "tok-3";
  auto b = BuildBatch("dma-main", "tok-0", page, 500, "6f1c2b9e-0d1a-4c8e-9b7a-2f3e4d5c6b7a", nullptr);
  ASSERT_TRUE(b.ok()) << b.error().detail;
  EXPECT_EQ(b->records, 3u);
  EXPECT_EQ(b->base_cursor, "tok-0");
  EXPECT_EQ(b->next_cursor, "tok-3");
  ASSERT_EQ(b->body.back(), '\n');
  auto lines = Lines(b->body);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines.back(), wire::SerializeCursor({"dma-main", "tok-3"}));
  EXPECT_EQ(lines[0], wire::SerializeRecord(page.records[0]));

  auto parsed = wire::ParseBatch(b->body, wire::BatchLimits{500});
  ASSERT_TRUE(parsed.batch.has_value()) << parsed.summary;
  EXPECT_EQ(parsed.batch->calls.size(), 3u);
  ASSERT_EQ(parsed.batch->cursors.size(), 1u);
  EXPECT_EQ(parsed.batch->cursors[0].value, "tok-3");
}

// With several uploads in flight the cursor line also names the cursor the
// page was fetched after ("" for a source's first page).
TEST(BuildBatch, CursorLineNamesTheBaseCursorWhenAsked) {
  CollectedPage page;
  page.records.push_back(Call("c-1"));
  page.next_cursor = "tok-1";
  for (std::string base : {"tok-0", ""}) {
    auto b = BuildBatch("dma-main", base, page, 10, "6f1c2b9e-0d1a-4c8e-9b7a-2f3e4d5c6b7a", nullptr,
                        CursorLine::kWithAfter);
    ASSERT_TRUE(b.ok()) << b.error().detail;
    auto parsed = wire::ParseBatch(b->body, wire::BatchLimits{10});
    ASSERT_TRUE(parsed.batch.has_value()) << parsed.summary;
    EXPECT_EQ(parsed.batch->cursors.at(0).value, "tok-1");
    EXPECT_EQ(parsed.batch->cursors.at(0).after, std::optional<std::string>(base));
  }
}

// A page whose records were all skipped still moves the cursor.
TEST(BuildBatch, CursorOnlyBatch) {
  CollectedPage page;
  page.next_cursor = "tok-9";
  auto b = BuildBatch("dma-main", "tok-0", page, 10, "6f1c2b9e-0d1a-4c8e-9b7a-2f3e4d5c6b7a", nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->records, 0u);
  EXPECT_EQ(Lines(b->body).size(), 1u);
  EXPECT_TRUE(wire::ParseBatch(b->body, wire::BatchLimits{10}).batch.has_value());
}

// Never more than max_batch_records records in a batch.
TEST(BuildBatch, RefusesMoreThanMaxRecords) {
  CollectedPage page;
  for (int i = 0; i < 5; ++i) page.records.push_back(Call("c-" + std::to_string(i)));
  page.next_cursor = "t";
  auto b = BuildBatch("dma-main", "", page, 4, "6f1c2b9e-0d1a-4c8e-9b7a-2f3e4d5c6b7a", nullptr);
  ASSERT_FALSE(b.ok());
  b = BuildBatch("dma-main", "", page, 5, "6f1c2b9e-0d1a-4c8e-9b7a-2f3e4d5c6b7a", nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->records, 5u);
}

// A record the server would refuse is left out (and reported), so it cannot
// make the whole batch fail forever.
TEST(BuildBatch, LeavesOutRecordsTheServerWouldRefuse) {
  CollectedPage page;
  page.records.push_back(Call("ok"));
  wire::CallRecord bad = Call("too-long");
  bad.duration_s = 3600;  // longer than end - start
  page.records.push_back(bad);
  page.next_cursor = "t";
  std::vector<RejectedRecord> rejected;
  auto b = BuildBatch("dma-main", "", page, 10, "6f1c2b9e-0d1a-4c8e-9b7a-2f3e4d5c6b7a", &rejected);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->records, 1u);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].id, "too-long");
  EXPECT_EQ(rejected[0].reason.find("Alice"), std::string::npos);
}

// At most `capacity` slots are held; a further AcquireSlot waits for a release.
TEST(BatchQueue, BoundsBatchesInMemory) {
  BatchQueue q(2);
  ASSERT_TRUE(q.AcquireSlot());
  ASSERT_TRUE(q.AcquireSlot());
  EXPECT_EQ(q.slots_held(), 2u);
  std::atomic<bool> acquired{false};
  std::thread t([&] {
    acquired = q.AcquireSlot();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(acquired.load());
  q.ReleaseSlot();
  t.join();
  EXPECT_TRUE(acquired.load());
  EXPECT_EQ(q.slots_held(), 2u);
}

// FIFO order; Close wakes a blocked consumer.
TEST(BatchQueue, FifoAndClose) {
  BatchQueue q(4);
  BuiltBatch a, b;
  a.source = "a";
  b.source = "b";
  q.Push(a);
  q.Push(b);
  EXPECT_EQ(q.Pop()->source, "a");
  EXPECT_EQ(q.Pop()->source, "b");
  std::thread t([&] { EXPECT_FALSE(q.Pop().has_value()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.Close();
  t.join();
  EXPECT_FALSE(q.AcquireSlot());
}

}  // namespace
}  // namespace parley::agent
