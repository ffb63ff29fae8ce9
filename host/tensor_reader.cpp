// Resident-or-streamed tensor reads with interrupt checks between slabs.
#include "host/tensor_reader.hpp"

#include <algorithm>
#include <chrono>

#include "common/errors.hpp"
#include "common/interrupt.hpp"

namespace h5p {

namespace {
h5::Handle open_dataset(hid_t file, const std::string& path, const std::string& file_name) {
  h5::Handle d = h5::dataset_handle(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  if (!d.valid()) throw InputError("cannot open dataset " + path + " in '" + file_name + "'");
  return d;
}
}  // namespace

const std::vector<unsigned char>* TensorReader::find(const std::string& path) const {
  for (const auto& [p, buf] : resident_)
    if (p == path) return &buf;
  return nullptr;
}

bool TensorReader::resident(const PlannedTensor& t) const { return find(t.path) != nullptr; }

void TensorReader::keep_resident(const PlannedTensor& t) {
  if (resident(t)) return;
  std::vector<unsigned char> buf(t.n * dtype_size(t.dtype));
  if (t.n > 0) {
    check_interrupt();
    const auto start = std::chrono::steady_clock::now();
    h5::Handle d = open_dataset(file_, t.path, file_name_);
    h5::read_slab(d, h5::memory_type(t.dtype), h5::plan_slabs(t.shape, t.n).at(0), buf.data(), file_name_, t.path);
    read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bytes_read_ += buf.size();
  }
  resident_.emplace_back(t.path, std::move(buf));
}

void TensorReader::drop(const PlannedTensor& t) {
  resident_.erase(std::remove_if(resident_.begin(), resident_.end(), [&](const auto& e) { return e.first == t.path; }),
                  resident_.end());
}

void TensorReader::for_each_slab(const PlannedTensor& t, const std::function<void(ConstTensor)>& f) {
  if (const auto* buf = find(t.path)) {
    f(ConstTensor{t.dtype, buf->data(), t.n});
    return;
  }
  const std::size_t esize = dtype_size(t.dtype);
  h5::Handle d = open_dataset(file_, t.path, file_name_);
  std::vector<unsigned char> buf;
  for (const h5::Slab& slab : h5::plan_slabs(t.shape, std::max<std::size_t>(1, slab_bytes_ / esize))) {
    check_interrupt();
    buf.resize(slab.n * esize);
    const auto start = std::chrono::steady_clock::now();
    h5::read_slab(d, h5::memory_type(t.dtype), slab, buf.data(), file_name_, t.path);
    read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bytes_read_ += buf.size();
    f(ConstTensor{t.dtype, buf.data(), slab.n});
  }
}

}  // namespace h5p
