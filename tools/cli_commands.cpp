#include "cli_commands.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "cli_format.hpp"

namespace cachier::cli {
namespace {

using json = nlohmann::ordered_json;

void print_json(const output& o, const json& document) {
    // Function names are any bytes: what is not UTF-8 is written as U+FFFD.
    o.out << document.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
}

json seconds_or_null(const std::optional<std::chrono::nanoseconds>& age) {
    if (!age) return nullptr;
    return std::chrono::duration<double>(*age).count();
}

std::string age_or_dash(const std::optional<std::chrono::nanoseconds>& age) { return age ? human_age(*age) : "-"; }

const char* claim_name(claim_state c) {
    switch (c) {
        case claim_state::none: return "none";
        case claim_state::live: return "live";
        case claim_state::expired: return "expired";
    }
    return "none";
}

std::vector<function_info> all_functions(backend& store) {
    std::vector<function_info> functions;
    progress shown("listing functions");
    store.list_functions([&](const function_info& f) {
        functions.push_back(f);
        shown.step();
        return true;
    });
    return functions;
}

/// The versions `function` is stored under ("" for its unversioned entries), sorted.
std::vector<std::string> versions_of(backend& store, const std::string& function) {
    std::vector<std::string> versions;
    store.list_functions([&](const function_info& f) {
        versioned_name v = split_stored_function_name(f.name);
        if (v.function == function) versions.push_back(std::move(v.version));
        return true;
    });
    std::sort(versions.begin(), versions.end());
    return versions;
}

std::runtime_error no_such_function(const std::string& function) {
    return std::runtime_error("no function named \"" + printable_name(function) +
                              "\" is stored here (cachier ls lists those that are)");
}

/// "FUNCTION" or "FUNCTION (version V)", for messages.
std::string shown_name(const std::string& function, const std::string& version) {
    return printable_name(function) + (version.empty() ? "" : " (version " + printable_name(version) + ")");
}

/// True when any of these stored names carries a version: tables then show a VERSION column.
bool any_versioned(const std::vector<std::string>& stored_names) {
    return std::any_of(stored_names.begin(), stored_names.end(),
                       [](const std::string& n) { return !split_stored_function_name(n).version.empty(); });
}

/// The first cells of a row naming a stored function: its name, and its version when shown.
std::vector<std::string> name_cells(const std::string& stored, bool with_version) {
    const versioned_name v = split_stored_function_name(stored);
    std::vector<std::string> cells{printable_name(v.function)};
    if (with_version) cells.push_back(v.version.empty() ? "-" : printable_name(v.version));
    return cells;
}

/// The header and alignment of a table whose rows start with name_cells.
table named_table(bool with_version, const std::vector<std::string>& rest) {
    std::vector<std::string> header{"FUNCTION"};
    if (with_version) header.emplace_back("VERSION");
    header.insert(header.end(), rest.begin(), rest.end());
    std::vector<bool> numeric(header.size(), true);
    numeric[0] = false;
    if (with_version) numeric[1] = false;
    return table(header, numeric);
}

std::vector<std::string> joined(std::vector<std::string> first, const std::vector<std::string>& rest) {
    first.insert(first.end(), rest.begin(), rest.end());
    return first;
}

/// A stored function's name and version in JSON: `key` ("name" in lists, "function" in reports on
/// one function) and "version" (null when unversioned).
json name_json(const std::string& stored, const char* key = "name") {
    const versioned_name v = split_stored_function_name(stored);
    return json{{key, v.function}, {"version", v.version.empty() ? json(nullptr) : json(v.version)}};
}

/// The listing of the target's function at its version; throws std::runtime_error (exit status 1)
/// when nothing of it is stored, naming the versions that are.
function_info existing_function(const target& t) {
    const std::string name = t.stored_name();
    std::optional<function_info> found;
    t.store->list_functions([&](const function_info& f) {
        if (f.name == name) found = f;
        return !found;
    });
    if (found) return *found;
    // A function whose only entries are claims is not listed, but it exists.
    bool any = false;
    t.store->list_entries(name, [&](const entry_info&) {
        any = true;
        return false;
    });
    if (any) return function_info{name, 0, 0, std::nullopt, std::nullopt};
    const std::vector<std::string> versions = versions_of(*t.store, *t.function);
    if (versions.empty()) throw no_such_function(*t.function);
    std::string listed;
    for (const auto& v : versions) listed += (listed.empty() ? "" : ", ") + (v.empty() ? "(none)" : printable_name(v));
    throw std::runtime_error("\"" + printable_name(*t.function) + "\" is stored here " +
                             (t.version.empty() ? "only under versions" : "not under that version but under") +
                             ": " + listed + " (choose one with --version)");
}

/// What a function's entries add up to.
struct function_stats {
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
    std::uint64_t largest = 0;
    std::uint64_t live_claims = 0;
    std::uint64_t expired_claims = 0;
    std::optional<std::chrono::nanoseconds> oldest;
    std::optional<std::chrono::nanoseconds> newest;

    void add(const entry_info& e) {
        if (e.claim == claim_state::live) ++live_claims;
        if (e.claim == claim_state::expired) ++expired_claims;
        if (!e.has_value) return;
        ++entries;
        bytes += e.size;
        largest = std::max(largest, e.size);
        oldest = oldest ? std::max(*oldest, e.age) : e.age;
        newest = newest ? std::min(*newest, e.age) : e.age;
    }
    void add(const function_stats& s) {
        entries += s.entries;
        bytes += s.bytes;
        largest = std::max(largest, s.largest);
        live_claims += s.live_claims;
        expired_claims += s.expired_claims;
        if (s.oldest) oldest = oldest ? std::max(*oldest, *s.oldest) : s.oldest;
        if (s.newest) newest = newest ? std::min(*newest, *s.newest) : s.newest;
    }
};

function_stats stats_of(backend& store, const std::string& function, progress& shown) {
    function_stats s;
    store.list_entries(function, [&](const entry_info& e) {
        s.add(e);
        shown.step();
        return true;
    });
    return s;
}

json stats_json(const function_stats& s) {
    return json{{"entries", s.entries},
                {"bytes", s.bytes},
                {"largest_bytes", s.largest},
                {"live_claims", s.live_claims},
                {"expired_claims", s.expired_claims},
                {"oldest_seconds", seconds_or_null(s.oldest)},
                {"newest_seconds", seconds_or_null(s.newest)}};
}

std::vector<std::string> stats_cells(const function_stats& s) {
    return {std::to_string(s.entries),
            human_size(s.bytes),
            s.entries == 0 ? "-" : human_size(s.bytes / s.entries),
            human_size(s.largest),
            std::to_string(s.live_claims),
            std::to_string(s.expired_claims),
            age_or_dash(s.oldest),
            age_or_dash(s.newest)};
}

/// On a terminal, asks before removing; true to go on.
bool confirmed(const removal& r, const std::string& question) {
    if (r.yes || ::isatty(STDIN_FILENO) != 1) return true;
    std::cerr << question << " [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    return answer == "y" || answer == "Y" || answer == "yes";
}

int aborted() {
    std::cerr << "cachier: nothing removed\n";
    return 1;
}

}  // namespace

target open_target(const std::vector<std::string>& arguments, bool function_required) {
    std::optional<std::string> url;
    std::optional<std::string> function;
    if (arguments.size() > 2) throw usage_error("too many arguments: expected [URL] [FUNCTION]");
    if (arguments.size() == 2) {
        url = arguments[0];
        function = arguments[1];
    } else if (arguments.size() == 1) {
        if (arguments[0].find("://") != std::string::npos) url = arguments[0];
        else function = arguments[0];
    }
    if (function_required && !function) throw usage_error("which function? give its name (cachier ls lists them)");
    if (!url) {
        const char* from_environment = std::getenv("CACHIER_BACKEND");
        if (from_environment == nullptr || *from_environment == '\0')
            throw usage_error("no storage: give a URL (file:///path, redis://host, ...) or set $CACHIER_BACKEND");
        url = from_environment;
    }
    try {
        return target{backend_from_url(*url), function, {}};
    } catch (const url_error& e) {
        throw usage_error(e.what());
    }
}

int list_functions(const target& t, const output& o) {
    const auto functions = all_functions(*t.store);
    if (o.json) {
        json list = json::array();
        for (const auto& f : functions) {
            json row = name_json(f.name);
            row.update(json{{"entries", f.entries},
                            {"bytes", f.bytes},
                            {"oldest_seconds", seconds_or_null(f.oldest)},
                            {"newest_seconds", seconds_or_null(f.newest)}});
            list.push_back(std::move(row));
        }
        print_json(o, json{{"functions", list}});
        return 0;
    }
    std::vector<std::string> names;
    for (const auto& f : functions) names.push_back(f.name);
    const bool versions = any_versioned(names);
    table shown = named_table(versions, {"ENTRIES", "SIZE", "OLDEST", "NEWEST"});
    for (const auto& f : functions)
        shown.add(joined(name_cells(f.name, versions), {std::to_string(f.entries), human_size(f.bytes),
                                                         age_or_dash(f.oldest), age_or_dash(f.newest)}));
    if (shown.empty()) o.out << "no cached functions here\n";
    else shown.print(o.out);
    return 0;
}

int show_entries(const target& t, const output& o) {
    const std::string name = existing_function(t).name;
    std::vector<entry_info> entries;
    {
        progress shown("listing entries");
        t.store->list_entries(name, [&](const entry_info& e) {
            entries.push_back(e);
            shown.step();
            return true;
        });
    }
    std::sort(entries.begin(), entries.end(), [](const entry_info& a, const entry_info& b) { return a.age < b.age; });
    if (o.json) {
        json list = json::array();
        for (const auto& e : entries)
            list.push_back({{"key", e.key},
                            {"has_value", e.has_value},
                            {"bytes", e.size},
                            {"age_seconds", e.has_value ? seconds_or_null(e.age) : json(nullptr)},
                            {"claim", claim_name(e.claim)},
                            {"since_last_use_seconds", seconds_or_null(e.since_last_use)}});
        json document = name_json(name, "function");
        document["entries"] = list;
        print_json(o, document);
        return 0;
    }
    const bool uses = std::any_of(entries.begin(), entries.end(), [](const entry_info& e) { return e.since_last_use; });
    std::vector<std::string> header{"KEY", "SIZE", "AGE", "CLAIM"};
    if (uses) header.emplace_back("LAST USE");
    table shown(header, {false, true, true, false, true});
    for (const auto& e : entries) {
        std::vector<std::string> row{printable_name(e.key), e.has_value ? human_size(e.size) : "-",
                                     e.has_value ? human_age(e.age) : "-", claim_name(e.claim)};
        if (uses) row.push_back(age_or_dash(e.since_last_use));
        shown.add(std::move(row));
    }
    shown.print(o.out);
    return 0;
}

int show_stats(const target& t, const output& o) {
    std::vector<std::string> names;
    if (t.function) {
        names.push_back(existing_function(t).name);
    } else {
        for (const auto& f : all_functions(*t.store)) names.push_back(f.name);
    }
    std::vector<function_stats> each;
    function_stats total;
    {
        progress shown("reading entries");
        for (const auto& name : names) {
            each.push_back(stats_of(*t.store, name, shown));
            total.add(each.back());
        }
    }
    if (o.json) {
        json list = json::array();
        for (std::size_t i = 0; i < names.size(); ++i) {
            json row = name_json(names[i]);
            row.update(stats_json(each[i]));
            list.push_back(row);
        }
        json document{{"backend", std::string(t.store->kind())}, {"functions", list}};
        if (!t.function) document["total"] = stats_json(total);
        print_json(o, document);
        return 0;
    }
    const bool versions = any_versioned(names);
    table shown = named_table(
        versions, {"ENTRIES", "SIZE", "MEAN", "LARGEST", "COMPUTING", "EXPIRED CLAIMS", "OLDEST", "NEWEST"});
    for (std::size_t i = 0; i < names.size(); ++i) shown.add(joined(name_cells(names[i], versions), stats_cells(each[i])));
    if (!t.function && names.size() > 1) {
        std::vector<std::string> all{"(all)"};
        if (versions) all.emplace_back("");
        shown.add(joined(all, stats_cells(total)));
    }
    if (shown.empty()) o.out << "no cached functions here\n";
    else shown.print(o.out);
    return 0;
}

int clear_function(const target& t, const output& o, const removal& r) {
    const function_info f = existing_function(t);
    const std::string shown = shown_name(*t.function, t.version);
    if (!confirmed(r, "Remove every entry of " + shown + " (" + std::to_string(f.entries) + ")?")) return aborted();
    t.store->clear(f.name);
    if (o.json) {
        json document = name_json(f.name, "function");
        document["removed"] = f.entries;
        print_json(o, document);
    } else {
        o.out << "removed " << f.entries << " entries of " << shown << '\n';
    }
    return 0;
}

int clear_claims(const target& t, const output& o, const removal& r) {
    const std::string name = existing_function(t).name;
    const std::string shown = shown_name(*t.function, t.version);
    std::uint64_t claims = 0;
    t.store->list_entries(name, [&](const entry_info& e) {
        claims += e.claim == claim_state::none ? 0 : 1;
        return true;
    });
    if (!confirmed(r, "Remove the " + std::to_string(claims) + " claims of " + shown +
                          "? (callers computing them now store their values all the same)"))
        return aborted();
    t.store->clear_claims(name);
    if (o.json) {
        json document = name_json(name, "function");
        document["claims_removed"] = claims;
        print_json(o, document);
    } else {
        o.out << "removed " << claims << " claims of " << shown << '\n';
    }
    return 0;
}

namespace {

/// What prune does to one stored function.
struct prune_step {
    std::string stored;
    bool whole = false;  ///< a version other than the one kept: every entry goes
    std::uint64_t entries = 0;
};

/// The stored functions prune works on. With --keep-version, every version of the function other
/// than the one kept goes whole; without a function, only functions stored under that version
/// lose their others (a function never versioned so is left alone). With --older-than, the old
/// entries of what is kept go too.
std::vector<prune_step> prune_plan(const target& t, const removal& r) {
    if (t.function && !r.keep_version) return {prune_step{existing_function(t).name}};
    const auto functions = all_functions(*t.store);
    std::vector<std::string> keeping;  // functions having the version kept
    if (r.keep_version) {
        for (const auto& f : functions) {
            const versioned_name v = split_stored_function_name(f.name);
            if (v.version == *r.keep_version) keeping.push_back(v.function);
        }
    }
    std::vector<prune_step> plan;
    for (const auto& f : functions) {
        const versioned_name v = split_stored_function_name(f.name);
        if (t.function && v.function != *t.function) continue;
        const bool concerned =
            !r.keep_version || t.function || std::find(keeping.begin(), keeping.end(), v.function) != keeping.end();
        const bool whole = r.keep_version && concerned && v.version != *r.keep_version;
        if (whole || r.older_than) plan.push_back(prune_step{f.name, whole, f.entries});
    }
    if (t.function && plan.empty() && versions_of(*t.store, *t.function).empty()) throw no_such_function(*t.function);
    return plan;
}

std::string prune_question(const target& t, const removal& r) {
    const std::string what = t.function ? printable_name(*t.function) : "every function";
    std::string question = "Remove";
    if (r.keep_version) {
        const std::string kept = r.keep_version->empty() ? "its unversioned entries" : "version " + printable_name(*r.keep_version);
        question += " every version of " + what + " but " + kept;
        if (r.older_than) question += ", and";
    }
    if (r.older_than) question += " the entries older than " + human_age(*r.older_than) + (r.keep_version ? "" : " of " + what);
    return question + "?";
}

}  // namespace

int prune(const target& t, const output& o, const removal& r) {
    if (!r.older_than && !r.keep_version) throw usage_error("prune needs --older-than AGE (e.g. 7d) or --keep-version V");
    const std::vector<prune_step> plan = prune_plan(t, r);
    if (!confirmed(r, prune_question(t, r))) return aborted();
    json list = json::array();
    std::uint64_t total = 0;
    std::vector<std::string> names;
    for (const auto& step : plan) names.push_back(step.stored);
    const bool versions = any_versioned(names) || r.keep_version;
    table shown = named_table(versions, {"REMOVED"});
    for (const auto& step : plan) {
        std::uint64_t removed = 0;
        if (step.whole) {
            t.store->clear(step.stored);
            removed = step.entries;
        } else {
            removed = t.store->remove_older_than(step.stored, *r.older_than);
        }
        total += removed;
        json row = name_json(step.stored);
        row["removed"] = removed;
        list.push_back(std::move(row));
        shown.add(joined(name_cells(step.stored, versions), {std::to_string(removed)}));
    }
    if (o.json) {
        print_json(o, json{{"functions", list}, {"removed", total}});
        return 0;
    }
    if (plan.size() > 1) {
        std::vector<std::string> all{"(all)"};
        if (versions) all.emplace_back("");
        shown.add(joined(all, {std::to_string(total)}));
    }
    if (shown.empty()) o.out << (r.keep_version ? "no other versions here\n" : "no cached functions here\n");
    else shown.print(o.out);
    return 0;
}

namespace {

std::string limits_text(const entry_limits& limits) {
    std::string text;
    if (limits.max_entries) text += std::to_string(*limits.max_entries) + " entries";
    if (limits.max_bytes) text += (text.empty() ? "" : " and ") + human_size(*limits.max_bytes);
    return text;
}

void print_eviction(const output& o, const eviction_report& report, json document, const std::string& shown) {
    if (o.json) {
        document["removed"] = report.removed;
        document["removed_bytes"] = report.removed_bytes;
        document["entries"] = report.entries_left;
        document["bytes"] = report.bytes_left;
        print_json(o, document);
    } else {
        o.out << "evicted " << report.removed << " entries (" << human_size(report.removed_bytes) << ") of " << shown
              << "; " << report.entries_left << " entries (" << human_size(report.bytes_left) << ") left\n";
    }
}

/// evict without FUNCTION: every function of the storage together.
int evict_store(const target& t, const output& o, const removal& r) {
    if (!confirmed(r, "Remove the least recently used entries of every function here, down to " +
                          limits_text(r.limits) + " in all?"))
        return aborted();
    print_eviction(o, evict_least_recently_used(*t.store, r.limits), json::object(), "every function");
    return 0;
}

}  // namespace

int evict(const target& t, const output& o, const removal& r) {
    if (!r.limits.max_entries && !r.limits.max_bytes)
        throw usage_error("evict needs --max-entries N or --max-bytes SIZE (e.g. 512MB)");
    if (!t.function) return evict_store(t, o, r);
    const function_info f = existing_function(t);
    const std::string shown = shown_name(*t.function, t.version);
    if (!confirmed(r, "Remove the least recently used entries of " + shown + " (" + std::to_string(f.entries) +
                          " entries, " + human_size(f.bytes) + ") down to " + limits_text(r.limits) + "?"))
        return aborted();
    print_eviction(o, evict_least_recently_used(*t.store, f.name, r.limits), name_json(f.name, "function"), shown);
    return 0;
}

}  // namespace cachier::cli
