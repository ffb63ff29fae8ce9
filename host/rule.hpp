// The pruning rule as the user wrote it, and the exact arithmetic that turns it into counts.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace h5p {

// A sparsity written as a decimal, kept exactly: value = digits / 10^scale.
struct Decimal {
  std::string text;    // as written, for reports and manifests
  std::string digits = "0";  // decimal digits without leading zeros
  int scale = 0;       // number of decimal places

  double approx() const;   // for display only; never used to count
  bool above_one() const;  // exact comparison with 1
};

// Parses "0.9", ".35", "1", "9e-1", "2.5E-2" with any number of digits; UsageError otherwise.
Decimal parse_decimal(const std::string& text, const std::string& option);

// k = round_half_even(S * n), in exact integer arithmetic.
std::uint64_t sparsity_count(const Decimal& s, std::uint64_t n);

enum class RuleMode { sparsity, threshold, nm, threshold_rel, structured };
enum class Scope { tensor, global };

struct Rule {
  RuleMode mode = RuleMode::sparsity;
  Decimal sparsity;        // mode == sparsity, 0 <= S <= 1
  double threshold = 0.0;  // mode == threshold, >= 0, not NaN
  std::string threshold_text;
  Decimal threshold_rel;   // mode == threshold_rel: prune |w| < R x max|w| of each tensor, 0 <= R <= 1
  Scope scope = Scope::tensor;
  unsigned nm_keep = 0;    // mode == nm: keep N of every M along the N:M axis
  unsigned nm_group = 0;   // M
  std::optional<int> nm_axis;  // --nm-axis: an axis (negative counts from the end); none: the reduction axis
  bool nm_skip_unfit = false;  // --nm-skip-unfit: leave tensors whose axis is not a multiple of M unpruned
  int structured_p = 0;        // mode == structured: 1 or 2 (L1, L2 slice norms); `sparsity` is the fraction of slices
  std::optional<int> structured_axis;  // --structured-axis: as nm_axis; none: the framework's output axis
};

// --nm-axis: "auto" (nullopt), "last" (-1) or an integer axis, negative from the end; UsageError otherwise.
std::optional<int> parse_nm_axis(const std::string& text);

// The axis a tensor of `ndim` dimensions is grouped along: the explicit axis resolved against
// ndim, or the framework's reduction axis; -1 when the tensor has no such axis.
int resolve_axis(const std::optional<int>& axis, int reduction_axis, std::size_t ndim);

// --nm N:M with 1 <= N <= M <= 256 ("2:4"); UsageError otherwise.
void parse_nm(const std::string& text, Rule& rule);

// --structured l1|l2 -> 1 or 2; UsageError naming `option` otherwise.
int parse_structured_norm(const std::string& text, const std::string& option);

// --structured-axis: as --nm-axis ("auto", "last", an integer); UsageError otherwise.
std::optional<int> parse_structured_axis(const std::string& text);

// --threshold-rel R: an exact decimal with 0 <= R <= 1; UsageError naming `option` otherwise.
Decimal parse_relative_threshold(const std::string& text, const std::string& option);

// --threshold: a float64 read with correct rounding; rejects negatives, NaN and junk.
double parse_threshold(const std::string& text);

// --memory-limit: "512M", "2G", "1048576", "64KiB"; powers of 1024.
std::uint64_t parse_size(const std::string& text, const std::string& option);

const char* scope_name(Scope s);

}  // namespace h5p
