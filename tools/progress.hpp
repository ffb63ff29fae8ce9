// Progress on stderr: a bar redrawn every 0.1 s on a terminal, a line every 10 s in a batch log
// (H5PRUNE_PROGRESS_SECONDS sets either interval).
#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "host/progress.hpp"

namespace h5p::cli {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool enabled);
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;
  void update(const Progress& p);
  void finish();  // clears the bar (a batch log keeps its lines) and stops the heartbeat

 private:
  void show(const Progress& p, std::chrono::steady_clock::time_point now);  // with mu_ held
  void heartbeat();

  bool enabled_;
  bool tty_;
  double interval_;  // seconds between redraws or lines
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
  std::chrono::steady_clock::time_point start_;
  // A batch log gets a line every interval even while one step gives no news (a whole-file
  // hash, a flush, a large dataset copied in one HDF5 call): the last state, with the time.
  std::mutex mu_;
  std::condition_variable wake_;
  std::optional<Progress> latest_;
  bool stopping_ = false;
  std::thread beat_;
};

}  // namespace h5p::cli
