#pragma once
// The cachier tool's commands, each on an opened backend, writing a table for people or JSON.

#include <chrono>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <cachier/backend.hpp>

namespace cachier::cli {

/// A mistake in the command line: exit status 2.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What one command works on: the storage (from the URL given, else $CACHIER_BACKEND) and, for
/// most commands, one function.
struct target {
    std::shared_ptr<backend> store;
    std::optional<std::string> function;
    std::string version;  ///< of `function` (--version); empty: its unversioned entries

    /// The name the backend keeps `function` at `version` under.
    [[nodiscard]] std::string stored_name() const { return stored_function_name(function.value_or(""), version); }
};

/// Reads [URL] [FUNCTION] from a command's positional arguments: a lone argument with "://" is the
/// URL, otherwise the function. Throws usage_error when a required function is missing, when there
/// is no URL and no $CACHIER_BACKEND, or for a malformed URL (cachier::url_error).
target open_target(const std::vector<std::string>& arguments, bool function_required);

/// Common switches of every command.
struct output {
    std::ostream& out;
    bool json = false;
};

/// The options of the destructive commands.
struct removal {
    bool yes = false;  ///< do not ask, even on a terminal
    std::optional<std::chrono::nanoseconds> older_than;
    std::optional<std::string> keep_version;  ///< prune: remove every other version
    entry_limits limits;                      ///< evict: --max-entries, --max-bytes
};

int list_functions(const target& t, const output& o);
int show_entries(const target& t, const output& o);
int show_stats(const target& t, const output& o);
int clear_function(const target& t, const output& o, const removal& r);
int clear_claims(const target& t, const output& o, const removal& r);
int prune(const target& t, const output& o, const removal& r);
int evict(const target& t, const output& o, const removal& r);

}  // namespace cachier::cli
