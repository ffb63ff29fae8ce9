// Progress on stderr: a redrawn bar on a terminal, a line every 10 s in a batch log.
#pragma once
#include <chrono>
#include <string>

#include "host/pipeline.hpp"

namespace h5p::cli {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool enabled);
  ~ProgressPrinter();
  void update(const Progress& p);
  void finish();

 private:
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace h5p::cli
