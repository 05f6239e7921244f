// The SQL backend on SQLite (embedded) or PostgreSQL, chosen by URL:
//   example_sql                                    sqlite:///tmp/cachier-example.db
//   example_sql postgresql://user@host:5432/db     (or $CACHIER_POSTGRES_URL)
// Every process using the same database shares the cache; exactly one computes a missing value.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <cachier/cachier.hpp>

std::vector<double> monthly_totals(const std::string& account, int year) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a slow report query
    std::vector<double> totals;
    for (int month = 1; month <= 12; ++month) totals.push_back(static_cast<double>(account.size() * month + year % 100));
    return totals;
}

int main(int argc, char** argv) {
    using namespace std::chrono_literals;
    const char* env = std::getenv("CACHIER_POSTGRES_URL");
    const std::string url = argc > 1 ? argv[1] : env != nullptr ? env : "sqlite:///tmp/cachier-example.db";

    cachier::options opts;
    opts.backend = cachier::sql_backend(url);
    opts.stale_after = 1h;
    opts.enable_metrics = true;
    auto totals = cachier::cachier("examples.sql.monthly_totals", monthly_totals, opts);

    for (int call = 1; call <= 2; ++call) {
        const auto start = std::chrono::steady_clock::now();
        const auto values = totals("ACME-001", 2026);
        const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("call %d: %zu months, December %.1f (%.2f ms)\n", call, values.size(), values.back(), ms);
    }
    const auto m = totals.metrics();
    std::printf("%s: hits=%llu misses=%llu backend_errors=%llu\n", opts.backend->kind().data(),
                static_cast<unsigned long long>(m.hits), static_cast<unsigned long long>(m.misses),
                static_cast<unsigned long long>(m.backend_errors));
    return m.backend_errors == 0 ? 0 : 1;
}
