// A persistent pool of worker threads for data-parallel loops. Threads are
// created once; parallel_for hands each worker a contiguous chunk and waits.
// A decode step issues a few hundred short loops, so both sides spin briefly
// before sleeping: waking a sleeping thread costs more than most loops take.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace lumen {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }
    // Calls fn(begin, end, thread_index) over [0, n) split into one chunk per thread.
    // Not reentrant: one parallel_for at a time per pool.
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);

private:
    void worker_loop(int index);
    int n_threads_;
    std::vector<std::thread> workers_;
    const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
    int64_t job_n_ = 0;
    std::atomic<uint64_t> generation_{0};  // bumped once per parallel_for
    std::atomic<int> pending_{0};          // workers still running the current job
    std::atomic<bool> stopping_{false};
};

}  // namespace lumen
