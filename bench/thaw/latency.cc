// latency: nearest-rank percentiles over a sorted copy of the samples.
#include "latency.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pgthaw::bench {
namespace {

double nearest_rank(const std::vector<double>& sorted, double fraction) {
  size_t rank = static_cast<size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

Latency summarize(std::vector<double> samples) {
  Latency out;
  if (samples.empty()) return out;
  std::sort(samples.begin(), samples.end());
  out.n = static_cast<int>(samples.size());
  out.min = samples.front();
  out.p50 = nearest_rank(samples, 0.50);
  out.p95 = nearest_rank(samples, 0.95);
  out.p99 = nearest_rank(samples, 0.99);
  out.max = samples.back();
  out.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / out.n;
  return out;
}

}  // namespace pgthaw::bench
