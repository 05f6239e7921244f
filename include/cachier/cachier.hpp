#pragma once
/// @file cachier.hpp
/// @brief Everything cachier offers: include this one header.
///
/// @code
///   #include <cachier/cachier.hpp>
///   double slow_price(const std::string& sku) { ... }
///   auto price = cachier::cachier("pricing.slow_price", slow_price);
///   double p = price("A-42");   // computed once, then read from ~/.cachier
/// @endcode

#include <cachier/backend.hpp>
#include <cachier/backends.hpp>
#include <cachier/cached_function.hpp>
#include <cachier/call_status.hpp>
#include <cachier/errors.hpp>
#include <cachier/logging.hpp>
#include <cachier/metrics.hpp>
#include <cachier/metrics_export.hpp>
#include <cachier/options.hpp>
#include <cachier/serialization.hpp>
#include <cachier/units.hpp>
#include <cachier/version.hpp>
