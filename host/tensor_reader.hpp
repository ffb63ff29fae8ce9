// Reads selected tensors for repeated passes: whole and kept in memory when they fit the
// memory limit, otherwise re-read from the file in row-major slabs on every pass.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/hdf5/file.hpp"
#include "host/plan.hpp"

namespace h5p {

class TensorReader {
 public:
  // slab_bytes bounds each slab read when a tensor is not resident.
  TensorReader(hid_t file, std::string file_name, std::uint64_t slab_bytes)
      : file_(file), file_name_(std::move(file_name)), slab_bytes_(slab_bytes) {}

  // Reads the whole tensor into memory; later passes use that copy.
  void keep_resident(const PlannedTensor& t);
  void drop(const PlannedTensor& t);
  bool resident(const PlannedTensor& t) const;

  // Calls f(view) for each slab of t in position order (one view when resident).
  void for_each_slab(const PlannedTensor& t, const std::function<void(ConstTensor)>& f);

  std::uint64_t bytes_read() const { return bytes_read_; }
  double read_seconds() const { return read_seconds_; }

 private:
  hid_t file_;
  std::string file_name_;
  std::uint64_t slab_bytes_;
  std::vector<std::pair<std::string, std::vector<unsigned char>>> resident_;
  std::uint64_t bytes_read_ = 0;
  double read_seconds_ = 0;
  const std::vector<unsigned char>* find(const std::string& path) const;
};

}  // namespace h5p
