#include "bench_support.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cachier/cachier.hpp>

namespace cachier::bench {

bool keep_large_buffers_on_the_heap() {
    ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 128 << 20);
    return true;
}

std::int64_t next_cold_key() {
    static std::int64_t next = 0;
    return next++;
}

const std::vector<std::string>& skus() {
    static const auto all = [] {
        std::vector<std::string> made;
        for (std::int64_t k = 0; k < key_count * 2; ++k) made.push_back("catalog/sku-" + std::to_string(100000 + k));
        return made;
    }();
    return all;
}

void BM_MemoryHitBaseline(benchmark::State& state) {
    auto f = cached_price_on(cachier::memory_backend(), "bench.memory.baseline");
    run_price_hits(state, f);
}

void run_tiered_price_hits(benchmark::State& state, std::shared_ptr<cachier::backend> shared, const std::string& name) {
    auto f = cached_price_on(cachier::tiered_backend(cachier::memory_backend(), std::move(shared)), name);
    run_price_hits(state, f);
}

namespace {

std::filesystem::path bench_root() {
    return std::filesystem::temp_directory_path() / ("cachier-bench-" + std::to_string(::getpid()));
}

struct cleanup_bench_dirs {
    ~cleanup_bench_dirs() {
        std::error_code ignored;
        std::filesystem::remove_all(bench_root(), ignored);
    }
} cleanup_at_exit;

std::vector<goal>& all_goals() {
    static std::vector<goal> goals;
    return goals;
}

class summary_reporter : public benchmark::ConsoleReporter {
public:
    explicit summary_reporter(OutputOptions options) : ConsoleReporter(options) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& run : runs) {
            if (run.error_occurred) continue;
            // With --benchmark_repetitions the median stands for the benchmark; otherwise the one run.
            const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
            if (run.run_type != Run::RT_Iteration && !median) continue;
            const std::string name = median ? run.run_name.str() : run.benchmark_name();
            ns_per_op_[name] = run.GetAdjustedRealTime() * to_ns(run.time_unit);
            if (auto it = run.counters.find("items_per_second"); it != run.counters.end())
                per_second_[name] = it->second.value;
            for (const char* counter : {"bytes_per_entry", "peak_bytes"})
                if (auto it = run.counters.find(counter); it != run.counters.end()) bytes_[name] = it->second.value;
        }
    }

    // Returns false when a goal is missed.
    bool print_summary() const {
        std::printf("\n%-62s %12s %12s %8s %s\n", "goal", "measured", "baseline", "ratio", "");
        bool ok = true;
        for (const goal& g : all_goals()) {
            const double measured = value(g, g.measured);
            const double baseline = g.baseline.empty() ? g.fixed_baseline : value(g, g.baseline);
            if (measured <= 0 || baseline <= 0) {
                std::printf("%-62s %s\n", g.text.c_str(), "(not run)");
                continue;
            }
            const double ratio = measured / baseline;
            const bool pass = g.limit == 0 || (g.at_least ? ratio >= g.limit : ratio <= g.limit);
            ok = ok && pass;
            std::printf("%-62s %10.3f%s %10.3f%s %7.2fx %s\n", g.text.c_str(), measured, g.unit, baseline, g.unit,
                        ratio, g.limit == 0 ? "info" : pass ? "ok" : "MISSED");
        }
        return ok;
    }

private:
    // A benchmark's figure in the goal's unit.
    double value(const goal& g, const std::string& name) const {
        const std::string unit = g.unit;
        if (unit == "B") {
            const auto it = bytes_.find(name);
            return it == bytes_.end() ? 0.0 : it->second;
        }
        if (unit == "M/s" || unit == "k/s") {
            const auto it = per_second_.find(name);
            return it == per_second_.end() ? 0.0 : it->second / (unit == "M/s" ? 1e6 : 1e3);
        }
        const auto it = ns_per_op_.find(name);
        return it == ns_per_op_.end() ? 0.0 : it->second / (unit == "us" ? 1e3 : 1.0);
    }

    static double to_ns(benchmark::TimeUnit unit) {
        switch (unit) {
            case benchmark::kNanosecond: return 1;
            case benchmark::kMicrosecond: return 1e3;
            case benchmark::kMillisecond: return 1e6;
            case benchmark::kSecond: return 1e9;
        }
        return 1;
    }
    std::map<std::string, double> ns_per_op_;
    std::map<std::string, double> per_second_;
    std::map<std::string, double> bytes_;
};

}  // namespace

std::filesystem::path bench_dir(const std::string& name) {
    auto dir = bench_root() / name;
    std::filesystem::create_directories(dir);
    return dir;
}

std::filesystem::path parent_bench_dir(const std::string& name) {
    return std::filesystem::temp_directory_path() / ("cachier-bench-" + std::to_string(::getppid())) / name;
}

namespace {

std::map<std::string, std::function<void()>>& resident_fills() {
    static std::map<std::string, std::function<void()>> fills;
    return fills;
}

long resident_bytes() {
    long pages = 0;
    long resident = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(statm);
    }
    return resident * ::sysconf(_SC_PAGESIZE);
}

// The most the resident set has held since the process started (VmHWM).
long peak_resident_bytes() {
    long kib = 0;
    if (FILE* status = std::fopen("/proc/self/status", "r")) {
        std::array<char, 256> line{};
        while (std::fgets(line.data(), static_cast<int>(line.size()), status) != nullptr)
            if (std::sscanf(line.data(), "VmHWM: %ld kB", &kib) == 1) break;
        std::fclose(status);
    }
    return kib * 1024;
}

constexpr const char* resident_flag = "--cachier-resident-fill";

// The fill of `name`, in this process: prints the growth of the resident set, then that of its peak.
int run_resident_fill(const std::string& name) {
    const auto found = resident_fills().find(name);
    if (found == resident_fills().end()) return 2;
    const long before = resident_bytes();
    const long peak_before = peak_resident_bytes();
    found->second();
    std::printf("%ld %ld\n", resident_bytes() - before, peak_resident_bytes() - peak_before);
    return 0;
}

}  // namespace

bool add_resident_fill(std::string name, std::function<void()> fill) {
    resident_fills().emplace(std::move(name), std::move(fill));
    return true;
}

resident_growth measure_fill(const std::string& name) {
    const resident_growth failed{-1, -1};
    std::array<char, 4096> self{};
    const ssize_t length = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
    if (length <= 0) return failed;
    int ends[2];
    if (::pipe(ends) != 0) return failed;
    const pid_t child = ::fork();
    if (child == 0) {
        ::dup2(ends[1], STDOUT_FILENO);
        ::close(ends[0]);
        ::close(ends[1]);
        ::execl(self.data(), self.data(), resident_flag, name.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(ends[1]);
    std::string out;
    std::array<char, 64> buffer{};
    for (ssize_t n; (n = ::read(ends[0], buffer.data(), buffer.size())) > 0;) out.append(buffer.data(), static_cast<std::size_t>(n));
    ::close(ends[0]);
    int status = 0;
    if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return failed;
    resident_growth growth{};
    if (std::sscanf(out.c_str(), "%lf %lf", &growth.resident, &growth.peak) != 2) return failed;
    return growth;
}

double measure_resident_growth(const std::string& name) { return measure_fill(name).resident; }

bool add_goals(std::vector<goal> goals) {
    all_goals().insert(all_goals().end(), goals.begin(), goals.end());
    return true;
}

}  // namespace cachier::bench

int main(int argc, char** argv) {
    cachier::set_log_callback(nullptr);
    if (argc == 3 && std::string(argv[1]) == cachier::bench::resident_flag) return cachier::bench::run_resident_fill(argv[2]);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // Colours only on a terminal, so that logs and the README copy stay plain text.
    cachier::bench::summary_reporter reporter(::isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                                                      : benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return reporter.print_summary() ? 0 : 1;
}
