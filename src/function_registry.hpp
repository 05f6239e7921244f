#pragma once
// Every live cached function of the process, for the metrics export. A function registers when it
// is made and leaves when it is destroyed, adding its counts to those its name keeps, so that the
// exported counters of a name never go down while the process lives.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <cachier/backend.hpp>

#include "metrics_recorder.hpp"

namespace cachier::detail {

class function_state;

/// What the export shows of one function name.
struct exported_function {
    recorded_counts counts;             ///< of every copy made under the name, live or gone
    std::shared_ptr<backend> store;     ///< the backend of a live copy with metrics on, if any
    std::string stored_name;            ///< the name that copy's entries are kept under (its version's)
};

void register_function(function_state& fn);
void unregister_function(function_state& fn);

/// The names whose functions had metrics on, in name order.
[[nodiscard]] std::map<std::string, exported_function> exported_functions();

}  // namespace cachier::detail
