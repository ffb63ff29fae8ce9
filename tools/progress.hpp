// Progress on stderr: a bar redrawn every 0.1 s on a terminal, a line every 10 s in a batch log
// (H5PRUNE_PROGRESS_SECONDS sets either interval).
#pragma once
#include <chrono>
#include <string>

#include "host/progress.hpp"

namespace h5p::cli {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool enabled);
  ~ProgressPrinter();
  void update(const Progress& p);
  void finish();  // clears the bar (a batch log keeps its lines)

 private:
  bool enabled_;
  bool tty_;
  double interval_;  // seconds between redraws or lines
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace h5p::cli
