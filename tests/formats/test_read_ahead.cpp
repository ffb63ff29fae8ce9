// read_ahead_raw_data brings a contiguous dataset's bytes into the page cache without being
// waited for, and touches nothing for a chunked one. Residency is read with mincore() after the
// file's pages were dropped with POSIX_FADV_DONTNEED (a filesystem that keeps them, such as
// tmpfs, skips the test).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "formats/hdf5/mapped_data.hpp"

namespace {

constexpr hsize_t kElems = hsize_t{4} << 20;  // 16 MiB of float32

// Writes /contiguous and /chunked, each kElems float32, and returns the file's path.
std::string write_model(const std::string& dir) {
  const std::string path = dir + "/read_ahead.h5";
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<float> values(kElems, 0.5f);
  hid_t space = H5Screate_simple(1, &kElems, nullptr);
  for (const char* name : {"contiguous", "chunked"}) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (std::string(name) == "chunked") {
      const hsize_t chunk = 1 << 16;
      H5Pset_chunk(dcpl, 1, &chunk);
    }
    hid_t d = H5Dcreate2(f, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(d);
    H5Pclose(dcpl);
  }
  H5Sclose(space);
  H5Fclose(f);
  return path;
}

// Fraction of the pages of [offset, offset + bytes) of the file that are in the page cache.
double resident_fraction(const std::string& path, std::uint64_t offset, std::uint64_t bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  const long page = sysconf(_SC_PAGESIZE);
  const std::uint64_t start = offset / page * page;
  const std::size_t length = static_cast<std::size_t>(offset + bytes - start);
  void* m = mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
  std::vector<unsigned char> vec((length + page - 1) / page);
  mincore(m, length, vec.data());
  munmap(m, length);
  ::close(fd);
  std::size_t in = 0;
  for (unsigned char v : vec) in += v & 1;
  return static_cast<double>(in) / static_cast<double>(vec.size());
}

void drop_cached_pages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  fdatasync(fd);  // only clean pages can be dropped
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

}  // namespace

TEST(ReadAhead, BringsAContiguousDatasetIntoThePageCache) {
  const std::string dir = testing::TempDir();
  const std::string path = write_model(dir);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t contiguous = H5Dopen2(f, "contiguous", H5P_DEFAULT);
  hid_t chunked = H5Dopen2(f, "chunked", H5P_DEFAULT);
  const std::uint64_t offset = H5Dget_offset(contiguous);
  const std::uint64_t bytes = kElems * sizeof(float);
  drop_cached_pages(path);
  if (resident_fraction(path, offset, bytes) > 0.01) {
    H5Dclose(contiguous), H5Dclose(chunked), H5Fclose(f);
    GTEST_SKIP() << "this filesystem keeps the pages cached (tmpfs?)";
  }
  // A chunked dataset: nothing to read ahead, nothing read.
  h5p::h5::read_ahead_raw_data(f, chunked, 0, bytes);
  // The second half of the contiguous one only.
  h5p::h5::read_ahead_raw_data(f, contiguous, bytes / 2, bytes / 2);
  double second_half = 0;
  for (int i = 0; i < 200 && second_half < 0.99; ++i) {  // the reads finish on their own
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    second_half = resident_fraction(path, offset + bytes / 2, bytes / 2);
  }
  EXPECT_GE(second_half, 0.99) << "the range asked for was not read in";
  EXPECT_LE(resident_fraction(path, offset, bytes / 4), 0.05) << "read outside the range asked for";
  const std::uint64_t file_bytes = std::filesystem::file_size(path);
  EXPECT_LE(resident_fraction(path, 0, file_bytes) * static_cast<double>(file_bytes),
            static_cast<double>(bytes / 2 + (std::uint64_t{2} << 20)))
      << "more than the contiguous range was read (the chunked dataset?)";
  H5Dclose(contiguous);
  H5Dclose(chunked);
  H5Fclose(f);
  std::filesystem::remove(path);
}
