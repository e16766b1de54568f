// Control and inspection API of the CUDA emulator (tests/cuda_emulation), in plain C++
// with no CUDA names, so that the test sources include it next to the engine's headers.
//
// The emulator runs the real kernels/*.cu device code on the CPU: every CTA is a set of
// fibers (one per CUDA thread) on the calling OS thread, switched only at barriers and
// warp operations. It records launches, and the kernel faults it can see (barrier or
// warp-op divergence, misaligned vector loads, writes past dynamic shared memory, bad
// launch configurations) as failures the tests check after each launch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace emu {

// The order in which the fibers of a CTA run between synchronization points: each runs
// until it blocks at a barrier or warp operation. Different orders expose different
// missing barriers (a reader that runs before the writer it should have waited for).
enum class Schedule {
    forward,   // ascending thread index
    reverse,   // descending thread index
    shuffled,  // a random order after every barrier (seeded)
};
void set_schedule(Schedule s, unsigned seed = 1);
Schedule schedule();

// One kernel launch as the emulator saw it.
struct LaunchRecord {
    std::string kernel;  // the kernel expression of the launch, as written in the .cu
    unsigned grid[3] = {1, 1, 1};
    unsigned block[3] = {1, 1, 1};
    size_t smem = 0;  // dynamic shared memory bytes
    int error = 0;    // the launch's cudaError_t (0: it ran)
};
const std::vector<LaunchRecord>& launches();
void clear_launches();

// Faults detected since the last call, one message each (empty: none).
std::vector<std::string> take_failures();

// The emulated devices: what cudaDeviceGetAttribute reports. Device 0 is H100-like;
// device 1 is a small part (2 SMs, 64 KiB of shared memory per SM) whose limits push
// launchers onto their fallback paths (grid-stride loops, smaller shared budgets).
struct Device {
    const char* name;
    int sms;
    int smem_per_sm;
    int smem_per_block_optin;
    int max_threads_per_sm;
    int cc_major, cc_minor;
};
int device_count();
const Device& device(int index);
// cudaSetDevice's effect; returns false for an index out of range.
bool set_current_device(int index);
int current_device();

// The host runtime's resources and work (emu_host.cpp, emu_cublas.cpp): what is live
// now (a backend that is destroyed leaves nothing), and counts since the start.
struct HostStats {
    int device_blocks = 0;  // cudaMalloc'ed, not yet freed
    int pinned_blocks = 0;  // cudaMallocHost'ed
    int streams = 0;
    int graphs = 0;       // cudaGraph_t
    int graph_execs = 0;  // cudaGraphExec_t
    int cublas_handles = 0;
    long captures = 0;  // captures ended with a graph
    long graph_launches = 0;
    long gemms = 0;  // cuBLAS GEMMs run (replays included)
};
const HostStats& host_stats();
HostStats& mutable_host_stats();

}  // namespace emu
