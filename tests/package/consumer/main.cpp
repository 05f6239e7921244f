// Uses every name of the public contract through the public headers only.

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cachier/cachier.hpp>

namespace {

int slow_square(int x) { return x * x; }

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "consumer check failed: %s\n", what);
        std::exit(1);
    }
}

}  // namespace

int main() {
    using namespace std::chrono_literals;

    cachier::options opts;
    opts.backend = cachier::memory_backend();
    opts.stale_after = 500ms;
    opts.next_time = false;
    opts.wait_for_calc_timeout = 0s;
    opts.allow_none = false;
    opts.cleanup_stale = false;
    opts.cleanup_interval = 24h;
    opts.entry_size_limit = "10KB";
    opts.enable_metrics = true;
    opts.metrics_sampling_rate = 1.0;
    opts.verbose = false;
    opts.claim_lease = 10s;

    auto f = cachier::cachier("consumer.square", slow_square, opts);
    require(f(3) == 9, "call");
    cachier::call_options c;
    c.skip_cache = false;
    c.overwrite_cache = true;
    c.verbose = false;
    c.max_age = std::chrono::seconds(10);
    require(f.call(c, 3) == 9, "call with options");
    f.precache_value(100, 10);
    require(f(10) == 100, "precache_value");
    f.clear_cache();
    f.clear_being_calculated();
    require(!f.cache_dpath().has_value(), "memory backend has no directory");
    const cachier::metrics_snapshot m = f.metrics();
    require(m.hits == 1 && m.misses >= 1, "metrics");
    (void)m.stale_hits;
    (void)m.recalculations;
    (void)m.wait_timeouts;
    (void)m.size_limit_rejections;

    cachier::options global;
    global.cache_dir = std::filesystem::temp_directory_path() / "cachier-consumer";
    cachier::set_global_params(global);
    require(cachier::get_global_params().cache_dir == global.cache_dir, "global params");
    auto on_files = cachier::cachier("consumer.files", slow_square);
    require(on_files(4) == 16 && on_files.cache_dpath().has_value(), "file backend by default");
    on_files.clear_cache();
    cachier::disable_caching();
    require(f(5) == 25, "disabled");
    cachier::enable_caching();

    const std::shared_ptr<cachier::backend> backends[] = {
        cachier::file_backend(), cachier::file_backend(global.cache_dir.value()),
        cachier::backend_from_url("memory://")};
    for (const auto& b : backends) require(b != nullptr, "factory");
    for (auto make : {+[] { return cachier::sql_backend("sqlite://:memory:"); },
                      +[] { return cachier::redis_backend("redis://127.0.0.1:6379/0"); },
                      +[] { return cachier::mongo_backend("mongodb://127.0.0.1:27017/db", "cachier"); },
                      +[] { return cachier::s3_backend(cachier::s3_backend_options{}); }}) {
        try {
            (void)make();
        } catch (const cachier::config_error&) {
            // not built, or no server: either is a clear, typed error
        } catch (const cachier::backend_error&) {
        }
    }
    std::printf("consumer: every public name works (cachier %s)\n", cachier::version_string);
    return 0;
}
