// The CUDA emulator's runtime (shim/emu_core.h describes the model): the fiber scheduler
// that runs each CTA, barriers and warp operations with their divergence checks, the
// emulated devices, launch checks and the records the tests inspect. It exists so that
// a GPU-less CI still executes the real kernels/*.cu device code.
//
// Fibers run on mmap'ed stacks with a guard page. On x86-64 they switch with a few
// instructions (callee-saved registers, MXCSR and the x87 control word: what the ABI
// preserves across a call); elsewhere, and under AddressSanitizer, with ucontext
// (swapcontext also saves the signal mask: a system call per switch, several times
// slower, which dominated test_cuda_backend_emulated's run time). A
// CTA's fibers all live on the launching OS thread and only switch inside the calls
// below, so the emulation is deterministic for a given schedule.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cuda_runtime.h"

// AddressSanitizer must be told about stack switches (a build with -fsanitize=address
// then also checks the kernels' reads and writes of host buffers and static shared memory).
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__x86_64__) && !defined(EMU_ASAN)
#define EMU_FAST_SWITCH 1
// void emu_fast_switch(void** save_sp, void* load_sp): pushes the callee-saved state on
// the current stack, stores the stack pointer to *save_sp, and resumes the context whose
// stack pointer is load_sp (one saved by this function, or prepared by make_context).
extern "C" void emu_fast_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .globl emu_fast_switch
    .hidden emu_fast_switch
    .type emu_fast_switch, @function
emu_fast_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_fast_switch, .-emu_fast_switch
)");
#endif

namespace emu {

namespace {

// An execution context: the scheduler's (the launching thread) or a fiber's.
struct Context {
#ifdef EMU_FAST_SWITCH
    void* sp = nullptr;
#else
    ucontext_t uc;
#endif
};

// Saves the running context into `from` and resumes `to`.
void switch_context(Context& from, Context& to) {
#ifdef EMU_FAST_SWITCH
    emu_fast_switch(&from.sp, to.sp);
#else
    swapcontext(&from.uc, &to.uc);
#endif
}

// A context that starts entry() (which never returns) on [stack, stack + bytes).
void make_context(Context& ctx, void* stack, size_t bytes, void (*entry)()) {
#ifdef EMU_FAST_SWITCH
    // From the top: a null return address for entry, entry as emu_fast_switch's return
    // address, six zeroed registers, then this thread's MXCSR and x87 control word. After
    // the `ret` the stack pointer is 8 below a 16-byte boundary, as after a call.
    auto top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t(15);
    auto* slot = reinterpret_cast<uint64_t*>(top);
    slot[-1] = 0;
    slot[-2] = reinterpret_cast<uint64_t>(entry);
    for (int r = 3; r <= 8; ++r) slot[-r] = 0;
    uint32_t mxcsr = 0;
    uint16_t fpucw = 0;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    auto* control = reinterpret_cast<uint8_t*>(&slot[-9]);
    std::memcpy(control, &mxcsr, 4);
    std::memcpy(control + 4, &fpucw, 2);
    ctx.sp = &slot[-9];
#else
    getcontext(&ctx.uc);
    ctx.uc.uc_stack.ss_sp = stack;
    ctx.uc.uc_stack.ss_size = bytes;
    ctx.uc.uc_link = nullptr;
    makecontext(&ctx.uc, entry, 0);
#endif
}

// ------------------------------------------------------------------ devices and records

const Device kDevices[] = {
    {"emulated H100 (132 SMs, 228 KiB shared memory per SM)", 132, 228 * 1024, 227 * 1024, 2048, 9, 0},
    {"emulated small GPU (2 SMs, 64 KiB shared memory per SM)", 2, 64 * 1024, 64 * 1024, 1024, 7, 5},
};
constexpr int kDeviceCount = int(sizeof(kDevices) / sizeof(kDevices[0]));

struct State {
    std::mutex mutex;  // the records; kernels themselves run on the launching thread
    int device = 0;
    cudaError_t last_error = cudaSuccess;
    std::map<std::pair<int, const void*>, int> max_dynamic_smem;  // cudaFuncSetAttribute, per device
    std::vector<LaunchRecord> launches;
    std::vector<std::string> failures;
    Schedule schedule = Schedule::forward;
    std::mt19937 rng{1};
};
State& state() {
    static State s;
    return s;
}

void fail(std::string msg) {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.failures.size() < 200) s.failures.push_back(std::move(msg));
}

// ------------------------------------------------------------------ fibers

constexpr size_t kStackBytes = 256 * 1024;  // virtual; pages are touched on demand
constexpr int kMaxThreads = 1024;

struct Stack {
    char* base = nullptr;  // guard page, then the stack
    size_t bytes = 0;
};

// Stacks are reused by every CTA of every launch.
std::vector<Stack>& stack_pool(int n) {
    static thread_local std::vector<Stack> pool;
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    while (int(pool.size()) < n) {
        const size_t bytes = kStackBytes + page;
        void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            std::perror("emu: mmap of a fiber stack");
            std::abort();
        }
        mprotect(p, page, PROT_NONE);  // an overflow faults instead of corrupting a neighbour
        pool.push_back({static_cast<char*>(p), bytes});
    }
    return pool;
}

enum class Wait { none, block, warp, done };
enum class WarpOp { syncwarp, exchange };

struct Fiber {
    Context ctx;
    const void* stack = nullptr;
    void* asan_fake_stack = nullptr;
    dim3 idx;
    Wait wait = Wait::none;
    unsigned generation = 0;  // warp operations done: selects the exchange buffer
};

struct Cta {
    const char* kernel = nullptr;
    dim3 block_id;
    int n = 0;
    std::vector<Fiber> fibers;
    Context scheduler;
    int cur = 0;
    int done = 0;
    std::deque<int> ready;
    const std::function<void()>* body = nullptr;
    const void* scheduler_stack = nullptr;  // for AddressSanitizer: the launching thread's stack
    size_t scheduler_stack_bytes = 0;
    // __syncthreads
    std::vector<int> block_waiters;
    int block_count = 0, block_count_result = 0;
    // warp operations: arrivals per warp, the operation they are at, and a double-buffered
    // exchange (a lane can reuse a buffer only after the next operation, which needs every
    // lane to have read it)
    std::vector<std::vector<int>> warp_waiters;
    std::vector<WarpOp> warp_op;
    std::vector<uint64_t> xchg[2];
    std::vector<const void*> shared_poisoned;  // static shared variables filled this CTA
    int faults = 0;
};

thread_local Cta* g_cta = nullptr;

void cta_fault(Cta& c, const std::string& what) {
    if (++c.faults > 3) return;  // the first few per CTA tell the story
    char where[200];
    const int n =
        std::snprintf(where, sizeof(where), "%s, block (%u,%u,%u)", c.kernel, c.block_id.x, c.block_id.y, c.block_id.z);
    if (c.cur >= 0 && n > 0 && size_t(n) < sizeof(where))
        std::snprintf(where + n, sizeof(where) - size_t(n), " thread %d", c.cur);
    std::strncat(where, ": ", sizeof(where) - std::strlen(where) - 1);
    fail(where + what);
}

int warp_lanes(const Cta& c, int warp) {
    return std::min(32, c.n - 32 * warp);
}
unsigned full_mask(const Cta& c, int warp) {
    const int lanes = warp_lanes(c, warp);
    return lanes == 32 ? 0xffffffffu : (1u << lanes) - 1u;
}

// Makes the waiters runnable, in the schedule's order.
void release(Cta& c, std::vector<int>& waiters) {
    State& s = state();
    switch (s.schedule) {
        case Schedule::forward: std::sort(waiters.begin(), waiters.end()); break;
        case Schedule::reverse: std::sort(waiters.rbegin(), waiters.rend()); break;
        case Schedule::shuffled: std::shuffle(waiters.begin(), waiters.end(), s.rng); break;
    }
    for (int f : waiters) {
        c.fibers[size_t(f)].wait = Wait::none;
        c.ready.push_back(f);
    }
    waiters.clear();
}

// Stack-switch notes for AddressSanitizer (nothing otherwise). A fiber that finishes
// passes no fake-stack slot: its stack is dead.
void leaving_fiber(Cta& c, Fiber* f) {
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(f ? &f->asan_fake_stack : nullptr, c.scheduler_stack, c.scheduler_stack_bytes);
#else
    (void)c, (void)f;
#endif
}
void entered_fiber(Cta& c, Fiber& f) {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(f.asan_fake_stack, &c.scheduler_stack, &c.scheduler_stack_bytes);
#else
    (void)c, (void)f;
#endif
}

// Back to the scheduler; returns when this fiber is resumed.
void yield(Cta& c) {
    Fiber& f = c.fibers[size_t(c.cur)];
    leaving_fiber(c, &f);
    switch_context(f.ctx, c.scheduler);
    entered_fiber(c, f);
}

void fiber_main() {
    Cta& c = *g_cta;
    c.fibers[size_t(c.cur)].asan_fake_stack = nullptr;
    entered_fiber(c, c.fibers[size_t(c.cur)]);
    (*c.body)();
    c.fibers[size_t(c.cur)].wait = Wait::done;
    ++c.done;
    leaving_fiber(c, nullptr);
    static thread_local Context finished;  // never resumed
    switch_context(finished, c.scheduler);
}

void block_arrive(Cta& c, int predicate) {
    c.fibers[size_t(c.cur)].wait = Wait::block;
    c.block_waiters.push_back(c.cur);
    c.block_count += predicate != 0;
    if (int(c.block_waiters.size()) == c.n) {
        c.block_count_result = c.block_count;
        c.block_count = 0;
        release(c, c.block_waiters);
    }
    yield(c);
}

// Arrives at the warp's current operation and returns once every lane has.
void warp_arrive(Cta& c, WarpOp op) {
    const int warp = c.cur / 32;
    auto& waiters = c.warp_waiters[size_t(warp)];
    if (!waiters.empty() && c.warp_op[size_t(warp)] != op)
        cta_fault(c, "lanes of one warp meet at different warp operations (divergent warp code)");
    c.warp_op[size_t(warp)] = op;
    c.fibers[size_t(c.cur)].wait = Wait::warp;
    waiters.push_back(c.cur);
    if (int(waiters.size()) == warp_lanes(c, warp)) release(c, waiters);
    yield(c);
}

void check_mask(Cta& c, unsigned mask, const char* op) {
    const unsigned full = full_mask(c, c.cur / 32);
    if ((mask & full) != full)
        cta_fault(c, std::string(op) + " with a partial mask: not emulated (every lane must take part)");
}

void run_cta(Cta& c) {
    std::vector<Stack>& stacks = stack_pool(c.n);
    c.ready.clear();
    for (int t = 0; t < c.n; ++t) {
        Fiber& f = c.fibers[size_t(t)];
        f.wait = Wait::none;
        f.generation = 0;
        f.stack = stacks[size_t(t)].base + (stacks[size_t(t)].bytes - kStackBytes);
        make_context(f.ctx, const_cast<void*>(f.stack), kStackBytes, fiber_main);
    }
    std::vector<int> order(size_t(c.n));
    for (int t = 0; t < c.n; ++t) order[size_t(t)] = t;
    release(c, order);
    c.done = 0;
    g_cta = &c;
    while (!c.ready.empty()) {
        c.cur = c.ready.front();
        c.ready.pop_front();
        Fiber& f = c.fibers[size_t(c.cur)];
        threadIdx = f.idx;
#ifdef EMU_ASAN
        void* fake = nullptr;
        __sanitizer_start_switch_fiber(&fake, f.stack, kStackBytes);
        switch_context(c.scheduler, f.ctx);
        __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
        switch_context(c.scheduler, f.ctx);
#endif
    }
    g_cta = nullptr;
    if (c.done != c.n) {
        int at_block = 0, at_warp = 0;
        for (const Fiber& f : c.fibers) {
            at_block += f.wait == Wait::block;
            at_warp += f.wait == Wait::warp;
        }
        c.cur = -1;
        cta_fault(c, "deadlock: " + std::to_string(c.n - c.done) + " of " + std::to_string(c.n) +
                         " threads never finished (" + std::to_string(at_block) + " at __syncthreads, " +
                         std::to_string(at_warp) + " at a warp operation, " + std::to_string(c.done) +
                         " exited): a barrier or warp operation not reached by every thread");
    }
}

// ------------------------------------------------------------------ dynamic shared memory

constexpr size_t kSmemGuard = 256;
constexpr unsigned char kSmemGuardByte = 0xA7;
thread_local unsigned char* g_dynamic_smem = nullptr;

}  // namespace

// ------------------------------------------------------------------ control API

void set_schedule(Schedule s, unsigned seed) {
    state().schedule = s;
    state().rng.seed(seed);
}
Schedule schedule() {
    return state().schedule;
}

const std::vector<LaunchRecord>& launches() {
    return state().launches;
}
void clear_launches() {
    state().launches.clear();
}

std::vector<std::string> take_failures() {
    State& s = state();
    std::lock_guard<std::mutex> lock(s.mutex);
    std::vector<std::string> out;
    out.swap(s.failures);
    return out;
}

int device_count() {
    return kDeviceCount;
}
const Device& device(int index) {
    return kDevices[std::clamp(index, 0, kDeviceCount - 1)];
}
bool set_current_device(int index) {
    if (index < 0 || index >= kDeviceCount) return false;
    state().device = index;
    return true;
}
int current_device() {
    return state().device;
}

// ------------------------------------------------------------------ runtime API

cudaError_t get_last_error(bool clear) {
    const cudaError_t e = state().last_error;
    if (clear) state().last_error = cudaSuccess;
    return e;
}

cudaError_t device_attribute(int* value, cudaDeviceAttr attr, int index) {
    if (!value) return cudaErrorInvalidValue;
    if (index < 0 || index >= kDeviceCount) return cudaErrorInvalidDevice;
    const Device& d = kDevices[index];
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = kDefaultDynamicSmem; return cudaSuccess;
        case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
        case cudaDevAttrMultiProcessorCount: *value = d.sms; return cudaSuccess;
        case cudaDevAttrMaxThreadsPerMultiProcessor: *value = d.max_threads_per_sm; return cudaSuccess;
        case cudaDevAttrComputeCapabilityMajor: *value = d.cc_major; return cudaSuccess;
        case cudaDevAttrComputeCapabilityMinor: *value = d.cc_minor; return cudaSuccess;
        case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = d.smem_per_sm; return cudaSuccess;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = d.smem_per_block_optin; return cudaSuccess;
    }
    return cudaErrorInvalidValue;
}

cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value) {
    if (!kernel) return cudaErrorInvalidValue;
    State& s = state();
    switch (attr) {
        case cudaFuncAttributeMaxDynamicSharedMemorySize:
            if (value < 0 || value > kDevices[s.device].smem_per_block_optin) return cudaErrorInvalidValue;
            s.max_dynamic_smem[{s.device, kernel}] = value;
            return cudaSuccess;
        case cudaFuncAttributePreferredSharedMemoryCarveout:
            return value >= -1 && value <= 100 ? cudaSuccess : cudaErrorInvalidValue;
    }
    return cudaErrorInvalidValue;
}

// Resident blocks per SM from the thread and shared-memory limits (1 KiB reserved per
// block, as the runtime does). Static shared memory and registers are not modelled.
cudaError_t occupancy(int* blocks, const void* kernel, int block_size, size_t dynamic_smem) {
    if (!blocks || !kernel || block_size <= 0 || block_size > 1024) return cudaErrorInvalidValue;
    const Device& d = kDevices[state().device];
    int n = std::min(32, d.max_threads_per_sm / block_size);
    n = std::min<int64_t>(n, int64_t(d.smem_per_sm) / int64_t(dynamic_smem + 1024));
    *blocks = std::max(0, n);
    return cudaSuccess;
}

// ------------------------------------------------------------------ launch

cudaError_t launch_config_error(const void* kernel, const Cfg& cfg) {
    State& s = state();
    const int64_t threads = int64_t(cfg.block.x) * cfg.block.y * cfg.block.z;
    if (threads <= 0 || threads > kMaxThreads || cfg.block.z > 64 || cfg.grid.x == 0 || cfg.grid.y == 0 ||
        cfg.grid.z == 0 || cfg.grid.x > 0x7fffffffu || cfg.grid.y > 65535 || cfg.grid.z > 65535)
        return cudaErrorInvalidConfiguration;
    if (cfg.smem > size_t(kDefaultDynamicSmem)) {
        auto it = s.max_dynamic_smem.find({s.device, kernel});
        if (it == s.max_dynamic_smem.end() || size_t(it->second) < cfg.smem) return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

void set_last_error(cudaError_t err) {
    if (err != cudaSuccess) state().last_error = err;
}

void run_grid(const char* name, const void* kernel, const Cfg& cfg, const std::function<void()>& body) {
    State& s = state();
    LaunchRecord rec;
    rec.kernel = name;
    rec.grid[0] = cfg.grid.x, rec.grid[1] = cfg.grid.y, rec.grid[2] = cfg.grid.z;
    rec.block[0] = cfg.block.x, rec.block[1] = cfg.block.y, rec.block[2] = cfg.block.z;
    rec.smem = cfg.smem;

    const int64_t threads = int64_t(cfg.block.x) * cfg.block.y * cfg.block.z;
    const cudaError_t err = launch_config_error(kernel, cfg);
    rec.error = int(err);
    {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.launches.push_back(rec);
    }
    if (err != cudaSuccess) {
        s.last_error = err;
        return;
    }

    Cta c;
    c.kernel = name;
    c.n = int(threads);
    c.fibers.resize(size_t(c.n));
    for (int t = 0; t < c.n; ++t)
        c.fibers[size_t(t)].idx = dim3(unsigned(t) % cfg.block.x, unsigned(t) / cfg.block.x % cfg.block.y,
                                       unsigned(t) / (cfg.block.x * cfg.block.y));
    const int warps = (c.n + 31) / 32;
    c.warp_waiters.assign(size_t(warps), {});
    c.warp_op.assign(size_t(warps), WarpOp::syncwarp);
    for (int b = 0; b < 2; ++b) {
        c.xchg[b].assign(size_t(warps) * 32, 0);
    }
    c.body = &body;

    const size_t smem_bytes = (cfg.smem + kSmemGuard + 255) / 256 * 256;
    unsigned char* smem = static_cast<unsigned char*>(std::aligned_alloc(256, smem_bytes));
    g_dynamic_smem = smem;
    blockDim = cfg.block;
    gridDim = cfg.grid;
    for (unsigned z = 0; z < cfg.grid.z; ++z)
        for (unsigned y = 0; y < cfg.grid.y; ++y)
            for (unsigned x = 0; x < cfg.grid.x; ++x) {
                c.block_id = blockIdx = dim3(x, y, z);
                c.faults = 0;
                c.shared_poisoned.clear();
                std::memset(smem, 0xFF, cfg.smem);  // f32 NaNs: unstaged values poison the results
                std::memset(smem + cfg.smem, kSmemGuardByte, smem_bytes - cfg.smem);
                run_cta(c);
                for (size_t i = cfg.smem; i < smem_bytes; ++i)
                    if (smem[i] != kSmemGuardByte) {
                        c.cur = -1;
                        cta_fault(c, "write past the launch's dynamic shared memory (" + std::to_string(cfg.smem) +
                                         " bytes)");
                        break;
                    }
            }
    g_dynamic_smem = nullptr;
    std::free(smem);
}

void* dynamic_shared_bytes() {
    return g_dynamic_smem;
}

void register_shared(void* p, size_t bytes) {
    Cta* c = g_cta;
    if (!c || std::find(c->shared_poisoned.begin(), c->shared_poisoned.end(), p) != c->shared_poisoned.end()) return;
    c->shared_poisoned.push_back(p);
    std::memset(p, 0xFF, bytes);
}

// ------------------------------------------------------------------ device-side calls

void sync_block() {
    block_arrive(*g_cta, 0);
}

int sync_block_count(int predicate) {
    Cta& c = *g_cta;
    block_arrive(c, predicate);
    return c.block_count_result;
}

void sync_warp(unsigned mask) {
    Cta& c = *g_cta;
    check_mask(c, mask, "__syncwarp");
    warp_arrive(c, WarpOp::syncwarp);
}

uint64_t shuffle(unsigned mask, uint64_t bits, ShuffleMode mode, int arg, int width) {
    Cta& c = *g_cta;
    const int t = c.cur, warp = t / 32, lane = t % 32;
    const unsigned buf = c.fibers[size_t(t)].generation++ & 1u;
    c.xchg[buf][size_t(t)] = bits;
    check_mask(c, mask, "warp shuffle");
    if (width < 1 || width > 32 || (width & (width - 1)) != 0) cta_fault(c, "shuffle width not a power of 2 <= 32");
    warp_arrive(c, WarpOp::exchange);
    // CUDA's rules: a source outside the lane's width-segment (up, down, xor: a later
    // segment) returns the lane's own value.
    const int seg = lane / width * width;
    int src = lane;
    switch (mode) {
        case ShuffleMode::idx: src = seg + (arg % width + width) % width; break;
        case ShuffleMode::up: src = lane - seg >= arg ? lane - arg : lane; break;
        case ShuffleMode::down: src = lane - seg + arg < width ? lane + arg : lane; break;
        case ShuffleMode::bfly: src = (lane ^ arg) < seg + width ? (lane ^ arg) : lane; break;
    }
    if (src >= warp_lanes(c, warp)) src = lane;  // no such thread in a partial last warp
    return c.xchg[buf][size_t(warp * 32 + src)];
}

unsigned ballot(unsigned mask, int predicate) {
    Cta& c = *g_cta;
    const int t = c.cur, warp = t / 32;
    const unsigned buf = c.fibers[size_t(t)].generation++ & 1u;
    c.xchg[buf][size_t(t)] = predicate != 0;
    check_mask(c, mask, "warp vote");
    warp_arrive(c, WarpOp::exchange);
    unsigned votes = 0;
    for (int l = 0; l < warp_lanes(c, warp); ++l)
        if (c.xchg[buf][size_t(warp * 32 + l)] && (mask >> l & 1u)) votes |= 1u << l;
    return votes;
}

void report_fault(const char* what) {
    if (g_cta)
        cta_fault(*g_cta, what);
    else
        fail(what);
}

}  // namespace emu
