// S3 backend benchmarks, against the RADOS Gateway of scripts/s3-server.sh (need
// CACHIER_BENCH_S3_ENDPOINT and CACHIER_BENCH_S3_BUCKET, the credentials in $AWS_ACCESS_KEY_ID and
// $AWS_SECRET_ACCESS_KEY, and CACHIER_BENCH_S3_LOG, the gateway's log, for the waiter's request
// count; scripts/bench.sh sets them all).
// Run: build/default/bench/cachier_bench_s3 (Release), or every program with scripts/bench.sh.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <unistd.h>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

const char* endpoint() { return std::getenv("CACHIER_BENCH_S3_ENDPOINT"); }
const char* bucket() { return std::getenv("CACHIER_BENCH_S3_BUCKET"); }

bool configured(benchmark::State& state) {
    if (endpoint() != nullptr && bucket() != nullptr) return true;
    state.SkipWithError("CACHIER_BENCH_S3_ENDPOINT or CACHIER_BENCH_S3_BUCKET is not set");
    return false;
}

/// A prefix of its own for each benchmark of this process.
std::string prefix_of(const std::string& name) { return "bench" + std::to_string(::getpid()) + "-" + name; }

std::shared_ptr<cachier::backend> store_under(const std::string& prefix) {
    cachier::s3_backend_options o;
    o.bucket = bucket();
    o.prefix = prefix;
    o.endpoint = endpoint();
    return cachier::s3_backend(o);
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* out) {
    static_cast<std::string*>(out)->append(data, size * count);
    return size * count;
}

// One raw libcurl GET of one of the very objects the hit benchmark reads, signed by libcurl's
// SigV4, on one kept-alive connection: the least a hit can cost.
void BM_S3RawGet(benchmark::State& state) {
    if (!configured(state)) return;
    const std::string function = "bench.s3.price";
    const std::string prefix = prefix_of("raw");
    auto store = store_under(prefix);
    auto filled = cached_price_on(store, function);
    std::vector<std::string> urls;
    store->list_entries(function, [&](const cachier::entry_info& e) {
        urls.push_back(std::string(endpoint()) + "/" + bucket() + "/" + prefix + "/" + function + "/v/" + e.key);
        return urls.size() < key_count;
    });
    CURL* curl = curl_easy_init();
    // The SHA-256 of an empty payload, as a GET signs it.
    curl_slist* headers = curl_slist_append(
        nullptr, "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char* key_id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(curl, CURLOPT_USERNAME, key_id == nullptr ? "" : key_id);
    curl_easy_setopt(curl, CURLOPT_PASSWORD, secret == nullptr ? "" : secret);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    std::string body;
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    std::size_t k = 0;
    for (auto _ : state) {
        body.clear();
        curl_easy_setopt(curl, CURLOPT_URL, urls[k].c_str());
        long status = 0;
        if (curl_easy_perform(curl) != CURLE_OK ||
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200 || body.empty()) {
            state.SkipWithError(("a stored object was not read: HTTP " + std::to_string(status)).c_str());
            break;
        }
        k = (k + 1) % urls.size();
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}
BENCHMARK(BM_S3RawGet)->Unit(benchmark::kMicrosecond);

void BM_S3Hit(benchmark::State& state) {
    if (!configured(state)) return;
    auto f = cached_price_on(store_under(prefix_of("hit")), "bench.s3.price");
    run_price_hits(state, f);
}
BENCHMARK(BM_S3Hit)->Unit(benchmark::kMicrosecond);

void BM_S3MissAndStore(benchmark::State& state) {
    if (!configured(state)) return;
    cachier::options o;
    o.backend = store_under(prefix_of("miss"));
    auto f = cachier::cachier("bench.s3.miss", work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
}
BENCHMARK(BM_S3MissAndStore)->Unit(benchmark::kMicrosecond);

/// The start times of the requests the gateway logged (its access lines, "beast: ... [01/Dec/2026:
/// 10:55:47.997 +0000] "GET ..."), as seconds since the epoch.
std::vector<double> logged_request_starts(const char* log) {
    std::vector<double> starts;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) {
        if (line.find(" beast: ") == std::string::npos) continue;
        const auto open = line.find('[');
        if (open == std::string::npos) continue;
        std::tm t{};
        char month[4] = {};
        double seconds = 0;
        if (std::sscanf(line.c_str() + open + 1, "%d/%3s/%d:%d:%d:%lf", &t.tm_mday, month, &t.tm_year, &t.tm_hour,
                        &t.tm_min, &seconds) != 6)
            continue;
        static constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";
        t.tm_mon = static_cast<int>(months.find(month) / 3);
        t.tm_year -= 1900;
        starts.push_back(static_cast<double>(::timegm(&t)) + seconds);  // the log's times are UTC
    }
    return starts;
}

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// How many requests the gateway serves while a process waits for another's 3-second computation,
// per second of the wait, and how long after the store the waiter returns. Counted on the
// gateway's access log: every request that started during the wait, the computing caller's own
// (its claim renewals, its store and its release) included.
void BM_S3WaiterRequests(benchmark::State& state) {
    if (!configured(state)) return;
    const char* log = std::getenv("CACHIER_BENCH_S3_LOG");
    if (log == nullptr) return state.SkipWithError("CACHIER_BENCH_S3_LOG is not set");
    const std::string prefix = prefix_of("wait");
    // The computing caller has a backend of its own, as another process would: the waiter
    // hears of its store only through the gateway.
    const auto slow_on = [&] {
        cachier::options o;
        o.backend = store_under(prefix);
        (void)o.backend->read({"bench.s3.warm_up", "k"}, std::chrono::seconds(0));  // connected, clock read
        return three_second_function("bench.s3.wait", o);
    };
    auto slow = slow_on();
    auto elsewhere = slow_on();
    run_waits(state, slow, elsewhere, [&](const auto& wait) {
        const double wait_start = now_seconds();
        wait();
        const double wait_end = now_seconds();
        std::this_thread::sleep_for(std::chrono::seconds(1));  // the gateway writes its log in the background
        std::size_t requests = 0;
        for (const double t : logged_request_starts(log)) requests += t >= wait_start && t <= wait_end ? 1 : 0;
        return requests;
    });
}
BENCHMARK(BM_S3WaiterRequests)->Iterations(1)->Unit(benchmark::kMillisecond);

const bool goals = add_goals({
    {"s3 hit / raw libcurl signed GET on a kept-alive connection (<= 1.3x)", "BM_S3Hit", "BM_S3RawGet", 0, 1.3},
    {"s3 miss + store / s3 hit (no goal)", "BM_S3MissAndStore", "BM_S3Hit"},
    {"s3 requests per second of a wait / 10 (<= 1x)", "BM_S3WaiterRequests/iterations:1", "", 0.010, 1.0, false,
     "k/s"},
});

}  // namespace
