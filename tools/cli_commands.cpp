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

/// The function's listing; throws std::runtime_error (exit status 1) when nothing of it is stored.
function_info existing_function(backend& store, const std::string& name) {
    std::optional<function_info> found;
    store.list_functions([&](const function_info& f) {
        if (f.name == name) found = f;
        return !found;
    });
    if (!found) {
        // A function whose only entries are claims is not listed, but it exists.
        bool any = false;
        store.list_entries(name, [&](const entry_info&) {
            any = true;
            return false;
        });
        if (!any)
            throw std::runtime_error("no function named \"" + printable_name(name) +
                                     "\" is stored here (cachier ls lists those that are)");
        found = function_info{name, 0, 0, std::nullopt, std::nullopt};
    }
    return *found;
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

std::vector<std::string> stats_row(const std::string& name, const function_stats& s) {
    return {name,
            std::to_string(s.entries),
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
        return target{backend_from_url(*url), function};
    } catch (const url_error& e) {
        throw usage_error(e.what());
    }
}

int list_functions(const target& t, const output& o) {
    const auto functions = all_functions(*t.store);
    if (o.json) {
        json list = json::array();
        for (const auto& f : functions)
            list.push_back({{"name", f.name},
                            {"entries", f.entries},
                            {"bytes", f.bytes},
                            {"oldest_seconds", seconds_or_null(f.oldest)},
                            {"newest_seconds", seconds_or_null(f.newest)}});
        print_json(o, json{{"functions", list}});
        return 0;
    }
    table shown({"FUNCTION", "ENTRIES", "SIZE", "OLDEST", "NEWEST"}, {false, true, true, true, true});
    for (const auto& f : functions)
        shown.add({printable_name(f.name), std::to_string(f.entries), human_size(f.bytes), age_or_dash(f.oldest),
                   age_or_dash(f.newest)});
    if (shown.empty()) o.out << "no cached functions here\n";
    else shown.print(o.out);
    return 0;
}

int show_entries(const target& t, const output& o) {
    const std::string& name = *t.function;
    (void)existing_function(*t.store, name);
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
        print_json(o, json{{"function", name}, {"entries", list}});
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
        names.push_back(existing_function(*t.store, *t.function).name);
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
            json row{{"name", names[i]}};
            row.update(stats_json(each[i]));
            list.push_back(row);
        }
        json document{{"backend", std::string(t.store->kind())}, {"functions", list}};
        if (!t.function) document["total"] = stats_json(total);
        print_json(o, document);
        return 0;
    }
    table shown({"FUNCTION", "ENTRIES", "SIZE", "MEAN", "LARGEST", "COMPUTING", "EXPIRED CLAIMS", "OLDEST", "NEWEST"},
                {false, true, true, true, true, true, true, true, true});
    for (std::size_t i = 0; i < names.size(); ++i) shown.add(stats_row(printable_name(names[i]), each[i]));
    if (!t.function && names.size() > 1) shown.add(stats_row("(all)", total));
    if (shown.empty()) o.out << "no cached functions here\n";
    else shown.print(o.out);
    return 0;
}

int clear_function(const target& t, const output& o, const removal& r) {
    const std::string& name = *t.function;
    const function_info f = existing_function(*t.store, name);
    if (!confirmed(r, "Remove every entry of " + printable_name(name) + " (" + std::to_string(f.entries) + ")?"))
        return aborted();
    t.store->clear(name);
    if (o.json) print_json(o, json{{"function", name}, {"removed", f.entries}});
    else o.out << "removed " << f.entries << " entries of " << printable_name(name) << '\n';
    return 0;
}

int clear_claims(const target& t, const output& o, const removal& r) {
    const std::string& name = *t.function;
    (void)existing_function(*t.store, name);
    std::uint64_t claims = 0;
    t.store->list_entries(name, [&](const entry_info& e) {
        claims += e.claim == claim_state::none ? 0 : 1;
        return true;
    });
    if (!confirmed(r, "Remove the " + std::to_string(claims) + " claims of " + printable_name(name) +
                          "? (callers computing them now store their values all the same)"))
        return aborted();
    t.store->clear_claims(name);
    if (o.json) print_json(o, json{{"function", name}, {"claims_removed", claims}});
    else o.out << "removed " << claims << " claims of " << printable_name(name) << '\n';
    return 0;
}

int prune(const target& t, const output& o, const removal& r) {
    if (!r.older_than) throw usage_error("prune needs --older-than AGE (e.g. 7d)");
    std::vector<std::string> names;
    if (t.function) {
        names.push_back(existing_function(*t.store, *t.function).name);
    } else {
        for (const auto& f : all_functions(*t.store)) names.push_back(f.name);
    }
    const std::string what = t.function ? printable_name(*t.function) : "every function";
    if (!confirmed(r, "Remove the entries of " + what + " older than " + human_age(*r.older_than) + "?"))
        return aborted();
    json list = json::array();
    std::uint64_t total = 0;
    table shown({"FUNCTION", "REMOVED"}, {false, true});
    for (const auto& name : names) {
        const std::uint64_t removed = t.store->remove_older_than(name, *r.older_than);
        total += removed;
        list.push_back({{"name", name}, {"removed", removed}});
        shown.add({printable_name(name), std::to_string(removed)});
    }
    if (o.json) {
        print_json(o, json{{"functions", list}, {"removed", total}});
        return 0;
    }
    if (names.size() > 1) shown.add({"(all)", std::to_string(total)});
    if (shown.empty()) o.out << "no cached functions here\n";
    else shown.print(o.out);
    return 0;
}

}  // namespace cachier::cli
