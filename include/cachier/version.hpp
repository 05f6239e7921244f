#pragma once
/// @file version.hpp
/// @brief The library version.

/// Major version.
#define CACHIER_VERSION_MAJOR 0
/// Minor version.
#define CACHIER_VERSION_MINOR 1
/// Patch version.
#define CACHIER_VERSION_PATCH 0

namespace cachier {
/// The version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace cachier
