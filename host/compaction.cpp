// Sparse layout writing: one counting pass, then one order-preserving compaction pass, both
// over the pruned slabs; buffers bounded by CompactionJob::piece_elements.
#include "host/compaction.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "formats/hdf5/copy.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/sparse/writer.hpp"

namespace h5p {
namespace {

using sparse::Format;

// numpy's spelling of a float datatype: "<f4", ">f8", "<f2".
std::string numpy_dtype(hid_t type, DType dt) {
  const bool big = H5Tget_order(type) == H5T_ORDER_BE;
  return std::string(big ? ">" : "<") + "f" + std::to_string(dtype_size(dt));
}

// Calls f(piece, flat_begin) for consecutive pieces of at most `piece` elements of a slab.
template <typename F>
void for_each_piece(MutTensor slab, std::uint64_t flat_begin, std::size_t piece, F&& f) {
  const std::size_t esize = dtype_size(slab.dtype);
  for (std::size_t off = 0; off < slab.n; off += piece) {
    check_interrupt();
    const std::size_t n = std::min(piece, slab.n - off);
    f(ConstTensor{slab.dtype, static_cast<unsigned char*>(slab.data) + off * esize, n}, flat_begin + off);
  }
}

// Elements compacted at once: the job's bound, but never more than the tensor holds. The
// buffers are sized by it, and a device backend page-locks them, which commits every byte: a
// small tensor under a large --memory-limit must not take a quarter of that limit.
std::size_t piece_for(const CompactionJob& job) {
  return static_cast<std::size_t>(std::min<std::uint64_t>(job.piece_elements, job.n));
}

// The nm layout groups along the last axis (stride 1); the pipeline refuses any other axis.
void write_nm(Backend& backend, const CompactionJob& job, sparse::LayoutWriter& w) {
  const unsigned keep = job.nm_keep, m = job.nm_group;
  const std::size_t piece = std::max<std::size_t>(m, piece_for(job) / m * m);
  // Output buffers from the backend (page-locked for a device: its copies land straight in them).
  const std::size_t most = piece / m * keep;
  const HostBuffer positions = backend.allocate_host(most);
  const HostBuffer kept = backend.allocate_host(most * dtype_size(job.dtype));
  job.for_each_pruned_slab([&](MutTensor slab, std::uint64_t flat_begin) {
    if (slab.n == 0) return;
    if (flat_begin % m != 0 || slab.n % m != 0) throw std::logic_error("N:M slab not aligned to M");
    for_each_piece(slab, flat_begin, piece, [&](ConstTensor p, std::uint64_t) {
      const std::size_t out = p.n / m * keep;
      // The slab is already pruned: selecting again keeps the same positions and changes nothing.
      backend.nm_apply(MutTensor{p.dtype, const_cast<void*>(p.data), p.n}, keep, m, 1, positions.get(), kept.get());
      w.append("data", h5::memory_type(p.dtype), kept.get(), out);
      w.append("positions", H5T_NATIVE_UINT8, positions.get(), out);
    });
  });
}

}  // namespace

double break_even_density(Format f, DType dtype, const std::vector<hsize_t>& shape, std::uint64_t limit32) {
  const double e = static_cast<double>(dtype_size(dtype));
  std::uint64_t n = 1;
  for (hsize_t d : shape) n *= d;
  if (n == 0) return -1.0;
  const double nd = static_cast<double>(n);
  switch (f) {
    case Format::csr: {
      const sparse::MatrixShape ms = sparse::matrix_shape(shape);
      const double i = static_cast<double>(
          sparse::index_size(sparse::unsigned_index_type(ms.cols ? ms.cols - 1 : 0, limit32)));
      const double p = static_cast<double>(sparse::index_size(sparse::row_pointer_type(n, limit32)));
      return std::max(0.0, (nd * e - static_cast<double>(ms.rows + 1) * p) / (nd * (e + i)));
    }
    case Format::coo: {
      const double i = static_cast<double>(sparse::index_size(sparse::unsigned_index_type(n - 1, limit32)));
      return e / (e + i);
    }
    case Format::bitmask: return std::max(0.0, (nd * e - std::ceil(nd / 8)) / (nd * e));
    default: return -1.0;
  }
}

CompactionResult write_compacted(Backend& backend, const CompactionJob& job, hid_t source_dataset,
                                 const std::string& in_file, hid_t out_group, const std::string& name, hid_t lcpl) {
  if (job.shape.empty())
    throw UsageError("tensor " + job.path + " is a scalar: --format " + sparse::format_name(job.format) +
                     " needs at least one axis");
  sparse::LayoutWriter w(out_group, name, lcpl, source_dataset, job.compress, job.out_file, job.path);
  h5::copy_attributes(source_dataset, w.group(), job.path, in_file, job.out_file, [&](const std::string& a) {
    if (sparse::is_layout_attribute(a))
      throw InputError("tensor " + job.path + " in '" + in_file + "' has an attribute named '" + a +
                       "', which the sparse layouts reserve; use --format dense");
    return false;
  });
  h5::Handle src_type = h5::type_handle(H5Dget_type(source_dataset));
  const sparse::MatrixShape ms = sparse::matrix_shape(job.shape);
  const std::size_t piece = std::max<std::size_t>(8, piece_for(job));

  CompactionResult r;
  std::vector<std::uint64_t> row_counts;
  if (job.format == Format::nm) {
    r.stored = job.n / job.nm_group * job.nm_keep;
    w.create("data", src_type, r.stored);
    w.create("positions", sparse::index_file_type(sparse::unsigned_index_type(job.nm_group - 1)), r.stored);
    write_nm(backend, job, w);
  } else {
    // Pass 1: survivors (per row for CSR row pointers).
    if (job.format == Format::csr) row_counts.assign(ms.rows, 0);
    job.for_each_pruned_slab([&](MutTensor slab, std::uint64_t flat_begin) {
      if (slab.n == 0) return;
      if (job.format == Format::csr)
        r.stored += backend.count_survivors(ConstTensor{slab.dtype, slab.data, slab.n}, ms.cols,
                                            flat_begin % ms.cols, row_counts.data() + flat_begin / ms.cols);
      else
        r.stored += backend.count_survivors(ConstTensor{slab.dtype, slab.data, slab.n}, 0, 0, nullptr);
    });
    w.create("data", src_type, r.stored);
    if (job.format == Format::csr) {
      w.create("indices", sparse::index_file_type(sparse::unsigned_index_type(ms.cols ? ms.cols - 1 : 0, job.limit32)),
               r.stored);
      w.create("indptr", sparse::index_file_type(sparse::row_pointer_type(r.stored, job.limit32)), ms.rows + 1);
      std::vector<std::uint64_t> indptr(ms.rows + 1, 0);
      for (std::uint64_t i = 0; i < ms.rows; ++i) indptr[i + 1] = indptr[i] + row_counts[i];
      w.append("indptr", H5T_NATIVE_UINT64, indptr.data(), indptr.size());
    } else if (job.format == Format::coo) {
      w.create("indices", sparse::index_file_type(sparse::unsigned_index_type(job.n ? job.n - 1 : 0, job.limit32)),
               r.stored);
    } else {
      w.create("mask", H5T_STD_U8LE, (job.n + 7) / 8);
    }
    // Pass 2: order-preserving compaction of each piece.
    // From the backend (page-locked for a device: its copies land straight in them).
    const HostBuffer values = backend.allocate_host(piece * dtype_size(job.dtype));
    const HostBuffer index_bytes = backend.allocate_host(job.format == Format::bitmask ? 0 : piece * sizeof(std::uint64_t));
    auto* index = reinterpret_cast<std::uint64_t*>(index_bytes.get());
    std::vector<std::uint8_t> bits(piece / 8 + 2);
    std::uint8_t carry = 0;
    job.for_each_pruned_slab([&](MutTensor slab, std::uint64_t flat_begin) {
      for_each_piece(slab, flat_begin, piece, [&](ConstTensor p, std::uint64_t begin) {
        const std::uint64_t count =
            backend.compact(p, begin, values.get(), job.format == Format::bitmask ? nullptr : index);
        w.append("data", h5::memory_type(p.dtype), values.get(), count);
        if (job.format == Format::csr) {
          for (std::uint64_t j = 0; j < count; ++j) index[j] %= ms.cols;
          w.append("indices", H5T_NATIVE_UINT64, index, count);
        } else if (job.format == Format::coo) {
          w.append("indices", H5T_NATIVE_UINT64, index, count);
        } else {
          const unsigned off = static_cast<unsigned>(begin % 8);
          bits[0] = carry;
          backend.survivor_mask(p, off, bits.data());
          const std::size_t full = (off + p.n) / 8;
          w.append("mask", H5T_NATIVE_UINT8, bits.data(), full);
          carry = (off + p.n) % 8 ? bits[full] : 0;
        }
      });
    });
    if (job.format == Format::bitmask && job.n % 8) w.append("mask", H5T_NATIVE_UINT8, &carry, 1);
  }
  w.finish();

  w.attribute_string(sparse::kFormatAttr, sparse::format_name(job.format));
  w.attribute_u64s(sparse::kVersionAttr, {static_cast<std::uint64_t>(sparse::kLayoutVersion)});
  const std::vector<std::uint64_t> dense(job.shape.begin(), job.shape.end());
  w.attribute_u64s(sparse::kShapeAttr, job.format == Format::csr ? std::vector<std::uint64_t>{ms.rows, ms.cols} : dense);
  w.attribute_u64s(sparse::kDenseShapeAttr, dense);
  w.attribute_string(sparse::kDtypeAttr, numpy_dtype(src_type, job.dtype));
  w.attribute_u64s(sparse::kNnzAttr, {r.stored});
  if (job.nm_group) {
    w.attribute_u64s(sparse::kNmAttr, {job.nm_keep, job.nm_group});
    if (job.format == Format::nm) w.attribute_u64s(sparse::kNmAxisAttr, {job.shape.size() - 1});
  }
  if (job.format == Format::bitmask) w.attribute_string(sparse::kBitOrderAttr, "little");
  w.record_source(source_dataset);
  return r;
}

}  // namespace h5p
