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

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cachier/backends.hpp>
#include <cachier/errors.hpp>

#include "../digest.hpp"
#include "../log.hpp"
#include "../settings.hpp"
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

class file_store final : public backend {
public:
    file_store(std::filesystem::path root, bool durable) : root_(std::move(root)), durable_(durable) {}

    ~file_store() override {
        for (auto& [token, held] : held_) ::close(held.fd);
    }

    std::string_view kind() const noexcept override { return "file"; }

    std::optional<stored_entry> load(const key_ref& ref) override {
        const std::string path = function_dir(ref.function) + "/" + std::string(ref.key);
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
        const auto length = format::value_length(head);
        if (!length || *length != size - format::header_size - format::trailer_size)
            return corrupt(path, "bad header or truncated");
        stored_entry entry;
        entry.value.resize(*length);
        format::trailer tail{};
        if (!read_exact(fd.get(), entry.value.data(), entry.value.size(), format::header_size) ||
            !read_exact(fd.get(), tail.data(), tail.size(), static_cast<off_t>(format::header_size + *length)))
            return corrupt(path, "truncated");
        if (!format::intact(head, entry.value, tail)) return corrupt(path, "checksum mismatch");
        entry.age = std::chrono::system_clock::now() - format::stored_at(head);
        return entry;
    }

    void store(const key_ref& ref, std::string_view value, const claim_token* held) override {
        const std::string dir = ensure_function_dir(ref.function);
        const std::string path = dir + "/" + std::string(ref.key);
        const std::string temp = path + ".tmp." + std::to_string(::getpid()) + "." +
                                 std::to_string(temp_counter_.fetch_add(1, std::memory_order_relaxed));
        format::header head{};
        format::trailer tail{};
        format::frame(value, std::chrono::system_clock::now(), head, tail);
        {
            fd_guard fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
            if (fd.get() < 0) fail("cannot create", temp, errno);
            iovec parts[3] = {{head.data(), head.size()},
                              {const_cast<char*>(value.data()), value.size()},
                              {tail.data(), tail.size()}};
            const bool written = write_all(fd.get(), parts, 3) && (!durable_ || ::fsync(fd.get()) == 0);
            const int write_error = errno;
            if (!written || ::close(fd.release()) != 0) {
                const int error = written ? errno : write_error;
                ::unlink(temp.c_str());
                fail("cannot write", temp, error);
            }
        }
        if (::rename(temp.c_str(), path.c_str()) != 0) {
            const int error = errno;
            ::unlink(temp.c_str());
            fail("cannot rename into", path, error);
        }
        if (durable_) sync_directory(dir);
        if (held != nullptr) release_claim(ref, *held);
    }

    bool try_claim(const key_ref& ref, const claim_token& token, std::chrono::milliseconds) override {
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

    void release_claim(const key_ref&, const claim_token& token) override {
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

    void clear(std::string_view function) override {
        for_each_file(function, [](const std::string& dir, std::string_view name) {
            if (is_entry_name(name)) ::unlink((dir + "/" + std::string(name)).c_str());
        });
    }

    void clear_claims(std::string_view function) override {
        for_each_file(function, [](const std::string& dir, std::string_view name) {
            if (ends_with(name, ".lock")) ::unlink((dir + "/" + std::string(name)).c_str());
        });
    }

    std::size_t remove_older_than(std::string_view function, std::chrono::nanoseconds max_age) override {
        const auto now = std::chrono::system_clock::now();
        std::size_t removed = 0;
        for_each_file(function, [&](const std::string& dir, std::string_view name) {
            const std::string path = dir + "/" + std::string(name);
            if (is_entry_name(name)) {
                const fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
                format::header head{};
                if (fd.get() < 0 || !read_exact(fd.get(), head.data(), head.size(), 0) || !format::value_length(head))
                    return;
                if (now - format::stored_at(head) > max_age && ::unlink(path.c_str()) == 0) ++removed;
            } else if (name.find(".tmp.") != std::string_view::npos) {
                // A temporary file an hour old belongs to a writer that died.
                struct stat st {};
                if (::stat(path.c_str(), &st) == 0 &&
                    std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime) >
                        std::chrono::hours(1))
                    ::unlink(path.c_str());
            }
        });
        return removed;
    }

    std::optional<std::uint64_t> entry_count(std::string_view function) override {
        std::uint64_t count = 0;
        for_each_file(function, [&](const std::string&, std::string_view name) { count += is_entry_name(name); });
        return count;
    }

    std::optional<std::filesystem::path> directory(std::string_view function) const override {
        return root_ / function_dir_name(function);
    }

    // Other processes' writes are found by polling; 16 ms keeps a waiter within 20 ms of a store.
    std::chrono::milliseconds max_poll_interval() const noexcept override { return std::chrono::milliseconds(16); }

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

    static std::optional<stored_entry> corrupt(const std::string& path, std::string_view why) {
        detail::log(log_level::warning, "ignoring corrupt cache file " + path + " (" + std::string(why) + ")");
        return std::nullopt;
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
        const std::unique_lock lock(dirs_mutex_);
        dirs_.insert_or_assign(std::string(function), known_dir{path, true});
        return path;
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

    template <class Visit>
    void for_each_file(std::string_view function, Visit&& visit) {
        const std::string dir = function_dir(function);
        DIR* handle = ::opendir(dir.c_str());
        if (handle == nullptr) {
            if (errno == ENOENT) return;
            fail("cannot list", dir, errno);
        }
        while (const dirent* item = ::readdir(handle)) visit(dir, std::string_view(item->d_name));
        ::closedir(handle);
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

std::shared_ptr<backend> shared_file_backend(const std::filesystem::path& directory) {
    // One object per directory in a process, so threads share its claims and wake-ups.
    static std::mutex mutex;
    static std::unordered_map<std::string, std::weak_ptr<backend>> instances;
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
