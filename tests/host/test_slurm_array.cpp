// Array task -> sweep point: the task ID itself, whatever subset was submitted (DESIGN.md).
#include <gtest/gtest.h>

#include <cstdlib>

#include "common/errors.hpp"
#include "host/slurm_array.hpp"

using namespace h5p;

TEST(ArrayTaskPoint, IsTheTaskIdItself) {
  // A resubmission of one task (--array=7) or of a subset (--array=3,12) gives Slurm a
  // MIN of 7 or 3; the point must still be the ID.
  EXPECT_EQ(point_of_task_id(std::string("7"), 13), 7u);
  EXPECT_EQ(point_of_task_id(std::string("3"), 13), 3u);
  EXPECT_EQ(point_of_task_id(std::string("12"), 13), 12u);
  EXPECT_EQ(point_of_task_id(std::string("0"), 1), 0u);
}

TEST(ArrayTaskPoint, AutoReadsTheEnvironment) {
  ::setenv("SLURM_ARRAY_TASK_ID", "7", 1);
  ::setenv("SLURM_ARRAY_TASK_MIN", "7", 1);  // ignored: the old (ID - MIN) / STEP mapping gave 0
  ::setenv("SLURM_ARRAY_TASK_STEP", "1", 1);
  EXPECT_EQ(array_task_point("auto", 13), 7u);
  ::unsetenv("SLURM_ARRAY_TASK_ID");
  EXPECT_THROW(array_task_point("auto", 13), UsageError);
  ::unsetenv("SLURM_ARRAY_TASK_MIN");
  ::unsetenv("SLURM_ARRAY_TASK_STEP");
}

TEST(ArrayTaskPoint, RefusesEmptyAndMalformedIds) {
  for (const char* bad : {"", " 1", "1 ", "-1", "+1", "1.0", "0x3", "abc", "1234567890"}) {
    try {
      point_of_task_id(std::string(bad), 13);
      ADD_FAILURE() << "accepted SLURM_ARRAY_TASK_ID='" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_EQ(e.exit_code(), 2) << bad;
    }
  }
  EXPECT_THROW(point_of_task_id(std::nullopt, 13), UsageError);
}

TEST(ArrayTaskPoint, RefusesIdsBeyondTheSweep) {
  EXPECT_THROW(point_of_task_id(std::string("13"), 13), UsageError);
  EXPECT_THROW(point_of_task_id(std::string("0"), 0), UsageError);
  EXPECT_THROW(array_task_point("13", 13), UsageError);
  EXPECT_EQ(array_task_point("12", 13), 12u);
  EXPECT_THROW(array_task_point("", 13), UsageError);
  EXPECT_THROW(array_task_point("-2", 13), UsageError);
}

TEST(ArrayRanges, CompactsRuns) {
  EXPECT_EQ(array_ranges({}), "");
  EXPECT_EQ(array_ranges({4}), "4");
  EXPECT_EQ(array_ranges({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
  EXPECT_EQ(array_ranges({8, 7, 7, 0, 2, 1, 5}), "0-2,5,7-8") << "unsorted, with a duplicate";
  EXPECT_EQ(array_ranges({3, 12}), "3,12");
  EXPECT_EQ(array_ranges({9, 10, 11}), "9-11");
}
