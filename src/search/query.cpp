#include "search/query.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <random>

#include "core/names.hpp"
#include "core/uri.hpp"

namespace p2p {
namespace {

constexpr uint64_t kMaxBudgetMs = 600000;

// A query parameter that must be a whole number no larger than `max`.
std::optional<uint64_t> number_param(std::string_view query, std::string_view key, uint64_t max,
                                     bool& bad) {
  const auto v = query_value(query, key);
  if (!v) return std::nullopt;
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc{} || ptr != v->data() + v->size() || n > max) {
    bad = true;
    return std::nullopt;
  }
  return n;
}

bool valid_qid(std::string_view qid) {
  if (qid.empty() || qid.size() > 64) return false;
  for (char c : qid)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

std::string search_target(const SearchQuery& q) {
  std::string t = "/buscar?archivo=" + percent_encode_path(q.name);
  if (q.ttl) t += "&ttl=" + std::to_string(*q.ttl);
  if (!q.qid.empty()) t += "&qid=" + percent_encode_path(q.qid);
  if (q.budget) t += "&budget_ms=" + std::to_string(q.budget->count());
  for (const auto& e : q.exclude) t += "&exclude=" + percent_encode_path(e);
  return t;
}

Result<SearchQuery> parse_search_query(std::string_view query) {
  bool malformed = false;
  const auto name = query_value(query, "archivo", &malformed);
  if (malformed) return Problem{"the archivo parameter has a malformed %-escape"};
  if (!name) return Problem{"missing query parameter archivo (GET /buscar?archivo=NAME)"};
  SearchQuery q;
  q.name = std::string(trim(*name));
  if (auto problem = file_name_problem(q.name); !problem.empty())
    return Problem{"invalid archivo: " + std::string(problem)};

  bool bad = false;
  if (auto ttl = number_param(query, "ttl", kMaxTtl, bad)) q.ttl = static_cast<uint32_t>(*ttl);
  if (auto b = number_param(query, "budget_ms", kMaxBudgetMs, bad))
    q.budget = std::chrono::milliseconds(*b);
  if (bad) return Problem{"ttl must be 0..64 and budget_ms 0..600000"};
  if (auto qid = query_value(query, "qid")) {
    if (!valid_qid(*qid)) return Problem{"qid must be 1..64 letters, digits, - or _"};
    q.qid = std::move(*qid);
  }
  q.exclude = query_values(query, "exclude");
  return q;
}

std::string new_query_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace p2p
