// File backend benchmarks.
// Run: build/default/bench/cachier_bench_file (Release), or every program with scripts/bench.sh.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cachier/cachier.hpp>

#include "bench_support.hpp"

namespace {

using namespace cachier::bench;

// File hits must not slow down as the directory grows; a miss writes one file.

// Hits on a fixed set of 100 keys spread over a directory of N entries: the cost of finding one
// entry must not grow with the number of entries (the goal). The same keys are hot in the kernel's
// caches whatever N is, so this isolates the directory's size.
constexpr std::int64_t hot_keys = 100;

auto file_cached_with(std::int64_t entries) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir("hit" + std::to_string(entries)));
    auto f = cachier::cachier("bench.file_hit", work, o);
    if (f.metrics().calls == 0 && !std::filesystem::exists(*f.cache_dpath()))
        for (std::int64_t k = 0; k < entries; ++k) f.precache_value(work(k), k);
    return f;
}

void BM_FileHit(benchmark::State& state) {
    const auto entries = state.range(0);
    auto f = file_cached_with(entries);
    const std::int64_t stride = entries / hot_keys;
    std::int64_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(i * stride));
        i = (i + 1) % hot_keys;
    }
}
BENCHMARK(BM_FileHit)->Arg(100)->Arg(10000)->Arg(20000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// For information: hits spread over every entry, so with many entries most lookups also miss the
// CPU caches (kernel dentries, inodes and pages no longer fit). No goal.
void BM_FileHitEveryKey(benchmark::State& state) {
    const auto entries = state.range(0);
    auto f = file_cached_with(entries);
    std::int64_t k = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(k));
        k = (k + 7919) % entries;
    }
}
BENCHMARK(BM_FileHitEveryKey)->Arg(100)->Arg(20000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// The same hits on 100 keys of 100 entries with max_entries set (no eviction): what a bound costs a
// hit (each key's use is recorded once a second, in the background).
void BM_FileHitBounded(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir("hit_bounded"));
    o.max_entries = 1'000'000;
    auto f = cachier::cachier("bench.file_hit_bounded", work, o);
    for (std::int64_t k = 0; k < hot_keys; ++k) f.precache_value(work(k), k);
    std::int64_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(f(i));
        i = (i + 1) % hot_keys;
    }
}
BENCHMARK(BM_FileHitBounded)->Unit(benchmark::kMicrosecond);

// Large values: a hit of a std::string of N bytes against opening and reading the entry's own file
// into a fresh buffer of its size (what the hardware and the kernel cost).
auto large_value_function(std::int64_t size) {
    return cached_large_value_on(cachier::file_backend(bench_dir("large" + std::to_string(size))), "bench.file_large",
                                 size);
}

void BM_FileHitLargeValue(benchmark::State& state) {
    auto f = large_value_function(state.range(0));
    run_large_value_hits(state, f, state.range(0));
}
BENCHMARK(BM_FileHitLargeValue)->Arg(100)->Arg(100'000)->Arg(10'000'000)->Arg(100'000'000)->Unit(benchmark::kMicrosecond);

void BM_RawReadLargeValue(benchmark::State& state) {
    auto f = large_value_function(state.range(0));
    std::filesystem::path file;
    for (const auto& entry : std::filesystem::directory_iterator(*f.cache_dpath())) file = entry.path();
    for (auto _ : state) {
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        ::fstat(fd, &st);
        std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
        benchmark::DoNotOptimize(::read(fd, bytes.data(), bytes.size()));
        ::close(fd);
        benchmark::DoNotOptimize(bytes);
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RawReadLargeValue)->Arg(100)->Arg(100'000)->Arg(10'000'000)->Arg(100'000'000)->Unit(benchmark::kMicrosecond);

// A miss of a large value with its store (the entry is removed before each call, untimed), against
// making the same bytes and writing them to a new file renamed into place.
std::string large_value_of(std::int64_t size, std::int64_t /*salt*/) { return large_value(size); }

void BM_FileMissLargeValue(benchmark::State& state) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir("large_miss" + std::to_string(state.range(0))));
    auto f = cachier::cachier("bench.file_large_miss", large_value_of, o);
    for (auto _ : state) {
        state.PauseTiming();
        f.invalidate(state.range(0), 0);
        state.ResumeTiming();
        benchmark::DoNotOptimize(f(state.range(0), 0));
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FileMissLargeValue)->Arg(100)->Arg(100'000)->Arg(10'000'000)->Arg(100'000'000)->Unit(benchmark::kMicrosecond);

void BM_RawWriteLargeValue(benchmark::State& state) {
    const std::filesystem::path dir = bench_dir("large_write" + std::to_string(state.range(0)));
    std::filesystem::create_directories(dir);
    const std::string temp = (dir / "entry.tmp").string();
    const std::string name = (dir / "entry").string();
    for (auto _ : state) {
        state.PauseTiming();
        ::unlink(name.c_str());  // as the miss's entry was removed: a new file, renamed to a free name
        state.ResumeTiming();
        const std::string bytes = large_value(state.range(0));
        const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        benchmark::DoNotOptimize(::write(fd, bytes.data(), bytes.size()));
        ::close(fd);
        ::rename(temp.c_str(), name.c_str());
    }
    state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RawWriteLargeValue)->Arg(100)->Arg(100'000)->Arg(10'000'000)->Arg(100'000'000)->Unit(benchmark::kMicrosecond);

// Peak memory of one file hit on a value of N bytes, in a fresh process (the entry stored by this
// one beforehand): how far the hit raised the resident set's high-water mark (counter peak_bytes),
// against N.
template <std::int64_t Size>
void peak_fill() {
    cachier::options o;
    o.backend = cachier::file_backend(parent_bench_dir("peak" + std::to_string(Size)));
    auto f = cachier::cachier("bench.file_large", large_value, o);
    benchmark::DoNotOptimize(f(Size));
}
const bool peak_fills = add_resident_fill("file_hit_peak_10MB", peak_fill<10'000'000>) &&
                        add_resident_fill("file_hit_peak_100MB", peak_fill<100'000'000>);

void BM_FileHitPeakMemory(benchmark::State& state) {
    const std::int64_t size = state.range(0);
    {
        cachier::options o;
        o.backend = cachier::file_backend(bench_dir("peak" + std::to_string(size)));
        auto f = cachier::cachier("bench.file_large", large_value, o);
        benchmark::DoNotOptimize(f(size));
    }
    double peak = 0;
    for (auto _ : state)
        peak = measure_fill(size == 10'000'000 ? "file_hit_peak_10MB" : "file_hit_peak_100MB").peak;
    if (peak < 0) state.SkipWithError("the fill failed");
    state.counters["peak_bytes"] = peak;
}
BENCHMARK(BM_FileHitPeakMemory)->Arg(10'000'000)->Arg(100'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

// Compression of a realistic 10 MB value (JSON lines of records with varied numbers), by zstd
// level (0: off): hit and miss times, and the bytes stored (counter stored_bytes).
std::string json_records(std::int64_t size, std::int64_t /*level*/) {
    std::string text;
    std::uint64_t state = 88172645463325252ULL;
    for (std::uint64_t id = 0; text.size() < static_cast<std::size_t>(size); ++id) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        text += "{\"id\": " + std::to_string(id) + ", \"sku\": \"item-" + std::to_string(state % 100000) +
                "\", \"price\": " + std::to_string(state % 10000) + "." + std::to_string(state % 97) +
                ", \"stock\": " + std::to_string((state >> 20) % 500) + ", \"tags\": [\"new\", \"sale\"]}\n";
    }
    text.resize(static_cast<std::size_t>(size));
    return text;
}

constexpr std::int64_t compressed_value_size = 10'000'000;

auto compressing_function(std::int64_t level) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir("compression" + std::to_string(level)));
    if (level != 0) o.compression = cachier::compression::zstd(static_cast<int>(level));
    return cachier::cachier("bench.file_compression", json_records, o);
}

void note_stored_bytes(benchmark::State& state, const std::filesystem::path& dir) {
    std::uintmax_t bytes = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.is_regular_file()) bytes = std::max(bytes, entry.file_size());
    state.counters["stored_bytes"] = static_cast<double>(bytes);
}

void BM_FileCompressionHit(benchmark::State& state) {
    auto f = compressing_function(state.range(0));
    benchmark::DoNotOptimize(f(compressed_value_size, state.range(0)));
    for (auto _ : state) benchmark::DoNotOptimize(f(compressed_value_size, state.range(0)));
    note_stored_bytes(state, *f.cache_dpath());
}
BENCHMARK(BM_FileCompressionHit)->Arg(0)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond);

void BM_FileCompressionMiss(benchmark::State& state) {
    auto f = compressing_function(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        f.invalidate(compressed_value_size, state.range(0));
        state.ResumeTiming();
        benchmark::DoNotOptimize(f(compressed_value_size, state.range(0)));
    }
    note_stored_bytes(state, *f.cache_dpath());
}
BENCHMARK(BM_FileCompressionMiss)->Arg(0)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond);

// A miss: claim, compute, store (temp file + rename), release. Then streams of misses, unbounded
// and with max_entries 1,000 (so that the stream keeps evicting), in real time: eviction runs on
// other threads.
void run_file_misses(benchmark::State& state, const std::string& name, std::optional<std::uint64_t> max_entries) {
    cachier::options o;
    o.backend = cachier::file_backend(bench_dir(name));
    o.max_entries = max_entries;
    auto f = cachier::cachier("bench." + name, work, o);
    for (auto _ : state) benchmark::DoNotOptimize(f(next_cold_key()));
    state.SetItemsProcessed(state.iterations());
}
void BM_FileMissAndStore(benchmark::State& state) { run_file_misses(state, "file_miss", std::nullopt); }
BENCHMARK(BM_FileMissAndStore)->Unit(benchmark::kMicrosecond);
void BM_FileMissStream(benchmark::State& state) { run_file_misses(state, "file_miss_stream", std::nullopt); }
BENCHMARK(BM_FileMissStream)->UseRealTime()->Unit(benchmark::kMicrosecond);
void BM_FileMissStreamEvicting(benchmark::State& state) { run_file_misses(state, "file_miss_evicting", 1000); }
BENCHMARK(BM_FileMissStreamEvicting)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The first cached call of a new process (short-lived programs pay it on every run: build steps,
// command-line tools) against the second: a child process makes the cached function, hits an entry
// stored by this one, then hits it again, and reports the times of both calls (manual time).
enum class which_hit { first, second };

void run_new_process_hits(benchmark::State& state, which_hit which) {
    const auto dir = bench_dir("first_hit");
    cachier::options o;
    o.backend = cachier::file_backend(dir);
    auto f = cachier::cachier("bench.first_hit", work, o);
    f.precache_value(work(7), 7);
    const std::string command = std::string(CACHIER_FIRST_HIT_CHILD) + " '" + dir.string() + "'";
    for (auto _ : state) {
        FILE* child = ::popen(command.c_str(), "r");
        if (child == nullptr) throw std::runtime_error("cannot start " + command);
        long long first_ns = 0;
        long long second_ns = 0;
        const int read = std::fscanf(child, "%lld %lld", &first_ns, &second_ns);
        if (::pclose(child) != 0 || read != 2) {
            state.SkipWithError("the child process failed");
            break;
        }
        state.SetIterationTime(static_cast<double>(which == which_hit::first ? first_ns : second_ns) * 1e-9);
    }
}
void BM_FileFirstHitInANewProcess(benchmark::State& state) { run_new_process_hits(state, which_hit::first); }
BENCHMARK(BM_FileFirstHitInANewProcess)->UseManualTime()->Iterations(50)->Unit(benchmark::kMicrosecond);
void BM_FileSecondHitInANewProcess(benchmark::State& state) { run_new_process_hits(state, which_hit::second); }
BENCHMARK(BM_FileSecondHitInANewProcess)->UseManualTime()->Iterations(50)->Unit(benchmark::kMicrosecond);

const bool goals = add_goals({
    {"file hit, 100 entries / 20 us goal (<= 1x)", "BM_FileHit/100", "", 20.0, 1.0},
    {"file hit, 20,000 / 100 entries (<= 1.5x)", "BM_FileHit/20000", "BM_FileHit/100", 0, 1.5},
    {"file hit, 100,000 / 100 entries (<= 1.5x)", "BM_FileHit/100000", "BM_FileHit/100", 0, 1.5},
    {"file hit on every key, 100,000 / 100 entries (no goal)", "BM_FileHitEveryKey/100000", "BM_FileHitEveryKey/100"},
    {"file hit with max_entries / without, 100 entries (<= 1.1x)", "BM_FileHitBounded", "BM_FileHit/100", 0, 1.1},
    {"file miss + store / 300 us goal (<= 1x)", "BM_FileMissAndStore", "", 300.0, 1.0},
    {"first file hit of a new process / its second hit (<= 10x)",
     "BM_FileFirstHitInANewProcess/iterations:50/manual_time", "BM_FileSecondHitInANewProcess/iterations:50/manual_time",
     0, 10.0},
    {"file hit of 100 KB / open+read+close (<= 1.5x)", "BM_FileHitLargeValue/100000", "BM_RawReadLargeValue/100000", 0,
     1.5},
    {"file hit of 10 MB / open+read+close (<= 1.5x)", "BM_FileHitLargeValue/10000000", "BM_RawReadLargeValue/10000000",
     0, 1.5},
    {"file hit of 100 MB / open+read+close (<= 1.5x)", "BM_FileHitLargeValue/100000000",
     "BM_RawReadLargeValue/100000000", 0, 1.5},
    {"file miss + store of 100 KB / write+rename (<= 1.3x)", "BM_FileMissLargeValue/100000",
     "BM_RawWriteLargeValue/100000", 0, 1.3},
    {"file miss + store of 10 MB / write+rename (<= 1.3x)", "BM_FileMissLargeValue/10000000",
     "BM_RawWriteLargeValue/10000000", 0, 1.3},
    {"file miss + store of 100 MB / write+rename (<= 1.3x)", "BM_FileMissLargeValue/100000000",
     "BM_RawWriteLargeValue/100000000", 0, 1.3},
    {"peak memory of a 10 MB file hit / its size (<= 2.5x)", "BM_FileHitPeakMemory/10000000/iterations:1",
     "", 10'000'000, 2.5, false, "B"},
    {"peak memory of a 100 MB file hit / its size (<= 2.5x)", "BM_FileHitPeakMemory/100000000/iterations:1",
     "", 100'000'000, 2.5, false, "B"},
    {"file hit of 10 MB of JSON lines, zstd level 1 / uncompressed (no goal)", "BM_FileCompressionHit/1",
     "BM_FileCompressionHit/0"},
    {"file miss of 10 MB of JSON lines, zstd level 1 / uncompressed (no goal)", "BM_FileCompressionMiss/1",
     "BM_FileCompressionMiss/0"},
    {"file misses/s evicting at max_entries 1,000 / unbounded (no goal)", "BM_FileMissStreamEvicting/real_time",
     "BM_FileMissStream/real_time", 0, 0, true, "k/s"},
});

}  // namespace
