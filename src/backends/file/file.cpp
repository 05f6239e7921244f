// The file backend (the default): one directory per function, one file per entry written through a
// temporary file and rename, and claims held as exclusive flock() locks on "<key>.lock" files, which
// the kernel releases the moment their owner dies. Everything inside the cache directory is reached
// through directory descriptors (file_system.hpp): no link is followed, no FIFO blocks a call, and
// only directories of this user's, that nobody else can write to, are used.

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../../backend_registry.hpp"
#include "../../digest.hpp"
#include "../../fork.hpp"
#include "../../log.hpp"
#include "../../read_limit.hpp"
#include "../../settings.hpp"
#include "../../split_reader.hpp"
#include "../../value_buffers.hpp"
#include "file_format.hpp"
#include "file_system.hpp"

namespace cachier {
namespace {

namespace format = detail::file_format;
using detail::file_system::fail;
using detail::file_system::fd_guard;
using detail::file_system::inside_flags;
using detail::file_system::read_exact;
using detail::file_system::same_file;

bool is_entry_name(std::string_view name) {
    if (name.size() != 64) return false;
    for (char c : name)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// A directory name for a function that stays inside the cache directory and never collides:
/// the name's safe characters (for people reading the directory) plus 16 hex digits of its SHA-256.
std::string function_dir_name(std::string_view function) {
    std::string readable;
    for (char c : function.substr(0, 80)) {
        const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                          c == '-' || c == '.';
        readable.push_back(safe ? c : '_');
    }
    if (!readable.empty() && readable.front() == '.') readable.front() = '_';
    return readable + "-" + std::string(detail::sha256_hex(function).view().substr(0, 16));
}

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

backend_capabilities file_capabilities() {
    backend_capabilities caps;
    caps.claims = claim_mechanism::lock;  // flock: the kernel releases it when the owner dies
    // read_or_claim costs a hit no more than read (the lock is only taken for a missing or stale
    // entry), and saves a miss the separate look at the claim.
    caps.claim_on_read = true;
    caps.accepts_value_tails = true;  // written with the rest in one writev
    caps.cheap_listing = true;  // a header read per entry
    caps.records_last_use = true;  // in each file's access time
    // Other processes' writes are found by polling; 16 ms keeps a waiter within 20 ms of a store.
    caps.max_poll_interval = std::chrono::milliseconds(16);
    return caps;
}

/// The file in a function's directory that records the function's name, for listings.
constexpr const char* name_file = ".function";
/// The longest function name a listing reads back.
constexpr std::size_t longest_name = 1 << 20;

/// How often a process looks for temporary files of dead writers in a directory it stores into
/// (and always at its first store there), and how old such a file must be.
constexpr auto sweep_interval = std::chrono::minutes(10);
constexpr auto dead_writer_age = std::chrono::seconds(5);

class file_store final : public backend, public detail::split_reader {
public:
    file_store(std::filesystem::path root, bool durable)
        : backend("file", file_capabilities()), root_(std::move(root)), durable_(durable) {}

    ~file_store() override {
        for (auto& [token, held] : held_) ::close(held.fd);
        for (auto& [name, dir] : dirs_) ::close(dir.fd);
        for (int fd : retired_) ::close(fd);
        if (root_fd_ >= 0) ::close(root_fd_);
    }

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        read_result out;
        const dir_ref dir = function_dir(ref.function, false);
        if (dir.fd < 0) return out;
        const std::string key(ref.key);
        out.entry = read_entry(dir, key);
        if (!out.fresh(max_age)) out.claim = claim_of(dir.fd, key + ".lock");
        return out;
    }

public:
    void read_split(const key_ref& ref, std::chrono::nanoseconds max_age, std::size_t head_size,
                    const claim_request* claim, detail::split_read& out) override {
        try {
            const dir_ref dir = function_dir(ref.function, false);
            const std::string key(ref.key);
            if (dir.fd >= 0) out.found.entry = read_entry(dir, key, head_size, &out.body);
            out.split = out.found.entry && out.found.entry->value.size() == head_size;
            const auto fresh_age = claim != nullptr ? claim->max_age : max_age;
            if (out.found.fresh(fresh_age)) return;
            out.split = false;
            out.body = std::string();
            if (claim != nullptr) {
                out.found = do_read_or_claim(ref, *claim);  // reads again once it holds the claim
            } else if (dir.fd >= 0) {
                out.found.claim = claim_of(dir.fd, key + ".lock");
            }
        } catch (const std::exception& e) {
            throw backend_error("file backend could not read an entry: " + std::string(e.what()));
        }
    }

protected:
    // The claim is a lock taken after the read; a value stored in between is found by reading again.
    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        read_result out;
        const std::string key(ref.key);
        dir_ref dir = function_dir(ref.function, false);
        if (dir.fd >= 0) out.entry = read_entry(dir, key);
        if (out.fresh(request.max_age)) return out;
        if (!do_try_claim(ref, request.token, request.lease)) {
            out.claim = claim_state::live;
            return out;
        }
        dir = function_dir(ref.function, true);
        out.entry = read_entry(dir, key);
        if (out.fresh(request.max_age)) {
            do_release_claim(ref, request.token);
            return out;
        }
        out.claimed = true;
        return out;
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        const std::string key(ref.key);
        const auto now = std::chrono::system_clock::now();
        std::optional<format::time_point> expires;
        if (request.expires_after)
            expires = now + std::chrono::duration_cast<std::chrono::system_clock::duration>(*request.expires_after);
        format::header head{};
        format::trailer tail{};
        format::frame(request.value.size() + request.value_tail.size(),
                      now - std::chrono::duration_cast<std::chrono::system_clock::duration>(request.age), expires, head,
                      tail);
        with_function_dir(ref.function, [&](const dir_ref& dir) {
            write_and_rename(dir, key,
                             {{head.data(), head.size()},
                              {const_cast<char*>(request.value.data()), request.value.size()},
                              {const_cast<char*>(request.value_tail.data()), request.value_tail.size()},
                              {tail.data(), tail.size()}});
        });
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds) override {
        bool claimed = false;
        with_function_dir(ref.function, [&](const dir_ref& dir) { claimed = lock_claim(dir, std::string(ref.key) + ".lock", token); });
        return claimed;
    }

    void do_release_claim(const key_ref&, const claim_token& token) override {
        held_lock held;
        {
            const std::lock_guard lock(held_mutex_);
            auto it = held_.find(token);
            if (it == held_.end()) return;
            held = it->second;
            held_.erase(it);
        }
        // Unlink only our own file: clear_being_calculated may have replaced it with another's.
        if (same_file(held.fd, held.dir, held.name)) ::unlinkat(held.dir, held.name.c_str(), 0);
        ::close(held.fd);
    }

    bool do_remove(const key_ref& ref) override {
        const dir_ref dir = function_dir(ref.function, false);
        if (dir.fd < 0) return false;
        const std::string key(ref.key);
        if (::unlinkat(dir.fd, key.c_str(), 0) == 0) return true;
        if (errno == ENOENT || errno == ENOTDIR) return false;
        fail("cannot remove", dir.shown(key), errno);
    }

    // A use is the file's access time set to now (its modification time stays the store's).
    void do_touch(std::string_view function, std::span<const std::string> keys) override {
        const dir_ref dir = function_dir(function, false);
        if (dir.fd < 0) return;
        const std::array<timespec, 2> times{timespec{0, UTIME_NOW}, timespec{0, UTIME_OMIT}};
        for (const auto& key : keys) {
            if (!is_entry_name(key)) continue;
            if (::utimensat(dir.fd, key.c_str(), times.data(), AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT)
                fail("cannot record the use of", dir.shown(key), errno);
        }
    }

    void do_clear(std::string_view function) override {
        for_each_file(function, [](int dir, std::string_view name) {
            if (is_entry_name(name)) ::unlinkat(dir, std::string(name).c_str(), 0);
            return true;
        });
    }

    void do_clear_claims(std::string_view function) override {
        for_each_file(function, [](int dir, std::string_view name) {
            if (ends_with(name, ".lock")) ::unlinkat(dir, std::string(name).c_str(), 0);
            return true;
        });
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto now = std::chrono::system_clock::now();
        std::size_t removed = 0;
        const dir_ref dir = function_dir(function, false);
        if (dir.fd < 0) return 0;
        detail::file_system::sweep_dead_writers(dir.fd, dir.path, dead_writer_age);
        for_each_file(function, [&](int fd, std::string_view name) {
            if (!is_entry_name(name)) return true;
            const std::string file(name);
            struct stat st {};
            const auto fields = read_header(fd, file, st);
            if (fields && (now - fields->stored_at > max_age || expired(*fields, now)) &&
                ::unlinkat(fd, file.c_str(), 0) == 0)
                ++removed;
            return true;
        });
        return removed;
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        const int root = root_fd(false);
        if (root < 0) return;
        std::vector<std::string> names;
        detail::file_system::for_each_name(root, root_.string(), [&](std::string_view dir_name) {
            if (auto name = recorded_name(root, std::string(dir_name))) names.push_back(std::move(*name));
            return true;
        });
        for (const auto& name : names) {
            const function_info info = backend::do_summary(name);  // exact: every header read
            // An emptied function keeps its directory; like the other stores, list only what holds values.
            if (info.entries == 0) continue;
            if (!visit(info)) return;
        }
    }

    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        list_files(function, visit);
    }

    // From the directory and each entry's size (no file opened): expired entries not yet removed
    // are counted, and ages are by modification time.
    function_info do_summary(std::string_view function) override {
        function_info info;
        info.name = function;
        const auto now = std::chrono::system_clock::now();
        for_each_file(function, [&](int dir, std::string_view name) {
            if (!is_entry_name(name)) return true;
            struct stat st {};
            if (::fstatat(dir, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
                static_cast<std::uint64_t>(st.st_size) < format::header_size + format::trailer_size)
                return true;
            const auto modified = std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
            const std::chrono::nanoseconds age = std::max(now - modified, std::chrono::system_clock::duration::zero());
            info.add(static_cast<std::uint64_t>(st.st_size) - format::header_size - format::trailer_size, age);
            return true;
        });
        return info;
    }

    std::optional<std::filesystem::path> do_directory(std::string_view function) const override {
        return root_ / function_dir_name(function);
    }

private:
    /// A function's directory as an open descriptor, and its path for messages.
    struct dir_ref {
        int fd = -1;
        std::string path;
        [[nodiscard]] std::string shown(std::string_view name) const { return path + "/" + std::string(name); }
    };

    struct held_lock {
        int fd = -1;
        int dir = -1;
        std::string name;
    };

    struct known_dir {
        int fd = -1;
        std::string path;
        bool prepared = false;  // its name recorded and dead writers swept, by this process
        std::chrono::steady_clock::time_point swept;
    };

    static bool expired(const format::header_fields& fields, format::time_point now) {
        return fields.expires_at && *fields.expires_at <= now;
    }

    static std::optional<stored_entry> corrupt(const std::string& path, std::string_view why) {
        detail::log(log_level::warning, "ignoring corrupt cache file " + path + " (" + std::string(why) + ")");
        return std::nullopt;
    }

    /// The state of the claim whose lock file is `name` in `dir`: live while someone holds the lock.
    static claim_state claim_of(int dir, const std::string& name) {
        const fd_guard fd(::openat(dir, name.c_str(), O_RDONLY | inside_flags));
        if (fd.get() < 0) return claim_state::none;
        if (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) return claim_state::live;
        return claim_state::expired;  // a lock file nobody holds: its owner died before removing it
    }

    /// Opens a regular file of ours inside a cache directory; -1 (errno set, EINVAL for anything
    /// else: a link, a FIFO, a directory, a file of another user) when there is none.
    static int open_entry(int dir, const std::string& name, struct stat& st) {
        // O_NOATIME: a file's access time records uses that touch() chose to record (one a second
        // at most), not every read; only a file's owner may ask for it, and others are refused below.
        int opened = ::openat(dir, name.c_str(), O_RDONLY | inside_flags | O_NOATIME);
        if (opened < 0 && errno == EPERM) opened = ::openat(dir, name.c_str(), O_RDONLY | inside_flags);
        fd_guard fd(opened);
        if (fd.get() < 0) return -1;
        if (::fstat(fd.get(), &st) != 0) return -1;
        if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
            errno = EINVAL;
            return -1;
        }
        return fd.release();
    }

    /// The header of an entry file, or empty when it cannot be read.
    static std::optional<format::header_fields> read_header(int dir, const std::string& name, struct stat& st) {
        const fd_guard fd(open_entry(dir, name, st));
        format::header head{};
        format::header_problem problem{};
        if (fd.get() < 0 || !read_exact(fd.get(), head.data(), head.size(), 0)) return std::nullopt;
        return format::parse(head, problem);
    }

    /// One entry's value and age; empty when absent, expired, of another format version, or corrupt.
    /// With `body`, a value of at least `head_size` bytes is read in two parts: its first
    /// `head_size` bytes in the entry's value and the rest in `body` (see split_reader.hpp).
    static std::optional<stored_entry> read_entry(const dir_ref& dir, const std::string& key,
                                                  std::size_t head_size = 0, std::string* body = nullptr) {
        struct stat st {};
        const fd_guard fd(open_entry(dir.fd, key, st));
        if (fd.get() < 0) {
            if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
            if (errno == ELOOP || errno == EINVAL)
                return corrupt(dir.shown(key), "not a regular file of this user's");
            fail("cannot open", dir.shown(key), errno);
        }
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (size < format::header_size + format::trailer_size) return corrupt(dir.shown(key), "too short");
        // The whole file in one read: header, value (into a buffer sized once, or split), trailer.
        const std::size_t value_length = size - format::header_size - format::trailer_size;
        if (value_length > detail::read_limit()) return corrupt(dir.shown(key), "larger than read_size_limit: not read");
        const bool split = body != nullptr && value_length >= head_size;
        format::header head{};
        format::trailer tail{};
        stored_entry entry;
        std::array<iovec, 4> parts{};
        int count = 0;
        parts[count++] = {head.data(), head.size()};
        if (split) {
            entry.value.resize(head_size);
            *body = std::string(value_length - head_size, '\0');  // becomes the caller's result: not recycled
            parts[count++] = {entry.value.data(), entry.value.size()};
            parts[count++] = {body->data(), body->size()};
        } else {
            entry.value = detail::take_value_buffer(value_length);
            parts[count++] = {entry.value.data(), entry.value.size()};
        }
        parts[count++] = {tail.data(), tail.size()};
        if (!read_exact(fd.get(), parts.data(), count, 0)) return corrupt(dir.shown(key), "truncated");
        format::header_problem problem{};
        const auto fields = format::parse(head, problem);
        if (problem == format::header_problem::other_version) return std::nullopt;  // rewritten by the next store
        if (!fields || fields->value_length != value_length) return corrupt(dir.shown(key), "bad header or truncated");
        if (!format::intact(head, tail)) return corrupt(dir.shown(key), "header checksum mismatch");
        const auto now = std::chrono::system_clock::now();
        if (expired(*fields, now)) return std::nullopt;
        entry.age = now - fields->stored_at;
        return entry;
    }

    /// Takes the claim whose lock file is `name`; false when another holds it.
    bool lock_claim(const dir_ref& dir, const std::string& name, const claim_token& token) {
        // The lock file may be unlinked by its releasing owner between our open and our flock;
        // then we hold a lock on a file nobody else sees, so check that the name still means it.
        for (int attempt = 0; attempt < 16; ++attempt) {
            fd_guard fd(::openat(dir.fd, name.c_str(), O_RDWR | O_CREAT | inside_flags, 0600));
            struct stat st {};
            if (fd.get() < 0 && errno != ELOOP) fail("cannot create", dir.shown(name), errno);
            if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
                // Something planted where the lock file goes (a link, a FIFO): remove it, not follow it.
                if (::unlinkat(dir.fd, name.c_str(), 0) != 0 && errno != ENOENT)
                    fail("cannot remove what is not a lock file at", dir.shown(name), errno);
                continue;
            }
            if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
                if (errno == EWOULDBLOCK) return false;
                fail("cannot lock", dir.shown(name), errno);
            }
            if (same_file(fd.get(), dir.fd, name)) {
                const std::lock_guard lock(held_mutex_);
                held_[token] = held_lock{fd.release(), dir.fd, name};
                return true;
            }
        }
        return false;
    }

    /// Writes `parts` to a new temporary file beside `name`, locked while it is written (so that
    /// sweeps leave it alone), and renames it to `name`.
    void write_and_rename(const dir_ref& dir, const std::string& name, std::initializer_list<iovec> parts) {
        const std::string temp = name + ".tmp." + std::to_string(::getpid()) + "." +
                                 std::to_string(temp_counter_.fetch_add(1, std::memory_order_relaxed));
        fd_guard fd(::openat(dir.fd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (fd.get() < 0) fail("cannot create", dir.shown(temp), errno);
        ::flock(fd.get(), LOCK_EX | LOCK_NB);  // a fresh file: nobody else can hold it
        std::vector<iovec> pieces(parts);
        const bool written = detail::file_system::write_all(fd.get(), pieces.data(), static_cast<int>(pieces.size())) &&
                             (!durable_ || ::fsync(fd.get()) == 0);
        const int error = errno;
        if (!written || ::renameat(dir.fd, temp.c_str(), dir.fd, name.c_str()) != 0) {
            const int why = written ? errno : error;
            ::unlinkat(dir.fd, temp.c_str(), 0);
            fail(written ? "cannot rename into" : "cannot write", dir.shown(written ? name : temp), why);
        }
        if (durable_ && ::fsync(dir.fd) != 0) fail("cannot sync directory", dir.path, errno);
    }

    /// Lists one function's entries from its directory: entry files with their claims, and claims
    /// of keys that have no entry yet.
    void list_files(std::string_view function, const visitor<entry_info>& visit) {
        const auto now = std::chrono::system_clock::now();
        for_each_file(function, [&](int dir, std::string_view name) {
            entry_info e;
            if (is_entry_name(name)) {
                const std::string file(name);
                struct stat st {};
                const auto fields = read_header(dir, file, st);
                if (!fields || expired(*fields, now)) return true;
                e.key = name;
                e.has_value = true;
                e.size = fields->value_length;
                e.age = now - fields->stored_at;
                const auto used = format::time_point(std::chrono::duration_cast<format::time_point::duration>(
                    std::chrono::seconds(st.st_atim.tv_sec) + std::chrono::nanoseconds(st.st_atim.tv_nsec)));
                e.since_last_use = std::max(now - std::max(used, fields->stored_at), format::time_point::duration::zero());
                e.claim = claim_of(dir, file + ".lock");
                return visit(e);
            }
            if (!ends_with(name, ".lock")) return true;
            e.key = name.substr(0, name.size() - 5);
            struct stat st {};
            if (!is_entry_name(e.key) || ::fstatat(dir, e.key.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
                return true;  // listed with its entry
            e.claim = claim_of(dir, std::string(name));
            return e.claim == claim_state::none || visit(e);
        });
    }

    /// The function name recorded in the directory `dir_name` of the cache directory, if it is one
    /// of ours.
    std::optional<std::string> recorded_name(int root, const std::string& dir_name) {
        int dir = -1;
        try {
            dir = detail::file_system::open_private_dir(root, dir_name, (root_ / dir_name).string());
        } catch (const backend_error& e) {
            detail::log(log_level::warning, std::string("listing skips ") + e.what());
        }
        if (dir < 0) return std::nullopt;
        const fd_guard dir_fd(dir);
        struct stat st {};
        const fd_guard fd(open_entry(dir, name_file, st));
        if (fd.get() < 0 || st.st_size == 0 || static_cast<std::size_t>(st.st_size) > longest_name) return std::nullopt;
        std::string name(static_cast<std::size_t>(st.st_size), '\0');
        if (!read_exact(fd.get(), name.data(), name.size(), 0)) return std::nullopt;
        return name;
    }

    /// The cache directory, opened (and checked) once; -1 when it does not exist and `create` is false.
    int root_fd(bool create) {
        {
            const std::shared_lock lock(dirs_mutex_);
            if (root_fd_ >= 0) return root_fd_;
        }
        if (create) detail::file_system::make_private_dirs(root_.string());
        const int fd = detail::file_system::open_private_dir(AT_FDCWD, root_.string(), root_.string());
        if (fd < 0) {
            if (create) fail("cannot open directory", root_.string(), ENOENT);
            return -1;
        }
        const std::unique_lock lock(dirs_mutex_);
        if (root_fd_ >= 0) {
            ::close(fd);
            return root_fd_;
        }
        root_fd_ = fd;
        return fd;
    }

    /// A function's directory; with `create`, made if missing, its name recorded and dead writers'
    /// files swept (at the first store of this process, then every sweep_interval). fd -1: absent.
    dir_ref function_dir(std::string_view function, bool create) {
        const auto now = std::chrono::steady_clock::now();
        dir_ref due_for_sweep;
        {
            const std::shared_lock lock(dirs_mutex_);
            auto it = dirs_.find(function);
            if (it != dirs_.end() && (!create || (it->second.prepared && now - it->second.swept < sweep_interval)))
                return {it->second.fd, it->second.path};
            if (it != dirs_.end() && it->second.prepared) due_for_sweep = {it->second.fd, it->second.path};
        }
        if (due_for_sweep.fd >= 0) {
            {
                const std::unique_lock lock(dirs_mutex_);
                if (auto it = dirs_.find(function); it != dirs_.end()) it->second.swept = now;
            }
            detail::file_system::sweep_dead_writers(due_for_sweep.fd, due_for_sweep.path, dead_writer_age);
            return due_for_sweep;
        }
        const int root = root_fd(create);
        if (root < 0) return {};
        const std::string name = function_dir_name(function);
        const std::string path = (root_ / name).string();
        if (create && ::mkdirat(root, name.c_str(), 0700) != 0 && errno != EEXIST)
            fail("cannot create directory", path, errno);
        const int fd = detail::file_system::open_private_dir(root, name, path);
        if (fd < 0) {
            if (create) fail("cannot open directory", path, ENOENT);
            return {};
        }
        if (create) {
            record_name(dir_ref{fd, path}, function);
            detail::file_system::sweep_dead_writers(fd, path, dead_writer_age);
        }
        const std::unique_lock lock(dirs_mutex_);
        auto [it, inserted] = dirs_.try_emplace(std::string(function), known_dir{fd, path, false, {}});
        if (!inserted) retired_.push_back(std::exchange(it->second.fd, fd));  // may be in use by another thread
        if (create) {
            it->second.prepared = true;
            it->second.swept = now;
        }
        return {it->second.fd, it->second.path};
    }

    /// Runs `use` on the function's directory (made if missing); when the directory was removed
    /// under us (rm -rf of the cache), forgets it and runs `use` once more on a new one.
    template <class Use>
    void with_function_dir(std::string_view function, Use&& use) {
        const dir_ref dir = function_dir(function, true);
        try {
            use(dir);
            return;
        } catch (const backend_error&) {
            struct stat st {};
            if (::fstat(dir.fd, &st) != 0 || st.st_nlink > 0) throw;  // still there: a real failure
        }
        {
            const std::unique_lock lock(dirs_mutex_);
            if (auto it = dirs_.find(function); it != dirs_.end() && it->second.fd == dir.fd) it->second.prepared = false;
            if (root_fd_ >= 0) {
                struct stat st {};
                if (::fstat(root_fd_, &st) == 0 && st.st_nlink == 0) retired_.push_back(std::exchange(root_fd_, -1));
            }
        }
        use(function_dir(function, true));
    }

    /// Records the function's name in its directory once (atomically: a temp file renamed).
    void record_name(const dir_ref& dir, std::string_view function) {
        struct stat st {};
        if (::fstatat(dir.fd, name_file, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) return;
        write_and_rename(dir, name_file, {{const_cast<char*>(function.data()), function.size()}});
    }

    /// Calls `visit(dir_fd, name)` for each file of a function's directory until it returns false.
    template <class Visit>
    void for_each_file(std::string_view function, Visit&& visit) {
        const dir_ref dir = function_dir(function, false);
        if (dir.fd < 0) return;
        detail::file_system::for_each_name(dir.fd, dir.path, [&](std::string_view name) { return visit(dir.fd, name); });
    }

    const std::filesystem::path root_;
    const bool durable_;
    std::shared_mutex dirs_mutex_;
    int root_fd_ = -1;
    std::unordered_map<std::string, known_dir, string_hash, std::equal_to<>> dirs_;
    std::vector<int> retired_;  // descriptors replaced while other threads may still use them
    std::mutex held_mutex_;
    std::unordered_map<claim_token, held_lock> held_;
    std::atomic<std::uint64_t> temp_counter_{0};
    detail::on_fork_child fork_{[this] {
        detail::renew_lock(dirs_mutex_);
        detail::renew_lock(held_mutex_);
    }};
};

}  // namespace

std::filesystem::path default_cache_dir() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/')
        return std::filesystem::path(xdg) / "cachier";
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
        return std::filesystem::path(home) / ".cachier";
    throw config_error("cannot find a cache directory: neither XDG_CACHE_HOME nor HOME is set; set cache_dir");
}

std::shared_ptr<backend> file_backend(const file_backend_options& options) {
    std::filesystem::path dir = options.directory.empty() ? default_cache_dir() : options.directory;
    if (dir.is_relative()) dir = std::filesystem::absolute(dir);
    if (options.fsync) return std::make_shared<file_store>(dir.lexically_normal(), true);
    return detail::shared_file_backend(dir);
}

std::shared_ptr<backend> file_backend(const std::filesystem::path& directory) {
    return file_backend(file_backend_options{directory, false});
}

namespace detail {

scheme_list file_schemes() {
    return {{"file", [](const parsed_url& url) {
                 if (!url.host.empty() || url.port || !url.user.empty())
                     throw url_error("path", "file URLs take an absolute path (file:///abs/dir), not a host");
                 if (!url.query.empty()) throw url_error("query", "file URLs take no options");
                 return url.path.empty() ? file_backend() : file_backend(std::filesystem::path(url.path));
             }}};
}

std::shared_ptr<backend> shared_file_backend(const std::filesystem::path& directory) {
    // One object per directory in a process, so threads share its claims and wake-ups.
    static std::mutex mutex;
    static std::unordered_map<std::string, std::weak_ptr<backend>> instances;
    static const on_fork_child renew{[] { renew_lock(mutex); }};
    std::filesystem::path dir = (directory.is_relative() ? std::filesystem::absolute(directory) : directory)
                                    .lexically_normal();
    if (!dir.has_filename() && dir.has_relative_path()) dir = dir.parent_path();  // "/a/b/" -> "/a/b"
    const std::string key = dir.string();
    const std::lock_guard lock(mutex);
    if (auto existing = instances[key].lock()) return existing;
    auto made = std::make_shared<file_store>(key, false);
    instances[key] = made;
    return made;
}

}  // namespace detail
}  // namespace cachier
