// cachier: see what cached functions have stored, on any backend, and clean it up.
//   cachier ls [URL]                      functions: entries, size, oldest, newest
//   cachier show [URL] FUNCTION           entries: key, size, age, claim
//   cachier stats [URL] [FUNCTION]
//   cachier clear [URL] FUNCTION
//   cachier clear-claims [URL] FUNCTION
//   cachier prune [URL] [FUNCTION] --older-than 7d | --keep-version V
//   cachier evict [URL] [FUNCTION] --max-entries N | --max-bytes SIZE   (no FUNCTION: all together)
// A function's versions (options::version) are chosen with --version V.
// Exit status: 0 done, 1 failure, 2 usage error.

#include <functional>
#include <optional>
#include <iostream>

#include <CLI/CLI.hpp>

#include <cachier/errors.hpp>
#include <cachier/units.hpp>
#include <cachier/version.hpp>

#include "cli_commands.hpp"
#include "cli_format.hpp"

namespace {

using namespace cachier::cli;

constexpr const char* arguments_help =
    "[URL] [FUNCTION]: a lone argument holding :// is the URL, any other the function; "
    "without a URL, $CACHIER_BACKEND";

struct command {
    CLI::App* app;
    std::vector<std::string> arguments;
    bool json = false;
    bool yes = false;
    std::string older_than;
    std::string version;
    std::optional<std::string> keep_version;
    std::optional<std::uint64_t> max_entries;
    std::string max_bytes;
};

command& add_command(CLI::App& app, std::vector<std::unique_ptr<command>>& commands, const std::string& name,
                     const std::string& description, const std::string& example) {
    auto& c = *commands.emplace_back(std::make_unique<command>());
    c.app = app.add_subcommand(name, description);
    c.app->add_option("arguments", c.arguments, arguments_help);
    c.app->add_flag("--json", c.json, "print JSON instead of a table");
    c.app->footer("Example:\n  " + example);
    return c;
}

/// --version V, for the commands on one function's entries.
void add_version_option(command& c) {
    c.app->add_option("--version", c.version,
                      "the function's version (cachier::options::version); without it, its unversioned entries");
}

void add_removal_flags(command& c) { c.app->add_flag("-y,--yes", c.yes, "do not ask for confirmation on a terminal"); }

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"See what cached functions have stored, on any cachier backend, and clean it up.\n"
                 "Storage URLs: file:///dir, sqlite:///file.db, postgresql://..., redis://..., mongodb://...,\n"
                 "s3://bucket/prefix?endpoint=... (credentials from the environment), memory:// (empty).",
                 "cachier"};
    app.set_version_flag("--version", std::string("cachier ") + cachier::version_string);
    app.require_subcommand(1);
    std::vector<std::unique_ptr<command>> commands;
    auto& ls = add_command(app, commands, "ls", "List the cached functions: entries, size, oldest and newest entry",
                           "cachier ls file://$HOME/.cachier");
    auto& show = add_command(app, commands, "show", "List one function's entries: key, size, age, claim",
                             "cachier show redis://127.0.0.1:6379/0 pricing.quote");
    auto& stats = add_command(app, commands, "stats",
                              "Entries, sizes, claims and ages of one function, or of every function",
                              "cachier stats sqlite:///var/cache/app.db");
    auto& clear = add_command(app, commands, "clear", "Remove every entry of one function",
                              "cachier clear file:///tmp/cache pricing.quote --yes");
    add_removal_flags(clear);
    auto& clear_claims_command =
        add_command(app, commands, "clear-claims",
                    "Remove one function's claims (marks of computations in progress, or of crashed ones)",
                    "cachier clear-claims postgresql://app@db/cache pricing.quote");
    add_removal_flags(clear_claims_command);
    auto& prune_command = add_command(app, commands, "prune",
                                      "Remove entries older than an age, or every version but one, of one function or "
                                      "of every function",
                                      "cachier prune file://$HOME/.cachier --older-than 7d");
    add_removal_flags(prune_command);
    prune_command.app->add_option("--older-than", prune_command.older_than,
                                  "remove the entries older than an age: 500ms, 45s, 30m, 12h, 7d, 2w");
    prune_command.app->add_option("--keep-version", prune_command.keep_version,
                                  "remove every version but this one (\"\" keeps the unversioned entries); "
                                  "without FUNCTION, of each function stored under it");
    prune_command.app->footer(
        "Example:\n  cachier prune file://$HOME/.cachier --older-than 7d\n"
        "  cachier prune redis://127.0.0.1:6379/0 pricing.quote --keep-version v3 --yes");
    auto& evict_command = add_command(app, commands, "evict",
                                      "Remove the least recently used entries of one function, or of every function "
                                      "together, down to a number of entries or of stored bytes",
                                      "cachier evict redis://127.0.0.1:6379/0 pricing.quote --max-entries 10000");
    add_removal_flags(evict_command);
    evict_command.app->add_option("--max-entries", evict_command.max_entries, "keep at most this many entries")
        ->check(CLI::PositiveNumber);
    evict_command.app->add_option("--max-bytes", evict_command.max_bytes,
                                  "keep at most this many stored bytes: 4096, 64KB, 512MiB, 2GB");
    for (command* c : {&show, &stats, &clear, &clear_claims_command, &prune_command, &evict_command})
        add_version_option(*c);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : 2;
    }

    using runner = std::function<int(const target&, const output&, const removal&)>;
    const std::vector<std::tuple<command*, bool, runner>> table{
        {&ls, false, [](const target& t, const output& o, const removal&) { return list_functions(t, o); }},
        {&show, true, [](const target& t, const output& o, const removal&) { return show_entries(t, o); }},
        {&stats, false, [](const target& t, const output& o, const removal&) { return show_stats(t, o); }},
        {&clear, true, clear_function},
        {&clear_claims_command, true, cachier::cli::clear_claims},
        {&prune_command, false, prune},
        {&evict_command, false, evict},
    };
    for (const auto& [c, needs_function, run] : table) {
        if (!c->app->parsed()) continue;
        try {
            if (c == &ls && c->arguments.size() > 1) throw usage_error("ls takes at most a URL");
            removal r;
            r.yes = c->yes;
            if (!c->older_than.empty()) {
                r.older_than = parse_age(c->older_than);
                if (!r.older_than)
                    throw usage_error("--older-than takes an age such as 500ms, 45s, 30m, 12h, 7d or 2w, not \"" +
                                      c->older_than + "\"");
            }
            r.keep_version = c->keep_version;
            r.limits.max_entries = c->max_entries;
            if (!c->max_bytes.empty()) {
                try {
                    r.limits.max_bytes = cachier::byte_size(c->max_bytes).bytes();
                } catch (const cachier::config_error&) {
                    throw usage_error("--max-bytes takes a size such as 4096, 64KB or 512MiB, not \"" + c->max_bytes +
                                      "\"");
                }
                if (*r.limits.max_bytes == 0) throw usage_error("--max-bytes must be at least 1 byte");
            }
            target t = open_target(c->arguments, needs_function);
            if (!c->version.empty() && !t.function) throw usage_error("--version needs a FUNCTION");
            if (!c->version.empty() && c == &prune_command && r.keep_version)
                throw usage_error("give --version or --keep-version, not both");
            t.version = c->version;
            return run(t, output{std::cout, c->json}, r);
        } catch (const usage_error& e) {
            std::cerr << "cachier " << c->app->get_name() << ": " << e.what() << "\n(cachier " << c->app->get_name()
                      << " --help shows how to use it)\n";
            return 2;
        } catch (const std::exception& e) {
            std::cerr << "cachier " << c->app->get_name() << ": " << e.what() << '\n';
            return 1;
        }
    }
    return 2;
}
