// `densify`: copies an h5prune output, turning every sparse layout group back into the dense
// dataset it replaced (same dtype, shape, creation properties, attributes, position in the
// walk), so the result is byte-identical to the --format dense output of the same rule.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "formats/sparse/layout.hpp"
#include "host/pipeline.hpp"

namespace h5p {

struct DensifyOptions {
  std::string input;
  std::string output;
  // The same limit as the prune run: it decides, as in prune, whether a tensor is written in
  // one piece or in slabs (which can matter for chunked, filtered datasets).
  std::uint64_t memory_limit = kDefaultMemoryLimit;
  bool force = false;
};

struct DensifiedTensor {
  std::string path;
  sparse::Format format;
  DType dtype;
  std::vector<hsize_t> shape;
  std::uint64_t n = 0;
  std::uint64_t stored = 0;
};

struct DensifyResult {
  std::vector<DensifiedTensor> tensors;  // walk order
  std::string input_sha256, output_sha256;
  std::uint64_t input_bytes = 0, output_bytes = 0;
  double seconds = 0;
};

DensifyResult run_densify(const DensifyOptions& options);

}  // namespace h5p
