// The memory-read bandwidth ceiling of this machine: a streaming sum over a
// buffer far larger than the last-level cache, on a given thread pool. Decoding
// one token reads every weight once, so decode tok/s can reach at most this
// bandwidth divided by the bytes read per token; `lumen-cli bench` reports
// achieved GB/s as a percentage of it.
#pragma once

#include <cstdint>

#include "backend/thread_pool.h"
#include "core/status.h"

namespace lumen {

struct ReadBandwidth {
    double gbs = 0;            // best pass, in 1e9 bytes per second
    int64_t buffer_bytes = 0;  // bytes summed per pass
    int passes = 0;            // timed passes (the best one is reported)
    int n_threads = 0;         // threads reading at once
};

// Sums a buffer of max(1 GiB, 4 x last-level cache) with every thread of `pool`,
// each over its own contiguous part, `passes` times after one untimed pass that
// writes it (first touch, so each thread's part lives near it). Allocates and
// frees the buffer; an allocation failure is an error, not an abort.
Result<ReadBandwidth> measure_read_bandwidth(ThreadPool& pool, int passes = 5);

}  // namespace lumen
