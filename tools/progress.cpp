// Progress rendering; throttled so it costs nothing next to the I/O.
#include "tools/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "formats/json_names.hpp"

namespace h5p::cli {

using Clock = std::chrono::steady_clock;

namespace {

// Seconds between outputs: H5PRUNE_PROGRESS_SECONDS when it is a positive number, else a
// redraw every 0.1 s on a terminal and a line every 10 s in a batch log.
double progress_interval(bool tty) {
  if (const char* v = std::getenv("H5PRUNE_PROGRESS_SECONDS")) {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (end != v && *end == '\0' && s > 0) return s;
  }
  return tty ? 0.1 : 10.0;
}

}  // namespace

ProgressPrinter::ProgressPrinter(bool enabled)
    : enabled_(enabled),
      tty_(isatty(STDERR_FILENO) == 1),
      interval_(progress_interval(tty_)),
      last_(Clock::now()),
      start_(Clock::now()) {
  if (enabled_ && !tty_) beat_ = std::thread([this] { heartbeat(); });
}

ProgressPrinter::~ProgressPrinter() { finish(); }

void ProgressPrinter::update(const Progress& p) {
  if (!enabled_) return;
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  latest_ = p;
  if (std::chrono::duration<double>(now - last_).count() < interval_) return;
  show(p, now);
}

void ProgressPrinter::heartbeat() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_));
  while (!stopping_) {
    const auto now = Clock::now();
    if (latest_ && now - last_ >= period) show(*latest_, now);
    // The next line is due an interval after the last one; before any news, look again in one.
    wake_.wait_until(lock, latest_ ? last_ + period : now + period, [&] { return stopping_; });
  }
}

void ProgressPrinter::show(const Progress& p, Clock::time_point now) {
  last_ = now;
  const double frac = p.total_bytes ? static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes) : 0.0;
  const int pct = static_cast<int>(frac * 100.0);
  if (tty_) {
    const int width = 30;
    std::string bar(static_cast<size_t>(frac * width), '#');
    bar.resize(width, ' ');
    const std::string shown = printable(p.tensor);  // a name cannot send escape sequences
    const std::string name = shown.size() > 40 ? "..." + shown.substr(shown.size() - 37) : shown;
    std::fprintf(stderr, "\r\033[K[%s] %3d%% %-10s %s", bar.c_str(), pct, p.pass.c_str(), name.c_str());
    drawn_ = true;
  } else {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "h5prune: %d%% (%.1f of %.1f MB over all passes) after %.0f s: %s %s\n", pct,
                 static_cast<double>(p.done_bytes) / 1e6, static_cast<double>(p.total_bytes) / 1e6, elapsed,
                 p.pass.c_str(), printable(p.tensor).c_str());
  }
  std::fflush(stderr);
}

void ProgressPrinter::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (beat_.joinable()) beat_.join();
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace h5p::cli
