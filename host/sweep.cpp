// Sweep analysis: one scan (with the first radix digit), the remaining digits for all points
// at once (one multi-prefix histogram per digit), then one tally pass that yields, per tensor,
// the counts and sums below every point's boundary. Passes do not grow with the point count.
#include "host/sweep.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>

#include "common/errors.hpp"
#include "formats/prune_record.hpp"
#include "kernels/backend.hpp"
#include "kernels/keys.hpp"
#include "kernels/radix_select.hpp"
#include "host/input_check.hpp"
#include "host/tensor_reader.hpp"

namespace h5p {

std::uint64_t SweepResult::total_n() const {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += t.n;
  return n;
}

std::uint64_t SweepResult::pruned(std::size_t point) const {
  std::uint64_t p = 0;
  for (const auto& c : cells.at(point)) p += c.pruned;
  return p;
}

double SweepResult::retained_l2(std::size_t point) const {
  double before = 0, after = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    before += tensors[i].sum_sq;
    after += cells.at(point)[i].sum_sq_after;
  }
  return h5p::retained_l2(before, after);
}

void validate_sweep_values(RuleMode mode, const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    if (mode == RuleMode::sparsity) {
      if (parse_decimal(v, "--sparsity").above_one())
        throw UsageError("invalid value '" + v + "' for --sparsity: must be between 0 and 1");
    } else {
      parse_threshold(v);
    }
  }
}

namespace {

using Clock = std::chrono::steady_clock;

// Boundary and tie quota of one point in one scope.
struct Boundary {
  std::uint64_t K = 0;
  std::uint64_t quota = 0;  // ties to prune in position order
  std::uint64_t equal = 0;  // ties in the whole scope
};

class SweepJob {
 public:
  explicit SweepJob(const SweepOptions& o) : opt_(o), meter_(o.on_progress) {}
  SweepResult run();

 private:
  const SweepOptions& opt_;
  std::unique_ptr<Backend> backend_;
  h5::Handle file_;
  Plan plan_;
  std::unique_ptr<TensorReader> reader_;
  SweepResult result_;
  ProgressMeter meter_;
  double compute_ = 0;

  // Every tensor passes once per radix digit (the first with the scan) and once more to tally.
  void plan_progress(KeyWidth global_width) {
    std::uint64_t total = 0;
    for (const PlannedTensor& t : plan_.tensors) {
      const KeyWidth w = opt_.scope == Scope::global ? global_width : native_key_width(t.dtype);
      const std::uint64_t passes = opt_.mode == RuleMode::sparsity ? digit_layout(w).size() + 1 : 2;
      total += passes * t.n * dtype_size(t.dtype);
    }
    meter_.plan(total);
  }

  template <typename F>
  void timed(F&& f) {
    const auto t0 = Clock::now();
    f();
    compute_ += std::chrono::duration<double>(Clock::now() - t0).count();
  }

  // Each slab of tensor t as a read-only view, resident or streamed under the memory limit.
  void for_each_view(const PlannedTensor& t, const std::function<void(ConstTensor)>& f) {
    reader_->for_each_slab(t, slab_elements(opt_.memory_limit, t.dtype, 0),
                           [&](MutTensor v, const h5::Slab&) { f(ConstTensor{v.dtype, v.data, v.n}); }, /*read_only=*/true);
  }

  // NaN check and sums; with first_hist, also the first radix digit's histogram.
  void scan(std::size_t ti, KeyWidth w, std::vector<std::uint64_t>* first_hist);
  std::vector<Boundary> select(const std::vector<std::size_t>& scope, KeyWidth w,
                               const std::vector<std::uint64_t>& first_hist);
  void tally_scope(const std::vector<std::size_t>& scope, KeyWidth w, const std::vector<Boundary>& bounds);
};

void SweepJob::scan(std::size_t ti, KeyWidth w, std::vector<std::uint64_t>* first_hist) {
  const PlannedTensor& t = plan_.tensors[ti];
  const DigitLayout d = digit_layout(w).front();
  TensorScan total;
  meter_.pass("scan", true);
  for_each_view(t, [&](ConstTensor v) {
    timed([&] {
      const TensorScan s = first_hist ? backend_->scan_histogram(v, w, {d.shift, d.bits, 0}, first_hist->data())
                                      : backend_->scan(v);
      total.nan += s.nan;
      total.zeros += s.zeros;
      total.sum_sq += s.sum_sq;
    });
  });
  if (total.nan > 0)
    throw DataError("tensor " + t.path + " in '" + opt_.input + "' contains " + std::to_string(total.nan) + " NaN value" +
                    (total.nan == 1 ? "" : "s"));
  result_.tensors[ti].zeros = total.zeros;
  result_.tensors[ti].sum_sq = total.sum_sq;
}

// The k-th key of every sparsity point over `scope`: all points advance through the radix
// digits together; each digit is one pass with a histogram per distinct prefix.
std::vector<Boundary> SweepJob::select(const std::vector<std::size_t>& scope, KeyWidth w,
                                       const std::vector<std::uint64_t>& first_hist) {
  std::uint64_t n = 0;
  for (std::size_t ti : scope) n += plan_.tensors[ti].n;
  std::vector<Boundary> out(opt_.values.size());
  std::vector<RadixSelection> sels;
  std::vector<std::size_t> owner;  // point index of each selection
  for (std::size_t p = 0; p < opt_.values.size(); ++p) {
    const std::uint64_t k = sparsity_count(parse_decimal(opt_.values[p], "--sparsity"), n);
    if (k == 0) continue;  // nothing pruned: K = 0, no quota
    sels.emplace_back(w, k);
    sels.back().consume(first_hist);
    owner.push_back(p);
  }
  const auto layout = digit_layout(w);
  for (std::size_t pass = 1; pass < layout.size() && !sels.empty(); ++pass) {
    const DigitLayout d = layout[pass];
    const std::size_t bins = std::size_t{1} << d.bits;
    std::vector<std::uint64_t> prefixes;
    for (const auto& s : sels) prefixes.push_back(s.prefix);
    std::sort(prefixes.begin(), prefixes.end());
    prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
    std::vector<std::uint64_t> hists(prefixes.size() * bins, 0);
    meter_.pass("select " + std::to_string(pass + 1) + "/" + std::to_string(layout.size()), true);
    for (std::size_t ti : scope)
      for_each_view(plan_.tensors[ti], [&](ConstTensor v) {
        timed([&] { backend_->histogram_multi(v, w, d.shift, d.bits, prefixes, hists.data()); });
      });
    for (auto& s : sels) {
      const std::size_t j = static_cast<std::size_t>(std::lower_bound(prefixes.begin(), prefixes.end(), s.prefix) - prefixes.begin());
      s.consume(std::vector<std::uint64_t>(hists.begin() + j * bins, hists.begin() + (j + 1) * bins));
    }
  }
  for (std::size_t i = 0; i < sels.size(); ++i) out[owner[i]] = {sels[i].key(), sels[i].tie_quota(), sels[i].equal};
  return out;
}

// One pass per tensor: counts and sums below every boundary, then each point's cells, with the
// tie quota shared out over the scope's tensors in path order.
void SweepJob::tally_scope(const std::vector<std::size_t>& scope, KeyWidth w, const std::vector<Boundary>& bounds) {
  std::vector<std::uint64_t> keys;
  for (const auto& b : bounds) keys.push_back(b.K);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  const std::size_t m = keys.size();
  std::vector<std::uint64_t> quota_left(bounds.size());
  for (std::size_t p = 0; p < bounds.size(); ++p) quota_left[p] = bounds[p].quota;
  for (std::size_t ti : scope) {  // scope is in path order
    std::vector<std::uint64_t> count(m + 1, 0), equal(m, 0);
    std::vector<double> sq(m + 1, 0.0);
    meter_.pass("tally", true);
    for_each_view(plan_.tensors[ti], [&](ConstTensor v) {
      timed([&] { backend_->tally(v, w, keys, count.data(), sq.data(), equal.data()); });
    });
    for (std::size_t p = 0; p < bounds.size(); ++p) {
      const std::size_t i = static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), bounds[p].K) - keys.begin());
      SweepCell& c = result_.cells[p][ti];
      std::uint64_t below = 0;
      for (std::size_t j = 0; j <= i; ++j) below += count[j];
      double kept = 0;
      for (std::size_t j = i + 1; j <= m; ++j) kept += sq[j];
      c.ties = equal[i];
      c.ties_pruned = std::min(quota_left[p], c.ties);
      quota_left[p] -= c.ties_pruned;
      c.pruned = below + c.ties_pruned;
      const double kv = key_value(w, bounds[p].K);
      // Ties (|w| == K) sit in bucket i + 1; the pruned ones leave the kept sum.
      c.sum_sq_after = kept - static_cast<double>(c.ties_pruned) * kv * kv;
      if (c.sum_sq_after < 0) c.sum_sq_after = 0;
      c.threshold = opt_.mode == RuleMode::threshold ? parse_threshold(opt_.values[p]) : kv;
      if (opt_.mode == RuleMode::threshold && kv != c.threshold) c.ties = 0;
    }
  }
}

SweepResult SweepJob::run() {
  const auto t0 = Clock::now();
  if (opt_.values.empty()) throw UsageError("no sweep values given");
  validate_sweep_values(opt_.mode, opt_.values);
  validate_selection(opt_.selection);
  file_ = open_checked_input(opt_.input);
  const std::optional<h5::FileStamp> stamp = h5::file_stamp(file_);
  plan_ = make_plan(file_, opt_.selection);
  if (plan_.tensors.empty())
    throw InputError("no tensor selected in '" + opt_.input + "' (" + std::to_string(plan_.datasets.size()) + " datasets)");
  // Tensors a group rule holds keep that rule at every point: only the rest is swept.
  std::vector<PlannedTensor> swept;
  std::vector<std::string> selected;
  for (const PlannedTensor& t : plan_.tensors) selected.push_back(t.path);
  result_.warnings = idle_rule_warnings(opt_.rules, selected);
  for (const PlannedTensor& t : plan_.tensors) {
    if (const auto g = first_match(opt_.rules, t.path)) result_.fixed.emplace_back(t.path, opt_.rules[*g].spec);
    else swept.push_back(t);
  }
  plan_.tensors = std::move(swept);
  if (plan_.tensors.empty())
    throw InputError("no tensor of '" + opt_.input + "' is left to sweep: group rules hold all " +
                     std::to_string(result_.fixed.size()) + " selected");
  require_decodable(file_, plan_, opt_.input);
  backend_ = make_cpu_backend(opt_.threads);
  result_.backend = backend_->name();
  result_.device = backend_->device();
  result_.mode = opt_.mode;
  result_.scope = opt_.scope;
  result_.values = opt_.values;
  for (const PlannedTensor& t : plan_.tensors) result_.tensors.push_back({t.path, t.dtype, t.shape, t.n, 0, 0});
  result_.cells.assign(opt_.values.size(), std::vector<SweepCell>(plan_.tensors.size()));
  reader_ = std::make_unique<TensorReader>(file_, opt_.input);
  reader_->report_to(meter_);

  const bool global = opt_.mode == RuleMode::sparsity && opt_.scope == Scope::global;
  KeyWidth widest = KeyWidth::k16;  // the global scope's key width
  for (const auto& t : plan_.tensors) widest = wider(widest, native_key_width(t.dtype));
  plan_progress(widest);
  if (global) {
    const bool resident = plan_.total_bytes() <= opt_.memory_limit;
    const KeyWidth w = widest;
    std::vector<std::uint64_t> first(std::size_t{1} << digit_layout(w).front().bits, 0);
    std::vector<std::size_t> scope;
    for (std::size_t ti = 0; ti < plan_.tensors.size(); ++ti) {
      if (resident && !reader_->map_resident(plan_.tensors[ti])) reader_->keep_resident(plan_.tensors[ti]);
      scan(ti, w, &first);
      scope.push_back(ti);
    }
    tally_scope(scope, w, select(scope, w, first));
  } else {
    for (std::size_t ti = 0; ti < plan_.tensors.size(); ++ti) {
      const PlannedTensor& t = plan_.tensors[ti];
      const KeyWidth w = native_key_width(t.dtype);
      if (t.n * dtype_size(t.dtype) <= opt_.memory_limit && !reader_->map_resident(t)) reader_->keep_resident(t);
      std::vector<Boundary> bounds(opt_.values.size());
      if (opt_.mode == RuleMode::sparsity) {
        std::vector<std::uint64_t> first(std::size_t{1} << digit_layout(w).front().bits, 0);
        scan(ti, w, &first);
        bounds = select({ti}, w, first);
      } else {  // thresholds need no histogram: each boundary is an exact key
        scan(ti, w, nullptr);
        for (std::size_t p = 0; p < opt_.values.size(); ++p) bounds[p].K = threshold_key(w, parse_threshold(opt_.values[p]));
      }
      tally_scope({ti}, w, bounds);
      reader_->drop(t);
    }
  }
  h5::require_unchanged(file_, stamp, opt_.input, "swept", "no result");  // as prune: the passes must agree
  result_.bytes_read = reader_->bytes_read();
  result_.read_seconds = reader_->read_seconds();
  result_.compute_seconds = compute_;
  result_.total_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return result_;
}

}  // namespace

SweepResult run_sweep(const SweepOptions& options) {
  SweepJob job(options);
  return job.run();
}

}  // namespace h5p
