// InFlightBatches: a refused batch waits for another batch of its agent
// while one is working, and never for a batch that is itself waiting.
#include "ingest/in_flight_batches.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <optional>
#include <thread>

namespace parley::ingest {
namespace {

using std::chrono::milliseconds;

TEST(InFlightBatches, AloneThereIsNothingToWaitFor) {
  InFlightBatches flights;
  auto ticket = flights.Enter("a1");
  auto other_agent = flights.Enter("a2");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(flights.AwaitAnother(ticket, flights.Finished(ticket), milliseconds(5000)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));  // at once, not after the limit
}

TEST(InFlightBatches, AFinishMissedDuringTheCommitCountsAtOnce) {
  InFlightBatches flights;
  auto ticket = flights.Enter("a1");
  const uint64_t before = flights.Finished(ticket);
  { auto other = flights.Enter("a1"); }  // finished while "ticket" was committing
  EXPECT_TRUE(flights.AwaitAnother(ticket, before, milliseconds(0)));
}

TEST(InFlightBatches, WaitsForAWorkingBatchToFinish) {
  InFlightBatches flights;
  auto ticket = flights.Enter("a1");
  std::optional<InFlightBatches::Ticket> other(flights.Enter("a1"));
  auto waited = std::async(std::launch::async, [&] {
    return flights.AwaitAnother(ticket, flights.Finished(ticket), milliseconds(10000));
  });
  while (flights.Working("a1") != 1) std::this_thread::sleep_for(milliseconds(1));  // "ticket" waits
  EXPECT_EQ(waited.wait_for(milliseconds(50)), std::future_status::timeout);
  other.reset();
  EXPECT_TRUE(waited.get());
  EXPECT_EQ(flights.Working("a1"), 1);  // working again, to retry
}

// Two batches whose predecessor is lost: each is refused; the second finds
// the first waiting, so it gives up at once, and its finishing wakes the first.
TEST(InFlightBatches, TwoWaitingBatchesDoNotWaitForEachOther) {
  InFlightBatches flights;
  auto first = flights.Enter("a1");
  std::optional<InFlightBatches::Ticket> second(flights.Enter("a1"));
  auto first_waited = std::async(std::launch::async, [&] {
    return flights.AwaitAnother(first, flights.Finished(first), milliseconds(10000));
  });
  while (flights.Working("a1") != 1) std::this_thread::sleep_for(milliseconds(1));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(flights.AwaitAnother(*second, flights.Finished(*second), milliseconds(10000)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(1000));
  second.reset();  // answered 409
  EXPECT_TRUE(first_waited.get());  // retries once, is refused again, then gives up alone
  EXPECT_FALSE(flights.AwaitAnother(first, flights.Finished(first), milliseconds(10000)));
}

TEST(InFlightBatches, GivesUpAfterTheLimit) {
  InFlightBatches flights;
  auto ticket = flights.Enter("a1");
  auto stuck = flights.Enter("a1");
  EXPECT_FALSE(flights.AwaitAnother(ticket, flights.Finished(ticket), milliseconds(50)));
  EXPECT_EQ(flights.Working("a1"), 2);
}

}  // namespace
}  // namespace parley::ingest
