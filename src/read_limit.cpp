#include "read_limit.hpp"

#include <limits>

namespace cachier::detail {
namespace {

thread_local std::uint64_t current_limit = std::numeric_limits<std::uint64_t>::max();

}  // namespace

std::uint64_t read_limit() noexcept { return current_limit; }

read_limit_scope::read_limit_scope(std::uint64_t limit) noexcept : previous_(current_limit) { current_limit = limit; }

read_limit_scope::~read_limit_scope() { current_limit = previous_; }

}  // namespace cachier::detail
