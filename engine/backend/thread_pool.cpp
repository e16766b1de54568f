// Persistent workers; the calling thread takes chunk 0 itself. Hand-off is two
// atomics: the job generation (workers wait for it to change) and the count of
// workers still running (the caller waits for it to reach zero). Each side spins
// for a while (a few hundred microseconds) and then sleeps in atomic::wait.
#include "backend/thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lumen {

namespace {

constexpr int kSpinIterations = 1 << 14;

inline void cpu_relax() {
#if defined(__x86_64__)
    _mm_pause();
#endif
}

// Waits until value != old (first spinning, then sleeping); returns the new value.
template <typename T>
T wait_for_change(const std::atomic<T>& value, T old) {
    for (int i = 0; i < kSpinIterations; ++i) {
        const T now = value.load(std::memory_order_acquire);
        if (now != old) return now;
        cpu_relax();
    }
    for (;;) {
        value.wait(old, std::memory_order_acquire);
        const T now = value.load(std::memory_order_acquire);
        if (now != old) return now;
    }
}

void chunk_bounds(int64_t n, int parts, int index, int64_t* begin, int64_t* end) {
    *begin = n * index / parts;
    *end = n * (index + 1) / parts;
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stopping_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
    if (n <= 0) return;
    if (n_threads_ == 1 || n == 1) {
        fn(0, n, 0);
        return;
    }
    job_ = &fn;
    job_n_ = n;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);  // publishes job_ and job_n_
    generation_.notify_all();
    int64_t b, e;
    chunk_bounds(n, n_threads_, 0, &b, &e);
    if (b < e) fn(b, e, 0);
    for (int left = pending_.load(std::memory_order_acquire); left != 0;
         left = pending_.load(std::memory_order_acquire))
        wait_for_change(pending_, left);
    job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_change(generation_, seen);
        if (stopping_.load(std::memory_order_acquire)) return;
        int64_t b, e;
        chunk_bounds(job_n_, n_threads_, index, &b, &e);
        if (b < e) (*job_)(b, e, index);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
    }
}

}  // namespace lumen
