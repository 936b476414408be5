// bench/results/latest.png from the results: throughput by size against the ceilings,
// and REST p50/p99 by concurrency. Drawn by gnuplot (Debian's gnuplot-nox).
#pragma once

#include <boost/json/value.hpp>
#include <filesystem>

namespace p2p::bench {

// Writes `png` from `results`, using `work` for gnuplot's data files. False (and a note on
// stderr) when gnuplot is missing or fails; the JSON results stand either way.
bool plot(const boost::json::object& results, const std::filesystem::path& work,
          const std::filesystem::path& png);

}  // namespace p2p::bench
