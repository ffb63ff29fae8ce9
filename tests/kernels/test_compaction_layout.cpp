// Index dtypes of the sparse layouts: the smallest unsigned type that holds the largest index,
// int32 row pointers up to 2^31 - 1 stored values, and the lowered 32-bit limit tests use.
#include <gtest/gtest.h>

#include "formats/sparse/layout.hpp"

using namespace h5p::sparse;

TEST(CompactionLayout, SmallestUnsignedIndexType) {
  EXPECT_EQ(unsigned_index_type(0), IndexType::u8);
  EXPECT_EQ(unsigned_index_type(255), IndexType::u8);
  EXPECT_EQ(unsigned_index_type(256), IndexType::u16);
  EXPECT_EQ(unsigned_index_type(65535), IndexType::u16);
  EXPECT_EQ(unsigned_index_type(65536), IndexType::u32);
  EXPECT_EQ(unsigned_index_type(0xFFFFFFFFull), IndexType::u32);
  EXPECT_EQ(unsigned_index_type(0x100000000ull), IndexType::u64);
}

TEST(CompactionLayout, RowPointerType) {
  EXPECT_EQ(row_pointer_type(0), IndexType::i32);
  EXPECT_EQ(row_pointer_type(0x7FFFFFFFull), IndexType::i32);
  EXPECT_EQ(row_pointer_type(0x80000000ull), IndexType::i64);
}

TEST(CompactionLayout, LoweredLimitForcesSixtyFourBits) {
  EXPECT_EQ(unsigned_index_type(70000, 100000), IndexType::u32);
  EXPECT_EQ(unsigned_index_type(70000, 69999), IndexType::u64);
  EXPECT_EQ(unsigned_index_type(200, 10), IndexType::u8);  // the limit applies to 32-bit indices only
  EXPECT_EQ(row_pointer_type(100, 100), IndexType::i32);
  EXPECT_EQ(row_pointer_type(101, 100), IndexType::i64);
}

TEST(CompactionLayout, MatrixShapeFlattensTrailingAxes) {
  EXPECT_EQ(matrix_shape({3, 3, 8, 16}).rows, 3u);
  EXPECT_EQ(matrix_shape({3, 3, 8, 16}).cols, 384u);
  EXPECT_EQ(matrix_shape({7}).cols, 1u);
  EXPECT_EQ(matrix_shape({5, 0}).cols, 0u);
  EXPECT_EQ(index_size(IndexType::u16), 2u);
  EXPECT_EQ(index_size(IndexType::i64), 8u);
}
