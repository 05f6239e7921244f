#include "compression.hpp"

#include <memory>

#include <zstd.h>

#include "value_buffers.hpp"

namespace cachier::detail {
namespace {

// Contexts hold about a megabyte of tables: one per thread, made on first use.
struct cctx_deleter {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct dctx_deleter {
    void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* compressor() {
    thread_local std::unique_ptr<ZSTD_CCtx, cctx_deleter> context(ZSTD_createCCtx());
    return context.get();
}

ZSTD_DCtx* decompressor() {
    thread_local std::unique_ptr<ZSTD_DCtx, dctx_deleter> context(ZSTD_createDCtx());
    return context.get();
}

}  // namespace

std::pair<int, int> compression_levels() noexcept { return {ZSTD_minCLevel(), ZSTD_maxCLevel()}; }

bool compression_level_valid(int level) noexcept {
    const auto [lowest, highest] = compression_levels();
    return level != 0 && level >= lowest && level <= highest;
}

std::optional<std::string> compress(std::string_view encoded, int level, std::size_t room) {
    ZSTD_CCtx* context = compressor();
    if (context == nullptr) return std::nullopt;
    // Worth storing only when smaller: the frame may take at most encoded.size() - 1 bytes.
    if (encoded.size() < 2) return std::nullopt;
    std::string out = take_value_buffer(room + ZSTD_compressBound(encoded.size()));
    const std::size_t written = ZSTD_compressCCtx(context, out.data() + room, out.size() - room, encoded.data(),
                                                  encoded.size(), level);
    if (ZSTD_isError(written) || written >= encoded.size()) {
        recycle_value_buffer(std::move(out));
        return std::nullopt;
    }
    out.resize(room + written);
    return out;
}

decompress_problem decompress(std::string_view compressed, std::uint64_t limit, std::string& out) {
    const unsigned long long size = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return decompress_problem::damaged;
    if (size > limit) return decompress_problem::too_large;
    // One frame and nothing after it: further frames would decompress past the size claimed.
    if (ZSTD_findFrameCompressedSize(compressed.data(), compressed.size()) != compressed.size())
        return decompress_problem::damaged;
    ZSTD_DCtx* context = decompressor();
    if (context == nullptr) return decompress_problem::damaged;
    out = take_value_buffer(static_cast<std::size_t>(size));
    const std::size_t written =
        ZSTD_decompressDCtx(context, out.data(), out.size(), compressed.data(), compressed.size());
    if (ZSTD_isError(written) || written != size) return decompress_problem::damaged;
    return decompress_problem::none;
}

}  // namespace cachier::detail
