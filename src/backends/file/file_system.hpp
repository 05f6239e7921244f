#pragma once
// The file backend's dealings with the file system, made safe against a hostile or damaged cache
// directory: everything inside it is reached relative to a directory descriptor (openat and
// friends), never through a symbolic link, never blocking on a FIFO, and directories are used only
// when they belong to this user and nobody else can write to them.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/uio.h>

namespace cachier::detail::file_system {

/// Flags for opening anything inside the cache directory: a planted link is not followed, and a
/// FIFO or device does not block the call.
inline constexpr int inside_flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;

/// Throws backend_error "<what> <path>: <strerror(error)>".
[[noreturn]] void fail(const std::string& what, const std::string& path, int error);

/// Closes a descriptor when it goes out of scope.
class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    ~fd_guard();
    fd_guard(fd_guard&& other) noexcept : fd_(other.release()) {}
    fd_guard& operator=(fd_guard&&) = delete;
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

/// Creates `path` and its missing parents, each readable only by its owner.
void make_private_dirs(const std::string& path);

/// Opens the directory `name` under `parent` (an absolute path when parent is AT_FDCWD; links are
/// followed only then: the user chose that path) and makes sure it is this user's alone: one owned
/// by another user is refused (backend_error), one of ours that others may write to is made
/// private (and logged). Returns -1 with errno ENOENT when it does not exist.
int open_private_dir(int parent, const std::string& name, const std::string& shown);

/// Writes all of `parts` to `fd`, continuing after partial writes; false on an error (errno set).
bool write_all(int fd, iovec* parts, int count);

/// Reads exactly `size` bytes at `offset`; false on a short file.
bool read_exact(int fd, char* out, std::size_t size, off_t offset);

/// Fills all of `parts` from `offset` on (one preadv when the file allows); false on a short file.
bool read_exact(int fd, iovec* parts, int count, off_t offset);

/// True when `fd` is the file `name` in `dir` (not replaced or removed since it was opened).
bool same_file(int fd, int dir, const std::string& name);

/// Calls `visit(name)` for each entry of the directory `dir` until it returns false.
template <class Visit>
void for_each_name(int dir, const std::string& shown, Visit&& visit);

/// Removes the temporary files in `dir` of writers that died: files whose name holds ".tmp.",
/// older than `min_age`, that no live writer holds locked (writers lock theirs until renamed).
/// Returns how many it removed.
std::size_t sweep_dead_writers(int dir, const std::string& shown, std::chrono::seconds min_age);

/// The names visible in a directory, for for_each_name.
class directory_reader {
public:
    directory_reader(int dir, const std::string& shown);
    ~directory_reader();
    directory_reader(const directory_reader&) = delete;
    directory_reader& operator=(const directory_reader&) = delete;
    /// The next name (never "." or ".."), or empty at the end.
    std::string_view next();

private:
    void* handle_;
};

template <class Visit>
void for_each_name(int dir, const std::string& shown, Visit&& visit) {
    directory_reader reader(dir, shown);
    for (std::string_view name = reader.next(); !name.empty(); name = reader.next())
        if (!visit(name)) return;
}

}  // namespace cachier::detail::file_system
