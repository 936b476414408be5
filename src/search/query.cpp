#include "search/query.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <random>

#include "content/sha256.hpp"
#include "core/names.hpp"
#include "core/uri.hpp"

namespace p2p {
namespace {

constexpr uint64_t kMaxBudgetMs = 600000;

// A query parameter that must be a whole number min..max; nullopt when absent (or its
// %-escape is malformed, which leaves the default, as it always has).
Result<std::optional<uint64_t>> number_param(std::string_view query, std::string_view key,
                                             uint64_t min, uint64_t max) {
  const auto v = query_value(query, key);
  if (!v || !v->has_value()) return std::nullopt;
  const std::string& text = **v;
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr != text.data() + text.size() || n < min || n > max)
    return Problem{std::string(key) + " must be a whole number " + std::to_string(min) + ".." +
                   std::to_string(max)};
  return std::optional<uint64_t>(n);
}

bool valid_qid(std::string_view qid) {
  if (qid.empty() || qid.size() > 64) return false;
  for (char c : qid)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

std::string search_target(const SearchQuery& q) {
  std::string t = "/buscar";
  char separator = '?';
  auto add = [&](std::string_view key, std::string_view value) {
    t += separator;
    separator = '&';
    t += key;
    t += '=';
    t += percent_encode_path(value);
  };
  if (!q.name.empty() || q.sha256.empty()) add("archivo", q.name);
  if (!q.sha256.empty()) add("sha256", q.sha256);
  if (q.ttl) add("ttl", std::to_string(*q.ttl));
  if (!q.qid.empty()) add("qid", q.qid);
  if (q.budget) add("budget_ms", std::to_string(q.budget->count()));
  for (const auto& e : q.exclude) add("exclude", e);
  if (q.holders) add("holders", std::to_string(*q.holders));
  return t;
}

Result<SearchQuery> parse_search_query(std::string_view query) {
  SearchQuery q;
  const auto raw = query_value(query, "archivo");
  if (!raw) return Problem{"the archivo parameter has a malformed %-escape"};
  const auto hex = query_value(query, "sha256");
  if (!hex) return Problem{"the sha256 parameter has a malformed %-escape"};
  if (hex->has_value()) {
    const auto digest = sha256_from_hex(**hex);
    if (!digest) return Problem{"sha256 must be 64 hex digits (the file's sha256sum)"};
    q.sha256 = to_hex(*digest);
  } else if (!raw->has_value()) {
    return Problem{"missing query parameter archivo (GET /buscar?archivo=NAME)"};
  }
  if (raw->has_value()) {
    auto name = admit_name(**raw, NameUse::lookup);
    if (!name) return Problem{"invalid archivo: " + name.error().why};
    q.name = std::move(name).value();
  }

  const auto ttl = number_param(query, "ttl", 0, kMaxTtl);
  const auto budget = number_param(query, "budget_ms", 0, kMaxBudgetMs);
  const auto holders = number_param(query, "holders", 1, kMaxHolders);
  for (const auto* n : {&ttl, &budget, &holders})
    if (!*n) return n->error();
  if (ttl->has_value()) q.ttl = static_cast<uint32_t>(**ttl);
  if (budget->has_value()) q.budget = std::chrono::milliseconds(**budget);
  if (holders->has_value()) q.holders = static_cast<uint32_t>(**holders);
  // A malformed qid is no qid, as before: the query is then simply not deduplicated.
  if (auto qid = query_value(query, "qid"); qid && qid->has_value()) {
    if (!valid_qid(**qid)) return Problem{"qid must be 1..64 letters, digits, - or _"};
    q.qid = std::move(**qid);
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
