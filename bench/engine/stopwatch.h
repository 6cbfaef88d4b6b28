// stopwatch: a steady_clock interval for the engine benchmark's rows.
#pragma once

#include <chrono>

namespace pgthaw::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void Restart() { start_ = std::chrono::steady_clock::now(); }
  double ElapsedMs() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Row sizes shared by every system.
inline constexpr int kWarmupQueries = 100;  // untimed, before the warm row
inline constexpr int kWarmQueries = 10000;
inline constexpr int kInsertRows = 10000;

}  // namespace pgthaw::bench
