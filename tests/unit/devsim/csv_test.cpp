#include "devsim/csv.h"

#include <gtest/gtest.h>

namespace parley::devsim {
namespace {

TEST(CsvTest, PlainValuesAreNotQuoted) {
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("CALL"), "CALL");
  EXPECT_EQ(CsvField("London HQ - Atlas"), "London HQ - Atlas");  // inner spaces are fine
  EXPECT_EQ(CsvField("EXAMPLE\\alice.smith"), "EXAMPLE\\alice.smith");
  EXPECT_EQ(CsvField("video: 4 voice: 0"), "video: 4 voice: 0");
  EXPECT_EQ(CsvField("2026-12-04T16:00:00.000+01:00"), "2026-12-04T16:00:00.000+01:00");
}

TEST(CsvTest, LeadingOrTrailingSpaceOrTabIsQuoted) {
  EXPECT_EQ(CsvField(" lead"), "\" lead\"");
  EXPECT_EQ(CsvField("trail "), "\"trail \"");
  EXPECT_EQ(CsvField("\tlead"), "\"\tlead\"");
  EXPECT_EQ(CsvField("trail\t"), "\"trail\t\"");
  EXPECT_EQ(CsvField(" "), "\" \"");
}

TEST(CsvTest, CommaIsQuoted) {
  EXPECT_EQ(CsvField("Sales, EMEA"), "\"Sales, EMEA\"");
  EXPECT_EQ(CsvField(","), "\",\"");
}

TEST(CsvTest, QuotesAreDoubledAndQuoted) {
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("\""), "\"\"\"\"");
  EXPECT_EQ(CsvField("\"Alice Smith\" <sip:alice.smith@example.org>;tag=1a2b"),
            "\"\"\"Alice Smith\"\" <sip:alice.smith@example.org>;tag=1a2b\"");
  EXPECT_EQ(CsvField("a,\"b\""), "\"a,\"\"b\"\"\"");
}

TEST(CsvTest, LineBreaksAreQuoted) {
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
}

TEST(CsvTest, RowsJoinWithCommasAndEndWithCrlf) {
  EXPECT_EQ(CsvRow({}), "\r\n");
  EXPECT_EQ(CsvRow({"a"}), "a\r\n");
  EXPECT_EQ(CsvRow({"a", "", "b c", "d,e", " f"}), "a,,b c,\"d,e\",\" f\"\r\n");
}

}  // namespace
}  // namespace parley::devsim
