// The S3 backend: a cache in a bucket, shared by every process and machine that can reach it, and
// kept as long as the bucket is.
//   example_s3 [bucket]   (default: $CACHIER_S3_BUCKET, else cachier-example)
// Credentials, region and endpoint come from the environment as the AWS tools read them:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_REGION, AWS_ENDPOINT_URL.
// Start two copies at once: one computes, the other waits for its result instead of computing again.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <cachier/cachier.hpp>

std::string exchange_rate(const std::string& from, const std::string& to) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // a slow remote call
    return from + "/" + to + " = " + std::to_string(from.size() * 0.93 + to.size() * 0.01);
}

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    const char* env = std::getenv("CACHIER_S3_BUCKET");
    cachier::s3_backend_options s3;
    s3.bucket = argc > 1 ? argv[1] : env != nullptr ? env : "cachier-example";
    s3.prefix = "examples";

    cachier::options opts;
    opts.backend = cachier::s3_backend(s3);
    opts.stale_after = 1h;
    opts.enable_metrics = true;
    auto rate = cachier::cachier("examples.s3.exchange_rate", exchange_rate, opts);

    for (int call = 1; call <= 2; ++call) {
        const auto start = std::chrono::steady_clock::now();
        const std::string text = rate("EUR", "USD");
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("call %d: %s (%.2f ms)\n", call, text.c_str(), ms);
    }
    const auto m = rate.metrics();
    std::printf("hits=%llu misses=%llu backend_errors=%llu\n", static_cast<unsigned long long>(m.hits),
                static_cast<unsigned long long>(m.misses), static_cast<unsigned long long>(m.backend_errors));
    return m.backend_errors == 0 && m.hits == 1 ? 0 : 1;
}
