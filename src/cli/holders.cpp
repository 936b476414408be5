#include "cli/holders.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace p2p::cli {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<ContentChoice> choose_content(const std::vector<Holder>& found, std::string_view wanted) {
  std::vector<Holder> usable;
  std::set<std::string> seen;
  for (const Holder& h : found)
    if (!h.grpc_address.empty() && seen.insert(h.grpc_address).second) {
      usable.push_back(h);
      usable.back().sha256 = lower(h.sha256);
    }
  // Contents in the order first found, each with its holders.
  std::vector<ContentChoice> groups;
  for (const Holder& h : usable) {
    if (h.sha256.empty()) continue;
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const ContentChoice& c) { return c.sha256 == h.sha256; });
    if (g == groups.end()) g = groups.insert(groups.end(), ContentChoice{h.sha256, {}, {}});
    g->holders.push_back(h);
  }
  const std::string want = lower(wanted);
  if (groups.empty()) {
    if (!want.empty())
      return Problem{"no holder found has sha256 " + want + " (none has hashed the file yet)"};
    return ContentChoice{{}, std::move(usable), {}};
  }
  // stable: among groups of one size, the first found stays first.
  std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) {
    return a.holders.size() > b.holders.size();
  });
  auto chosen = groups.begin();
  if (!want.empty()) {
    chosen = std::find_if(groups.begin(), groups.end(),
                          [&](const ContentChoice& c) { return c.sha256 == want; });
    if (chosen == groups.end()) {
      std::string have;
      for (const auto& g : groups) have += (have.empty() ? "" : ", ") + g.sha256;
      return Problem{"no holder found has sha256 " + want + "; the holders found have " + have};
    }
  }
  ContentChoice out = std::move(*chosen);
  for (auto g = groups.begin(); g != groups.end(); ++g)
    if (g != chosen) out.others.push_back({g->sha256, g->holders.size()});
  return out;
}

std::string disagreement(const ContentChoice& choice) {
  if (choice.others.empty()) return {};
  size_t n = 0;
  std::string contents;
  for (const auto& o : choice.others) {
    n += o.holders;
    contents += (contents.empty() ? "" : ", ") + o.sha256;
    if (choice.others.size() > 1) contents += " (" + std::to_string(o.holders) + ")";
  }
  return std::to_string(n) + (n == 1 ? " holder has" : " holders have") +
         " a different file under this name: sha256 " + contents + "; use --sha256 to choose";
}

}  // namespace p2p::cli
