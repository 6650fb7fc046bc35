// Copyright (c) cairn authors. Licensed under the Apache License, Version 2.0.
//
// docs/guarantees.md, "Errors and what to do": the value types of the API — Status, Result
// (value() on an error aborts with a message, never throws), EventId, ExpectedVersion.
#include <set>

#include "test_util.h"

namespace cairn {
namespace {

TEST(EventIdTest, ParsesAndPrintsCanonicalForm) {
  auto id = EventId::Parse("0190C6F3-6A1E-7B8C-9D0E-1F2A3B4C5D6E");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->ToString(), "0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6e");
}

TEST(EventIdTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "0190c6f3", "0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6",
        "0190c6f3x6a1e-7b8c-9d0e-1f2a3b4c5d6e", "0190c6f3-6a1e-7b8c-9d0e-1f2a3b4c5d6g"}) {
    auto id = EventId::Parse(bad);
    EXPECT_FALSE(id.ok()) << bad;
    EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(EventIdTest, GeneratesDistinctVersion7Ids) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    EventId id = EventId::Generate();
    EXPECT_EQ(id.bytes()[6] >> 4, 7);
    EXPECT_EQ(id.bytes()[8] >> 6, 2);
    seen.insert(id.ToString());
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(ExpectedVersionTest, ParsesEveryForm) {
  EXPECT_EQ(ExpectedVersion::Parse("any")->kind(), ExpectedVersion::Kind::kAny);
  EXPECT_EQ(ExpectedVersion::Parse("no-stream")->kind(), ExpectedVersion::Kind::kNoStream);
  EXPECT_EQ(ExpectedVersion::Parse("exists")->kind(), ExpectedVersion::Kind::kStreamExists);
  EXPECT_EQ(ExpectedVersion::Parse("0")->kind(), ExpectedVersion::Kind::kNoStream);
  EXPECT_EQ(ExpectedVersion::Parse("42")->version(), 42u);
  EXPECT_FALSE(ExpectedVersion::Parse("-1").ok());
  EXPECT_FALSE(ExpectedVersion::Parse("").ok());
  EXPECT_FALSE(ExpectedVersion::Parse("99999999999999999999999").ok());
}

TEST(ExpectedVersionTest, MatchesTheDocumentedTable) {
  EXPECT_TRUE(ExpectedVersion::Any().Matches(0));
  EXPECT_TRUE(ExpectedVersion::Any().Matches(5));
  EXPECT_TRUE(ExpectedVersion::NoStream().Matches(0));
  EXPECT_FALSE(ExpectedVersion::NoStream().Matches(1));
  EXPECT_FALSE(ExpectedVersion::StreamExists().Matches(0));
  EXPECT_TRUE(ExpectedVersion::StreamExists().Matches(1));
  EXPECT_TRUE(ExpectedVersion::Exact(3).Matches(3));
  EXPECT_FALSE(ExpectedVersion::Exact(3).Matches(4));
}

TEST(StatusTest, RetryabilityFollowsTheCode) {
  EXPECT_TRUE(Status::Unavailable("x").IsRetryable());
  EXPECT_TRUE(Status::Busy("x").IsRetryable());
  EXPECT_FALSE(Status::InvalidArgument("x").IsRetryable());
  EXPECT_FALSE(Status::Corruption("x").IsRetryable());
  EXPECT_FALSE(Status::WrongExpectedVersion("s", "1", 2).IsRetryable());
  EXPECT_TRUE(Status::TransientIOError("x").IsRetryable());
}

TEST(StatusTest, VersionConflictCarriesBothVersions) {
  Status s = Status::WrongExpectedVersion("order-1", "3", 5);
  ASSERT_TRUE(s.version_conflict().has_value());
  EXPECT_EQ(s.version_conflict()->expected, "3");
  EXPECT_EQ(s.version_conflict()->actual, 5u);
  EXPECT_EQ(s.ToString(), "wrong_expected_version: stream 'order-1' expected version 3, actual 5");
}

TEST(ResultTest, NeverHoldsOkWithoutValue) {
  Result<int> r(Status::Ok());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace cairn

namespace cairn::testing {
namespace {

TEST(ResultTest, ValueOnAnErrorAbortsWithAMessageInsteadOfThrowing) {
  Result<int> r = Status::NotFound("no such thing");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on an error.*no such thing");
}

}  // namespace
}  // namespace cairn::testing
