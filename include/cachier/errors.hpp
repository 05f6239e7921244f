#pragma once
/// @file errors.hpp
/// @brief The exception types thrown by cachier.

#include <stdexcept>
#include <string>
#include <utility>

namespace cachier {

/// Base of every exception cachier throws.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An option, size or URL that cannot be used (thrown where the bad value is given).
class config_error : public error {
public:
    using error::error;
};

/// A backend URL that cannot be parsed or names something that does not exist.
class url_error : public config_error {
public:
    /// @param part the part of the URL that is wrong ("scheme", "path", "port", ...)
    /// @param message what is wrong with it; never contains a password
    url_error(std::string part, const std::string& message)
        : config_error("invalid backend URL (" + part + "): " + message), part_(std::move(part)) {}

    /// The part of the URL that is wrong.
    [[nodiscard]] const std::string& part() const noexcept { return part_; }

private:
    std::string part_;
};

/// A backend that this build of cachier does not contain (its client library was not found).
class backend_not_built : public config_error {
public:
    using config_error::config_error;
};

/// A backend operation failed: an I/O error, a full disk, a server that is down.
/// The engine catches it during cached calls, reports it and calls the function instead.
class backend_error : public error {
public:
    using error::error;
};

/// A value or argument that cannot be encoded, or bytes that cannot be decoded.
class serialization_error : public error {
public:
    using error::error;
};

}  // namespace cachier
