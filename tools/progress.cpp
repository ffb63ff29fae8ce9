// Progress rendering; throttled so it costs nothing next to the I/O.
#include "tools/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace h5p::cli {

using Clock = std::chrono::steady_clock;

ProgressPrinter::ProgressPrinter(bool enabled)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1), last_(Clock::now()), start_(Clock::now()) {}

ProgressPrinter::~ProgressPrinter() { finish(); }

void ProgressPrinter::update(const Progress& p) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (since < (tty_ ? 0.1 : 10.0)) return;
  last_ = now;
  const double frac = p.total_bytes ? static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes) : 0.0;
  const int pct = static_cast<int>(frac * 100.0);
  if (tty_) {
    const int width = 30;
    const int fill = static_cast<int>(frac * width);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(width, ' ');
    std::string name = p.tensor.size() > 40 ? "..." + p.tensor.substr(p.tensor.size() - 37) : p.tensor;
    std::fprintf(stderr, "\r\033[K[%s] %3d%% %-7s %s", bar.c_str(), pct, p.phase.c_str(), name.c_str());
    drawn_ = true;
  } else {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "h5prune: %s %d%% (%.1f of %.1f MB) after %.0f s, at %s\n", p.phase.c_str(), pct,
                 static_cast<double>(p.done_bytes) / 1e6, static_cast<double>(p.total_bytes) / 1e6, elapsed,
                 p.tensor.c_str());
  }
  std::fflush(stderr);
}

void ProgressPrinter::finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace h5p::cli
