// The one record of a pruned output: derived fractions shared by summaries and manifests.
#include "formats/prune_record.hpp"

#include <cmath>

namespace h5p {

double retained_l2(double sum_sq_before, double sum_sq_after) {
  return sum_sq_before > 0 ? std::sqrt(sum_sq_after / sum_sq_before) : 1.0;
}

double TensorResult::retained_l2() const { return h5p::retained_l2(sum_sq_before, sum_sq_after); }

double PruneTotals::retained_l2() const { return h5p::retained_l2(sum_sq_before, sum_sq_after); }

void PruneTotals::add(const TensorResult& t) {
  n += t.n;
  pruned += t.pruned;
  zeros_before += t.zeros_before;
  zeros_after += t.zeros_after;
  sum_sq_before += t.sum_sq_before;
  sum_sq_after += t.sum_sq_after;
}

std::optional<DType> dtype_from_name(const std::string& name) {
  for (DType t : {DType::f16, DType::f32, DType::f64})
    if (name == dtype_name(t)) return t;
  return std::nullopt;
}

}  // namespace h5p
