// The file backend (the default): one directory per function, one file per entry written through a
// temporary file and rename, and claims held as exclusive flock() locks on "<key>.lock" files, which
// the kernel releases the moment their owner dies.

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <dirent.h>
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
#include "../../settings.hpp"
#include "file_format.hpp"

namespace cachier {
namespace {

namespace format = detail::file_format;

[[noreturn]] void fail(const std::string& what, const std::string& path, int error) {
    char buffer[256];
    // GNU strerror_r: thread-safe, returns the message (in buffer or a static string).
    throw backend_error(what + " " + path + ": " + ::strerror_r(error, buffer, sizeof(buffer)));
}

/// Closes a descriptor when it goes out of scope.
class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

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

/// Writes all of `parts` to `fd`, continuing after partial writes.
bool write_all(int fd, iovec* parts, int count) {
    while (count > 0) {
        const ssize_t written = ::writev(fd, parts, count);
        if (written < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        auto left = static_cast<std::size_t>(written);
        while (count > 0 && left >= parts->iov_len) {
            left -= parts->iov_len;
            ++parts;
            --count;
        }
        if (count > 0) {
            parts->iov_base = static_cast<char*>(parts->iov_base) + left;
            parts->iov_len -= left;
        }
    }
    return true;
}

/// Reads exactly `size` bytes at `offset`; false on a short file.
bool read_exact(int fd, char* out, std::size_t size, off_t offset) {
    while (size > 0) {
        const ssize_t got = ::pread(fd, out, size, offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        out += got;
        size -= static_cast<std::size_t>(got);
        offset += got;
    }
    return true;
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
    caps.cheap_listing = true;  // a header read per entry
    // Other processes' writes are found by polling; 16 ms keeps a waiter within 20 ms of a store.
    caps.max_poll_interval = std::chrono::milliseconds(16);
    return caps;
}

/// The file in a function's directory that records the function's name, for listings.
constexpr const char* name_file = ".function";

class file_store final : public backend {
public:
    file_store(std::filesystem::path root, bool durable)
        : backend("file", file_capabilities()), root_(std::move(root)), durable_(durable) {}

    ~file_store() override {
        for (auto& [token, held] : held_) ::close(held.fd);
    }

protected:
    read_result do_read(const key_ref& ref, std::chrono::nanoseconds max_age) override {
        const std::string dir = function_dir(ref.function);
        read_result out;
        out.entry = read_entry(dir + "/" + std::string(ref.key));
        if (!out.fresh(max_age)) out.claim = claim_of(dir + "/" + std::string(ref.key) + ".lock");
        return out;
    }

    // The claim is a lock taken after the read; a value stored in between is found by reading again.
    read_result do_read_or_claim(const key_ref& ref, const claim_request& request) override {
        const std::string path = function_dir(ref.function) + "/" + std::string(ref.key);
        read_result out;
        out.entry = read_entry(path);
        if (out.fresh(request.max_age)) return out;
        if (!do_try_claim(ref, request.token, request.lease)) {
            out.claim = claim_state::live;
            return out;
        }
        out.entry = read_entry(path);
        if (out.fresh(request.max_age)) {
            do_release_claim(ref, request.token);
            return out;
        }
        out.claimed = true;
        return out;
    }

    void do_store(const key_ref& ref, const store_request& request) override {
        const std::string dir = ensure_function_dir(ref.function);
        const std::string path = dir + "/" + std::string(ref.key);
        const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                                 std::to_string(temp_counter_.fetch_add(1, std::memory_order_relaxed));
        const auto now = std::chrono::system_clock::now();
        std::optional<format::time_point> expires;
        if (request.expires_after)
            expires = now + std::chrono::duration_cast<std::chrono::system_clock::duration>(*request.expires_after);
        format::header head{};
        format::trailer tail{};
        format::frame(request.value, now - std::chrono::duration_cast<std::chrono::system_clock::duration>(request.age),
                      expires, head, tail);
        write_file(temp, {{head.data(), head.size()},
                          {const_cast<char*>(request.value.data()), request.value.size()},
                          {tail.data(), tail.size()}});
        if (::rename(temp.c_str(), path.c_str()) != 0) {
            const int error = errno;
            ::unlink(temp.c_str());
            fail("cannot rename into", path, error);
        }
        if (durable_) sync_directory(dir);
    }

    bool do_try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds) override {
        const std::string path = ensure_function_dir(ref.function) + "/" + std::string(ref.key) + ".lock";
        // The lock file may be unlinked by its releasing owner between our open and our flock;
        // then we hold a lock on a file nobody else sees, so check that the path still names it.
        for (int attempt = 0; attempt < 16; ++attempt) {
            fd_guard fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
            if (fd.get() < 0) fail("cannot create", path, errno);
            if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
                if (errno == EWOULDBLOCK) return false;
                fail("cannot lock", path, errno);
            }
            if (same_file(fd.get(), path)) {
                const std::lock_guard lock(held_mutex_);
                held_[token] = held_lock{fd.release(), path};
                return true;
            }
        }
        return false;
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
        if (same_file(held.fd, held.path)) ::unlink(held.path.c_str());
        ::close(held.fd);
    }

    bool do_remove(const key_ref& ref) override {
        const std::string path = function_dir(ref.function) + "/" + std::string(ref.key);
        if (::unlink(path.c_str()) == 0) return true;
        if (errno == ENOENT || errno == ENOTDIR) return false;
        fail("cannot remove", path, errno);
    }

    void do_clear(std::string_view function) override {
        for_each_file(function, [](const std::string& dir, std::string_view name) {
            if (is_entry_name(name)) ::unlink((dir + "/" + std::string(name)).c_str());
            return true;
        });
    }

    void do_clear_claims(std::string_view function) override {
        for_each_file(function, [](const std::string& dir, std::string_view name) {
            if (ends_with(name, ".lock")) ::unlink((dir + "/" + std::string(name)).c_str());
            return true;
        });
    }

    std::size_t do_remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto now = std::chrono::system_clock::now();
        std::size_t removed = 0;
        for_each_file(function, [&](const std::string& dir, std::string_view name) {
            const std::string path = dir + "/" + std::string(name);
            if (is_entry_name(name)) {
                const auto fields = read_header(path);
                if (fields && (now - fields->stored_at > max_age || expired(*fields, now)) && ::unlink(path.c_str()) == 0)
                    ++removed;
            } else if (name.find(".tmp.") != std::string_view::npos) {
                // A temporary file an hour old belongs to a writer that died.
                struct stat st {};
                if (::stat(path.c_str(), &st) == 0 &&
                    now - std::chrono::system_clock::from_time_t(st.st_mtime) > std::chrono::hours(1))
                    ::unlink(path.c_str());
            }
            return true;
        });
        return removed;
    }

    void do_list_functions(const visitor<function_info>& visit) override {
        DIR* handle = ::opendir(root_.c_str());
        if (handle == nullptr) {
            if (errno == ENOENT) return;
            fail("cannot list", root_.string(), errno);
        }
        const std::unique_ptr<DIR, int (*)(DIR*)> closer(handle, ::closedir);
        while (const dirent* item = ::readdir(handle)) {
            const std::string_view dir_name(item->d_name);
            if (dir_name == "." || dir_name == "..") continue;
            const auto name = recorded_name((root_ / item->d_name).string());
            if (!name) continue;
            function_info info;
            info.name = *name;
            list_files(*name, [&](const entry_info& e) {
                if (!e.has_value) return true;
                ++info.entries;
                info.bytes += e.size;
                info.oldest = std::max(info.oldest.value_or(e.age), e.age);
                info.newest = std::min(info.newest.value_or(e.age), e.age);
                return true;
            });
            if (!visit(info)) return;
        }
    }

    void do_list_entries(std::string_view function, const visitor<entry_info>& visit) override {
        list_files(function, visit);
    }

    std::optional<std::filesystem::path> do_directory(std::string_view function) const override {
        return root_ / function_dir_name(function);
    }

private:
    struct held_lock {
        int fd = -1;
        std::string path;
    };

    static bool same_file(int fd, const std::string& path) {
        struct stat by_fd {};
        struct stat by_path {};
        return ::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 && by_fd.st_dev == by_path.st_dev &&
               by_fd.st_ino == by_path.st_ino;
    }

    static bool expired(const format::header_fields& fields, format::time_point now) {
        return fields.expires_at && *fields.expires_at <= now;
    }

    static std::optional<stored_entry> corrupt(const std::string& path, std::string_view why) {
        detail::log(log_level::warning, "ignoring corrupt cache file " + path + " (" + std::string(why) + ")");
        return std::nullopt;
    }

    /// The state of the claim whose lock file is `path`: live while someone holds the lock.
    static claim_state claim_of(const std::string& path) {
        const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) return claim_state::none;
        if (::flock(fd.get(), LOCK_SH | LOCK_NB) != 0) return claim_state::live;
        return claim_state::expired;  // a lock file nobody holds: its owner died before removing it
    }

    /// The header of an entry file, or empty when it cannot be read.
    static std::optional<format::header_fields> read_header(const std::string& path) {
        const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        format::header head{};
        format::header_problem problem{};
        if (fd.get() < 0 || !read_exact(fd.get(), head.data(), head.size(), 0)) return std::nullopt;
        return format::parse(head, problem);
    }

    /// One entry's value and age; empty when absent, expired, of another format version, or corrupt.
    static std::optional<stored_entry> read_entry(const std::string& path) {
        const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) {
            if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
            fail("cannot open", path, errno);
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) fail("cannot stat", path, errno);
        const auto size = static_cast<std::uint64_t>(st.st_size);

        format::header head{};
        if (size < format::header_size + format::trailer_size || !read_exact(fd.get(), head.data(), head.size(), 0))
            return corrupt(path, "too short");
        format::header_problem problem{};
        const auto fields = format::parse(head, problem);
        if (problem == format::header_problem::other_version) return std::nullopt;  // rewritten by the next store
        if (!fields || fields->value_length != size - format::header_size - format::trailer_size)
            return corrupt(path, "bad header or truncated");
        const auto now = std::chrono::system_clock::now();
        if (expired(*fields, now)) return std::nullopt;
        stored_entry entry;
        entry.value.resize(fields->value_length);
        format::trailer tail{};
        if (!read_exact(fd.get(), entry.value.data(), entry.value.size(), format::header_size) ||
            !read_exact(fd.get(), tail.data(), tail.size(),
                        static_cast<off_t>(format::header_size + fields->value_length)))
            return corrupt(path, "truncated");
        if (!format::intact(head, tail)) return corrupt(path, "header checksum mismatch");
        entry.age = now - fields->stored_at;
        return entry;
    }

    /// Lists one function's entries from its directory: entry files with their claims, and claims
    /// of keys that have no entry yet.
    void list_files(std::string_view function, const visitor<entry_info>& visit) {
        const auto now = std::chrono::system_clock::now();
        for_each_file(function, [&](const std::string& dir, std::string_view name) {
            entry_info e;
            if (is_entry_name(name)) {
                const auto fields = read_header(dir + "/" + std::string(name));
                if (!fields || expired(*fields, now)) return true;
                e.key = name;
                e.has_value = true;
                e.size = fields->value_length;
                e.age = now - fields->stored_at;
                e.claim = claim_of(dir + "/" + std::string(name) + ".lock");
                return visit(e);
            }
            if (!ends_with(name, ".lock")) return true;
            e.key = name.substr(0, name.size() - 5);
            struct stat st {};
            if (!is_entry_name(e.key) || ::stat((dir + "/" + e.key).c_str(), &st) == 0) return true;  // listed with its entry
            e.claim = claim_of(dir + "/" + std::string(name));
            return e.claim == claim_state::none || visit(e);
        });
    }

    /// The function name recorded in a function's directory, if it is one.
    static std::optional<std::string> recorded_name(const std::string& dir) {
        const fd_guard fd(::open((dir + "/" + name_file).c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) return std::nullopt;
        std::string name;
        char buffer[4096];
        for (;;) {
            const ssize_t got = ::read(fd.get(), buffer, sizeof(buffer));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            name.append(buffer, static_cast<std::size_t>(got));
        }
        if (name.empty()) return std::nullopt;
        return name;
    }

    /// Writes `parts` to a new file at `path` (created 0600, never over an existing one).
    void write_file(const std::string& path, std::initializer_list<iovec> parts) const {
        fd_guard fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd.get() < 0) fail("cannot create", path, errno);
        std::vector<iovec> pieces(parts);
        const bool written = write_all(fd.get(), pieces.data(), static_cast<int>(pieces.size())) &&
                             (!durable_ || ::fsync(fd.get()) == 0);
        const int write_error = errno;
        if (!written || ::close(fd.release()) != 0) {
            const int error = written ? errno : write_error;
            ::unlink(path.c_str());
            fail("cannot write", path, error);
        }
    }

    std::string function_dir(std::string_view function) {
        {
            const std::shared_lock lock(dirs_mutex_);
            auto it = dirs_.find(function);
            if (it != dirs_.end()) return it->second.path;
        }
        std::string path = (root_ / function_dir_name(function)).string();
        const std::unique_lock lock(dirs_mutex_);
        return dirs_.try_emplace(std::string(function), known_dir{path, false}).first->second.path;
    }

    std::string ensure_function_dir(std::string_view function) {
        {
            const std::shared_lock lock(dirs_mutex_);
            auto it = dirs_.find(function);
            if (it != dirs_.end() && it->second.created) return it->second.path;
        }
        const std::string path = (root_ / function_dir_name(function)).string();
        make_private_dir(root_);
        make_private_dir(path);
        record_name(path, function);
        const std::unique_lock lock(dirs_mutex_);
        dirs_.insert_or_assign(std::string(function), known_dir{path, true});
        return path;
    }

    /// Records the function's name in its directory once (atomically: a temp file renamed).
    void record_name(const std::string& dir, std::string_view function) {
        const std::string path = dir + "/" + name_file;
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) return;
        const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                                 std::to_string(temp_counter_.fetch_add(1, std::memory_order_relaxed));
        write_file(temp, {{const_cast<char*>(function.data()), function.size()}});
        if (::rename(temp.c_str(), path.c_str()) != 0) {
            const int error = errno;
            ::unlink(temp.c_str());
            fail("cannot rename into", path, error);
        }
    }

    // Creates a directory (and its parents) readable only by its owner.
    static void make_private_dir(const std::filesystem::path& dir) {
        if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
        if (errno == ENOENT && dir.has_parent_path() && dir.parent_path() != dir) {
            make_private_dir(dir.parent_path());
            if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return;
        }
        fail("cannot create directory", dir.string(), errno);
    }

    static void sync_directory(const std::string& dir) {
        const fd_guard fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (fd.get() < 0 || ::fsync(fd.get()) != 0) fail("cannot sync directory", dir, errno);
    }

    /// Calls `visit(dir, name)` for each file of a function's directory until it returns false.
    template <class Visit>
    void for_each_file(std::string_view function, Visit&& visit) {
        const std::string dir = function_dir(function);
        DIR* handle = ::opendir(dir.c_str());
        if (handle == nullptr) {
            if (errno == ENOENT) return;
            fail("cannot list", dir, errno);
        }
        const std::unique_ptr<DIR, int (*)(DIR*)> closer(handle, ::closedir);
        while (const dirent* item = ::readdir(handle))
            if (!visit(dir, std::string_view(item->d_name))) return;
    }

    struct known_dir {
        std::string path;
        bool created = false;
    };

    const std::filesystem::path root_;
    const bool durable_;
    std::shared_mutex dirs_mutex_;
    std::unordered_map<std::string, known_dir, string_hash, std::equal_to<>> dirs_;
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
