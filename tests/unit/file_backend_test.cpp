// What only the file backend must do: its directory layout, permissions, atomic files, and
// recovery from corrupt entries and unusable directories.

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

namespace {

/// The file name (64 hex) `f(x)` stores under, found by storing it once and removing it again.
template <class F>
std::filesystem::path entry_path_of(F& f, int x) {
    const auto before = entries_of(*f.cache_dpath());
    f.precache_value(x, x);
    for (const auto& e : entries_of(*f.cache_dpath()))
        if (std::find(before.begin(), before.end(), e) == before.end()) {
            std::filesystem::remove(e);
            return e;
        }
    ADD_FAILURE() << "no entry appeared";
    return {};
}

/// A counted identity function in `root`.
struct counted_in {
    std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
    int operator()(int x) const {
        ++*calls;
        return x;
    }
};

bool running_as_root() { return ::geteuid() == 0; }

}  // namespace

TEST(FileBackend, EntryCopiedOverAnotherKeysFileIsRecomputed) {
    scratch_dir scratch;
    counted_in fn;
    auto f = cachier::cachier("file.swapped", fn, in(scratch.path()));
    EXPECT_EQ(f(1), 1);
    const auto one = entries_of(*f.cache_dpath()).at(0);
    EXPECT_EQ(f(2), 2);
    std::filesystem::path two;
    for (const auto& e : entries_of(*f.cache_dpath()))
        if (e != one) two = e;
    std::filesystem::copy_file(one, two, std::filesystem::copy_options::overwrite_existing);
    EXPECT_EQ(f(2), 2) << "another key's value was served";
    EXPECT_EQ(*fn.calls, 3);
}

TEST(FileBackend, DirectoryOfAnotherUserIsRefusedAndOneOthersCanWriteIsMadePrivate) {
    scratch_dir scratch;
    // A directory of ours that others may write to is made private at first use.
    const auto open_dir = scratch.path() / "open";
    std::filesystem::create_directories(open_dir);
    ::chmod(open_dir.c_str(), 0777);
    counted_in fn;
    auto f = cachier::cachier("file.hostile", fn, in(open_dir));
    EXPECT_EQ(f(1), 1);
    struct stat st {};
    ASSERT_EQ(::stat(open_dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700);

    if (!running_as_root()) GTEST_SKIP() << "giving a directory to another user needs root";
    // The same cache, handed to another user who planted a value: refused, never read.
    const auto theirs = scratch.path() / "theirs";
    std::filesystem::copy(open_dir, theirs, std::filesystem::copy_options::recursive);
    const auto planted = entries_of(theirs / f.cache_dpath()->filename()).at(0);
    ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
    cachier::test::log_capture logs;
    auto o = in(theirs);
    o.enable_metrics = true;
    counted_in other;
    auto g = cachier::cachier("file.hostile", other, o);
    EXPECT_EQ(g(1), 1);
    EXPECT_EQ(*other.calls, 1) << "a value from another user's directory was served";
    EXPECT_TRUE(logs.contains("belongs to user 65534", cachier::log_level::warning));
    EXPECT_GE(g.metrics().backend_errors, 1U);
    EXPECT_TRUE(std::filesystem::exists(planted));
}

TEST(FileBackend, LinksPlantedInTheCacheAreNeverFollowed) {
    scratch_dir scratch;
    const auto root = scratch.path() / "cache";
    counted_in fn;
    auto f = cachier::cachier("file.links", fn, in(root));
    EXPECT_EQ(f(1), 1);
    // A link where a lock file goes: taking the claim must not create the link's target.
    const auto entry = entry_path_of(f, 2);
    const auto target = scratch.path() / "created-by-a-link";
    std::filesystem::create_symlink(target, entry.string() + ".lock");
    // A link where an entry goes, to a valid entry elsewhere: not served.
    const auto elsewhere = scratch.path() / "elsewhere";
    std::filesystem::copy_file(entries_of(*f.cache_dpath()).at(0), elsewhere);
    const auto entry3 = entry_path_of(f, 3);
    std::filesystem::create_symlink(elsewhere, entry3);
    EXPECT_EQ(f(2), 2);
    EXPECT_EQ(f(3), 3);
    EXPECT_EQ(*fn.calls, 3);
    EXPECT_FALSE(std::filesystem::exists(target)) << "a planted link made cachier create its target";
    EXPECT_EQ(f(2), 2);
    EXPECT_EQ(*fn.calls, 3) << "the value is stored again, as a regular file";
    EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(entry3)));

    // A function directory replaced by a link to another directory: refused, nothing written there.
    const auto decoy = scratch.path() / "decoy";
    std::filesystem::create_directories(decoy);
    auto g = cachier::cachier("file.links_dir", fn, in(root));
    const auto g_dir = *g.cache_dpath();
    std::filesystem::create_symlink(decoy, g_dir);
    cachier::test::log_capture logs;
    EXPECT_EQ(g(5), 5);
    EXPECT_TRUE(std::filesystem::is_empty(decoy));
    EXPECT_TRUE(logs.contains("symbolic link", cachier::log_level::warning));
}

TEST(FileBackend, AFifoAtAnEntrysPathIsAMissThatNeverBlocks) {
    scratch_dir scratch;
    counted_in fn;
    auto f = cachier::cachier("file.fifo", fn, in(scratch.path()));
    const auto entry = entry_path_of(f, 4);
    ASSERT_EQ(::mkfifo(entry.c_str(), 0600), 0);
    auto call = std::async(std::launch::async, [&] { return f(4); });
    ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "the call hangs on a FIFO";
    EXPECT_EQ(call.get(), 4);
    EXPECT_TRUE(std::filesystem::is_regular_file(entry)) << "the FIFO is replaced by the stored value";
    EXPECT_EQ(f(4), 4);
    EXPECT_EQ(*fn.calls, 1);
}

TEST(FileBackend, TemporaryFilesOfKilledWritersAreSweptAndLiveOnesKept) {
    scratch_dir scratch;
    auto f = cachier::cachier("file.sweep", [](int x) { return x; }, in(scratch.path()));
    f(1);
    const auto dir = *f.cache_dpath();
    // Two writers in the middle of a store, holding their temporary files locked as writers do:
    // one is killed, the other lives on.
    const auto start_writer = [&](const std::string& name) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            const int fd = ::open((dir / name).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
            ::flock(fd, LOCK_EX);
            ::pause();
            ::_exit(0);
        }
        return pid;
    };
    const std::string dead = std::string(64, 'a') + ".tmp.1.0";
    const std::string alive = std::string(64, 'b') + ".tmp.2.0";
    const pid_t killed = start_writer(dead);
    const pid_t living = start_writer(alive);
    ASSERT_TRUE(cachier::test::eventually([&] { return std::filesystem::exists(dir / dead) && std::filesystem::exists(dir / alive); },
                                          std::chrono::seconds(5)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both hold their locks
    ::kill(killed, SIGKILL);
    ::waitpid(killed, nullptr, 0);
    // Older than the moment between a writer's create and lock.
    const timespec an_hour_ago[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
    ::utimensat(AT_FDCWD, (dir / dead).c_str(), an_hour_ago, 0);
    ::utimensat(AT_FDCWD, (dir / alive).c_str(), an_hour_ago, 0);

    // Another process's first store into the directory sweeps (a backend object of its own here).
    cachier::options o;
    o.backend = cachier::file_backend(cachier::file_backend_options{scratch.path(), true});
    auto again = cachier::cachier("file.sweep", [](int x) { return x; }, o);
    again(2);
    EXPECT_FALSE(std::filesystem::exists(dir / dead)) << "a killed writer's file was left";
    EXPECT_TRUE(std::filesystem::exists(dir / alive)) << "a live writer's file was removed";
    ::kill(living, SIGKILL);
    ::waitpid(living, nullptr, 0);
}
