// What only the file backend must do: its directory layout, permissions, atomic files, and
// recovery from corrupt entries and unusable directories.

#include <cstring>
#include <fstream>
#include <thread>

#include <sys/mount.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cachier/cachier.hpp>

#include "../support/test_support.hpp"

using cachier::test::scratch_dir;

namespace {

cachier::options in(const std::filesystem::path& dir) {
    cachier::options o;
    o.backend = cachier::file_backend(dir);
    return o;
}

std::vector<std::filesystem::path> entries_of(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    if (!std::filesystem::exists(dir)) return out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().size() == 64) out.push_back(e.path());
    return out;
}

}  // namespace

TEST(FileBackend, DirectoriesArePrivateToTheOwner) {
    scratch_dir scratch;
    const auto root = scratch.path() / "a" / "cache";
    auto f = cachier::cachier("file.private", [](int x) { return x; }, in(root));
    f(1);
    struct stat st {};
    ASSERT_EQ(::stat(root.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700);
    ASSERT_EQ(::stat(f.cache_dpath()->c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700);
    ASSERT_EQ(entries_of(*f.cache_dpath()).size(), 1U);
    ASSERT_EQ(::stat(entries_of(*f.cache_dpath())[0].c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(FileBackend, FunctionNamesCannotEscapeOrCollide) {
    scratch_dir scratch;
    const auto root = scratch.path() / "cache";
    for (const std::string name : {"../../escape", "/etc/passwd", "..", "a/b", "a_b", "with space", "ünïcode"}) {
        auto f = cachier::cachier(name, [](int x) { return x; }, in(root));
        f(1);
        const auto dir = *f.cache_dpath();
        EXPECT_EQ(dir.parent_path(), root) << name;
        EXPECT_TRUE(std::filesystem::is_directory(dir)) << name;
    }
    auto ab = cachier::cachier("a/b", [](int x) { return x; }, in(root));
    auto a_b = cachier::cachier("a_b", [](int x) { return x; }, in(root));
    EXPECT_NE(*ab.cache_dpath(), *a_b.cache_dpath());
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(scratch.path()), {}), 1) << "wrote outside the cache";
}

TEST(FileBackend, CorruptAndTruncatedEntriesAreMissesAndGetRewritten) {
    scratch_dir scratch;
    cachier::test::log_capture logs;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "file.corrupt",
        [&](int x) {
            ++calls;
            return std::string(100, static_cast<char>('a' + x));
        },
        in(scratch.path()));
    EXPECT_EQ(f(1), std::string(100, 'b'));
    const auto entry = entries_of(*f.cache_dpath()).at(0);
    const auto size = std::filesystem::file_size(entry);

    std::filesystem::resize_file(entry, size / 2);  // truncated
    EXPECT_EQ(f(1), std::string(100, 'b'));
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(std::filesystem::file_size(entry), size) << "the entry was not rewritten";

    {
        std::fstream garbage(entry, std::ios::in | std::ios::out | std::ios::binary);
        garbage.seekp(40);
        garbage.write("XXXX", 4);  // flipped bytes inside the value
    }
    EXPECT_EQ(f(1), std::string(100, 'b'));
    EXPECT_EQ(calls, 3);

    std::ofstream(entry, std::ios::trunc) << "not a cache file at all";
    EXPECT_EQ(f(1), std::string(100, 'b'));
    EXPECT_EQ(calls, 4);
    EXPECT_EQ(f(1), std::string(100, 'b'));
    EXPECT_EQ(calls, 4);
    EXPECT_TRUE(logs.contains("corrupt"));
}

TEST(FileBackend, ValueOfAnotherTypeIsAMiss) {
    scratch_dir scratch;
    auto as_string = cachier::cachier("file.type_change", [](int) { return std::string("text"); }, in(scratch.path()));
    as_string(1);
    auto as_vector = cachier::cachier("file.type_change", [](int) { return std::vector<double>{1.5}; }, in(scratch.path()));
    EXPECT_EQ(as_vector(1), std::vector<double>{1.5});
}

TEST(FileBackend, UnusableDirectoryStillReturnsResultsAndReports) {
    scratch_dir scratch;
    const auto blocker = scratch.path() / "not-a-dir";
    std::ofstream(blocker) << "a file where the cache directory should be";
    cachier::test::log_capture logs;
    auto o = in(blocker);
    o.enable_metrics = true;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "file.unusable",
        [&](int x) {
            ++calls;
            return x * 2;
        },
        o);
    EXPECT_EQ(f(2), 4);
    EXPECT_EQ(f(2), 4);
    EXPECT_EQ(calls, 2);
    EXPECT_GE(f.metrics().backend_errors, 2U);
    EXPECT_FALSE(logs.messages(cachier::log_level::warning).empty());
}

TEST(FileBackend, DurableModeStoresAndReads) {
    scratch_dir scratch;
    cachier::options o;
    o.backend = cachier::file_backend(cachier::file_backend_options{scratch.path(), true});
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "file.durable",
        [&](int x) {
            ++calls;
            return x;
        },
        o);
    f(1);
    f(1);
    EXPECT_EQ(calls, 1);
}

TEST(FileBackend, NoTemporaryFilesAreLeftBehind) {
    scratch_dir scratch;
    auto f = cachier::cachier("file.temp", [](int x) { return x; }, in(scratch.path()));
    for (int i = 0; i < 20; ++i) f(i);
    for (const auto& e : std::filesystem::directory_iterator(*f.cache_dpath())) {
        if (e.path().filename() == ".function") continue;  // the function's name, for listings
        EXPECT_EQ(e.path().filename().string().size(), 64U) << e.path();
    }
}

TEST(FileBackend, SameDirectorySharesOneBackendObject) {
    scratch_dir scratch;
    EXPECT_EQ(cachier::file_backend(scratch.path()), cachier::file_backend(scratch.path() / "."));
}

TEST(FileBackend, FullDiskStillReturnsResultsAndLeavesNoTemporaryFiles) {
    scratch_dir scratch;
    const auto disk = scratch.path() / "small-disk";
    std::filesystem::create_directories(disk);
    if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=64k") != 0)
        GTEST_SKIP() << "cannot mount a small tmpfs here (needs root): " << std::strerror(errno);
    struct unmount_at_end {
        std::filesystem::path dir;
        ~unmount_at_end() { ::umount2(dir.c_str(), MNT_DETACH); }
    } unmount{disk};

    cachier::test::log_capture logs;
    auto o = in(disk / "cache");
    o.enable_metrics = true;
    std::atomic<int> calls{0};
    auto f = cachier::cachier(
        "file.full_disk",
        [&](int x) {
            ++calls;
            return std::string(256 * 1024, static_cast<char>('a' + x));  // larger than the whole disk
        },
        o);
    EXPECT_EQ(f(1), std::string(256 * 1024, 'b'));
    EXPECT_EQ(f(1), std::string(256 * 1024, 'b'));
    EXPECT_EQ(calls, 2);
    EXPECT_GE(f.metrics().backend_errors, 2U);
    EXPECT_TRUE(logs.contains("No space left on device", cachier::log_level::warning));
    for (const auto& e : std::filesystem::directory_iterator(*f.cache_dpath()))
        EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "left behind: " << e.path();

    auto small = cachier::cachier("file.full_disk_small", [](int x) { return x; }, in(disk / "cache"));
    EXPECT_EQ(small(7), 7);
    EXPECT_EQ(small(7), 7);
    EXPECT_EQ(small.metrics().calls, 0U);
    EXPECT_EQ(entries_of(*small.cache_dpath()).size(), 1U) << "small values still fit and are stored";
}

TEST(FileBackend, EntryKeysAreTheSameOnEveryMachineAndBuild) {
    // SHA-256 of: the name's length (u64 little-endian), the name, then the encoded arguments
    // (int32 1 little-endian; string "ab" as a u64 length and its bytes). Computed independently.
    scratch_dir scratch;
    auto f = cachier::cachier("golden.key", [](std::int32_t, const std::string&) { return 0; }, in(scratch.path()));
    f(1, "ab");
    const auto entries = entries_of(*f.cache_dpath());
    ASSERT_EQ(entries.size(), 1U);
    EXPECT_EQ(entries[0].filename(), "f1c58a653af8c4d525f47c07514a0838a078056f8c179e85ba6c231ebdcde5f5");
}
