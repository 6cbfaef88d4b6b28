// latency: p50/p99/max of a set of timings (nearest-rank percentiles), the
// summary every timed row of the thaw benchmark reports.
#pragma once

#include <limits>
#include <vector>

namespace pgthaw::bench {

struct Latency {
  static constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();
  int n = 0;  // samples; 0 means not measured (the figures are NaN)
  double min = kUnset;
  double p50 = kUnset;
  double p95 = kUnset;
  double p99 = kUnset;  // with fewer than 100 samples this is the max
  double max = kUnset;
  double mean = kUnset;
};

// Nearest rank: pXX is the smallest sample with at least XX% of the samples
// at or below it.
Latency summarize(std::vector<double> samples);

}  // namespace pgthaw::bench
