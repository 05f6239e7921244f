#include "file_system.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cachier/errors.hpp>

#include "../../log.hpp"

namespace cachier::detail::file_system {

void fail(const std::string& what, const std::string& path, int error) {
    char buffer[256];
    // GNU strerror_r: thread-safe, returns the message (in buffer or a static string).
    throw backend_error(what + " " + path + ": " + ::strerror_r(error, buffer, sizeof(buffer)));
}

fd_guard::~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
}

void make_private_dirs(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return;
    const std::filesystem::path p(path);
    if (errno == ENOENT && p.has_parent_path() && p.parent_path() != p) {
        make_private_dirs(p.parent_path().string());
        if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return;
    }
    fail("cannot create directory", path, errno);
}

int open_private_dir(int parent, const std::string& name, const std::string& shown) {
    const int follow = parent == AT_FDCWD ? 0 : O_NOFOLLOW;
    fd_guard fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | follow));
    if (fd.get() < 0) {
        const int error = errno;
        if (error == ENOENT) return -1;
        struct stat link {};
        if (error == ELOOP || (error == ENOTDIR && parent != AT_FDCWD &&
                               ::fstatat(parent, name.c_str(), &link, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(link.st_mode)))
            throw backend_error(shown + " is a symbolic link: cachier follows no links inside its cache directory");
        fail("cannot open directory", shown, error);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail("cannot inspect directory", shown, errno);
    if (st.st_uid != ::geteuid())
        throw backend_error("refusing the cache directory " + shown + ": it belongs to user " +
                            std::to_string(st.st_uid) + ", not to this user (" + std::to_string(::geteuid()) +
                            "); another user could plant values in it");
    if ((st.st_mode & 022) != 0) {
        if (::fchmod(fd.get(), st.st_mode & 0700) != 0) fail("cannot make private", shown, errno);
        log(log_level::warning, "made the cache directory " + shown + " private: others could write to it");
    }
    return fd.release();
}

namespace {

// Moves `parts` past `done` bytes that a vectored read or write transferred.
void advance(iovec*& parts, int& count, std::size_t done) noexcept {
    while (count > 0 && done >= parts->iov_len) {
        done -= parts->iov_len;
        ++parts;
        --count;
    }
    if (count > 0) {
        parts->iov_base = static_cast<char*>(parts->iov_base) + done;
        parts->iov_len -= done;
    }
}

}  // namespace

bool write_all(int fd, iovec* parts, int count) {
    while (count > 0) {
        const ssize_t written = ::writev(fd, parts, count);
        if (written < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        advance(parts, count, static_cast<std::size_t>(written));
    }
    return true;
}

bool read_exact(int fd, iovec* parts, int count, off_t offset) {
    while (count > 0) {
        const ssize_t got = ::preadv(fd, parts, count, offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        advance(parts, count, static_cast<std::size_t>(got));
        offset += got;
    }
    return true;
}

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

bool same_file(int fd, int dir, const std::string& name) {
    struct stat by_fd {};
    struct stat by_name {};
    return ::fstat(fd, &by_fd) == 0 && ::fstatat(dir, name.c_str(), &by_name, AT_SYMLINK_NOFOLLOW) == 0 &&
           by_fd.st_dev == by_name.st_dev && by_fd.st_ino == by_name.st_ino;
}

directory_reader::directory_reader(int dir, const std::string& shown) : handle_(nullptr) {
    // fdopendir takes the descriptor it is given; the caller keeps its own.
    const int copy = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) fail("cannot list", shown, errno);
    DIR* handle = ::fdopendir(copy);
    if (handle == nullptr) {
        const int error = errno;
        ::close(copy);
        fail("cannot list", shown, error);
    }
    ::rewinddir(handle);  // the copy shares its position with the original
    handle_ = handle;
}

directory_reader::~directory_reader() { ::closedir(static_cast<DIR*>(handle_)); }

std::string_view directory_reader::next() {
    while (const dirent* item = ::readdir(static_cast<DIR*>(handle_))) {
        const std::string_view name(item->d_name);
        if (name != "." && name != "..") return name;
    }
    return {};
}

std::size_t sweep_dead_writers(int dir, const std::string& shown, std::chrono::seconds min_age) {
    std::size_t removed = 0;
    const auto now = std::chrono::system_clock::now();
    for_each_name(dir, shown, [&](std::string_view name) {
        if (name.find(".tmp.") == std::string_view::npos) return true;
        const std::string file(name);
        const fd_guard fd(::openat(dir, file.c_str(), O_RDONLY | inside_flags));
        if (fd.get() < 0) return true;
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return true;
        // A writer locks its file right after creating it; the age covers the moment in between.
        const bool old = now - std::chrono::system_clock::from_time_t(st.st_mtime) >= min_age;
        if (old && (!S_ISREG(st.st_mode) || ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) &&
            ::unlinkat(dir, file.c_str(), 0) == 0)
            ++removed;
        return true;
    });
    if (removed > 0)
        log(log_level::debug, "removed " + std::to_string(removed) + " temporary files of dead writers in " + shown);
    return removed;
}

}  // namespace cachier::detail::file_system
