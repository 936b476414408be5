// Percentiles of a sample, as the bench reports them.
#pragma once

#include <algorithm>
#include <vector>

namespace p2p::bench {

// The q-quantile (0..1) of `v`, nearest rank; sorts v. 0 for an empty sample.
inline double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace p2p::bench
