// Streaming-read bandwidth. Each thread sums its own contiguous part of the
// buffer with four independent accumulators, so the adds never wait on one
// another and only the loads, that is memory, bound the loop. The engine is
// built for baseline x86-64, so the AVX2 loop is compiled for AVX2 alone and
// chosen at run time; elsewhere a plain loop that the compiler vectorizes.
#include "backend/cpu/bandwidth.h"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lumen {

namespace {

constexpr int64_t kMinBufferBytes = int64_t(1) << 30;
constexpr int64_t kAlignment = int64_t(1) << 21;  // 2 MiB, so the kernel may back the buffer with huge pages
constexpr int64_t kBlockBytes = 256;              // the unit split among threads: eight 32-byte loads

int64_t last_level_cache_bytes() {
    long bytes = 0;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
#if defined(_SC_LEVEL2_CACHE_SIZE)
    if (bytes <= 0) bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    return bytes > 0 ? int64_t(bytes) : 0;
}

using SumBlocks = uint64_t (*)(const uint8_t*, int64_t);

uint64_t sum_blocks_plain(const uint8_t* p, int64_t n_blocks) {
    const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
    const int64_t n_words = n_blocks * (kBlockBytes / 8);
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int64_t i = 0; i < n_words; i += 4) {
        a0 += w[i];
        a1 += w[i + 1];
        a2 += w[i + 2];
        a3 += w[i + 3];
    }
    return a0 + a1 + a2 + a3;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) uint64_t sum_blocks_avx2(const uint8_t* p, int64_t n_blocks) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t b = 0; b < n_blocks; ++b, p += kBlockBytes) {
        const __m256i* v = reinterpret_cast<const __m256i*>(p);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 0));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 3));
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 4));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 5));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 6));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 7));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

SumBlocks pick_sum_blocks() {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return sum_blocks_avx2;
#endif
    return sum_blocks_plain;
}

}  // namespace

Result<ReadBandwidth> measure_read_bandwidth(ThreadPool& pool, int passes) {
    if (passes < 1) return Status::error("bandwidth passes is " + std::to_string(passes) + ", expected at least 1");
    int64_t bytes = std::max(kMinBufferBytes, 4 * last_level_cache_bytes());
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    void* raw = std::aligned_alloc(size_t(kAlignment), size_t(bytes));
    if (!raw)
        return Status::error("cannot allocate " + std::to_string(bytes >> 20) +
                             " MiB to measure memory bandwidth; give the ceiling instead (--bandwidth-gbs)");
    const std::unique_ptr<uint8_t, decltype(&std::free)> buffer(static_cast<uint8_t*>(raw), &std::free);
#if defined(MADV_HUGEPAGE)
    (void)madvise(raw, size_t(bytes), MADV_HUGEPAGE);  // fewer TLB misses; a hint only
#endif
    const int64_t n_blocks = bytes / kBlockBytes;

    // Untimed first touch: every page is faulted in by the thread that later reads it.
    pool.parallel_for(n_blocks, [&](int64_t begin, int64_t end, int) {
        std::memset(buffer.get() + begin * kBlockBytes, 1, size_t((end - begin) * kBlockBytes));
    });

    const SumBlocks sum_blocks = pick_sum_blocks();
    std::vector<uint64_t> sums(size_t(pool.size()), 0);
    double best_gbs = 0;
    for (int pass = 0; pass < passes; ++pass) {
        const auto t0 = std::chrono::steady_clock::now();
        pool.parallel_for(n_blocks, [&](int64_t begin, int64_t end, int thread) {
            sums[size_t(thread)] += sum_blocks(buffer.get() + begin * kBlockBytes, end - begin);
        });
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (seconds > 0) best_gbs = std::max(best_gbs, double(bytes) / seconds / 1e9);
    }
    // Checking the sums keeps the reads observable, so no optimizer can drop them,
    // and catches a loop that skipped part of the buffer.
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    const uint64_t expected = uint64_t(passes) * uint64_t(bytes / 8) * 0x0101010101010101ull;
    if (total != expected) return Status::error("bandwidth measurement: the streaming sum read unexpected data");

    ReadBandwidth r;
    r.gbs = best_gbs;
    r.buffer_bytes = bytes;
    r.passes = passes;
    r.n_threads = pool.size();
    return r;
}

}  // namespace lumen
