#include "plot.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

namespace p2p::bench {

bool plot(const boost::json::object& results, const std::filesystem::path& work,
          const std::filesystem::path& png) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
    std::fprintf(stderr, "p2p-bench: gnuplot not found, no plot (scripts/setup installs it)\n");
    return false;
  }
  // Throughput: one row per size, columns download-memory, download-file, upload.
  std::map<uint64_t, std::map<std::string, double>> by_size;
  for (const auto& row : results.at("transfer").as_array()) {
    const auto& o = row.as_object();
    const std::string series =
        std::string(o.at("op").as_string()) + "-" + std::string(o.at("sink").as_string());
    by_size[o.at("bytes").to_number<uint64_t>()][series] = o.at("MBps").to_number<double>();
  }
  {
    std::ofstream t(work / "transfer.dat");
    t << "# size download-memory download-file upload-file\n";
    for (const auto& [size, s] : by_size) {
      const auto get = [&](const char* k) { return s.count(k) ? s.at(k) : 0.0; };
      t << '"'
        << (size >= (1ull << 30) ? std::to_string(size >> 30) + " GiB"
                                 : std::to_string(size >> 20) + " MiB")
        << "\" " << get("download-memory") << ' ' << get("download-file") << ' '
        << get("upload-file") << '\n';
    }
  }
  // REST: one block per endpoint (gnuplot's index), rows concurrency p50 p99 in ms.
  std::map<std::string, std::map<int, std::pair<double, double>>> rest;
  for (const auto& row : results.at("rest").as_array()) {
    const auto& o = row.as_object();
    rest[std::string(o.at("endpoint").as_string())]
        [static_cast<int>(o.at("concurrency").to_number<int64_t>())] = {
            o.at("p50_us").to_number<double>() / 1000, o.at("p99_us").to_number<double>() / 1000};
  }
  std::string rest_plot;
  {
    std::ofstream r(work / "rest.dat");
    int index = 0;
    for (const auto& [endpoint, rows] : rest) {
      r << "# " << endpoint << "\n";
      for (const auto& [c, v] : rows) r << c << ' ' << v.first << ' ' << v.second << '\n';
      r << "\n\n";
      rest_plot += (index ? ", " : "") + std::string("'") + (work / "rest.dat").string() +
                   "' index " + std::to_string(index) + " using 1:2 with linespoints title '" +
                   endpoint + " p50', '' index " + std::to_string(index) +
                   " using 1:3 with linespoints dashtype 2 title '" + endpoint + " p99'";
      ++index;
    }
  }
  const auto& ceiling = results.at("ceiling").as_object();
  const double tcp = ceiling.at("tcp_loopback_MBps").to_number<double>();
  const double disk = ceiling.at("disk_write_MBps").to_number<double>();
  std::ofstream g(work / "plot.gp");
  g << "set terminal pngcairo size 1400,600 font 'sans,10' noenhanced\n"
    << "set output '" << png.string() << "'\n"
    << "set multiplot layout 1,2\n"
    << "set title 'gRPC throughput by size (MB/s) against the ceilings'\n"
    << "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.8\n"
    << "set yrange [0:*]\nset key top left\nset grid ytics\n"
    << "plot '" << (work / "transfer.dat").string()
    << "' using 2:xtic(1) title 'download to memory', '' using 3 title 'download to file', "
    << "'' using 4 title 'upload to file', " << tcp
    << " with lines lw 2 title 'TCP loopback ceiling', " << disk
    << " with lines lw 2 dashtype 2 title 'disk write ceiling'\n"
    << "set title 'REST latency by concurrency (ms, log scale)'\n"
    << "set style data linespoints\nset logscale xy\nset xlabel 'connections'\nset key top left\n"
    << "set xrange [0.8:*]\nset yrange [*:*]\n"
    << "plot " << rest_plot << "\n"
    << "unset multiplot\n";
  g.close();
  const std::string cmd =
      "gnuplot '" + (work / "plot.gp").string() + "' 2>'" + (work / "gnuplot.err").string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream err(work / "gnuplot.err");
    std::string line;
    std::getline(err, line);
    std::fprintf(stderr, "p2p-bench: gnuplot failed: %s\n", line.c_str());
    return false;
  }
  return true;
}

}  // namespace p2p::bench
