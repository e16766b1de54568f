// Self-tests of the CUDA emulator behind test_cuda_emulated (shim/, emu_runtime.cpp):
// its conversions are bit-exact against the engine's (exhaustive for f16 -> f32, a dense
// sweep of all f32 bit patterns the other way), its shuffles follow CUDA's lane rules,
// and the faults it exists to catch are caught: divergent barriers, a missing barrier,
// misaligned vector loads, dynamic shared-memory overruns, bad launch configurations.
// Compiled against the shim, like the kernels; its small kernels launch through
// ::emu::launch directly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "cuda_bf16.h"

namespace {

::testing::AssertionResult faults_seen(const char* needle) {
    const std::vector<std::string> f = emu::take_failures();
    for (const std::string& s : f)
        if (s.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
    auto r = ::testing::AssertionFailure() << "no fault mentioning \"" << needle << "\" among " << f.size() << ":";
    for (const std::string& s : f) r << "\n  " << s;
    return r;
}

float bits_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

TEST(Emulator, HalfAndBfloat16ConversionsMatchTheEngine) {
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        const float got = __half2float(__ushort_as_half(uint16_t(h)));
        const float want = lumen::fp16_to_fp32(uint16_t(h));
        if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(got)) << h;
        } else {
            ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << "half " << h;
        }
        const float b = __bfloat162float(__ushort_as_bfloat16(uint16_t(h)));
        const float bw = lumen::bf16_to_fp32(uint16_t(h));
        ASSERT_EQ(std::memcmp(&b, &bw, 4), 0) << "bf16 " << h;
    }
    // Every 251st f32 pattern (all exponents, varied low bits), plus all patterns near
    // the f16 rounding boundaries of one binade.
    auto check = [](uint32_t u) {
        const float f = bits_f32(u);
        if (std::isnan(f)) return;
        ASSERT_EQ(__half_as_ushort(__float2half_rn(f)), lumen::fp32_to_fp16(f)) << std::hex << u;
        ASSERT_EQ(__bfloat16_as_ushort(__float2bfloat16_rn(f)), lumen::fp32_to_bf16(f)) << std::hex << u;
    };
    for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 251) check(uint32_t(u));
    for (uint32_t u = 0x3F800000u; u < 0x3F810000u; ++u) check(u);
    for (uint32_t u = 0x33000000u; u < 0x33010000u; ++u) check(u);  // the f16 subnormal rounding to 0 or 1
    EXPECT_EQ(__half_as_ushort(__float2half_rn(NAN)), 0x7FFF);      // CUDA's canonical NaN
    EXPECT_EQ(__bfloat16_as_ushort(__float2bfloat16_rn(NAN)), 0x7FFF);
}

__global__ void shuffle_kernel(int* out, int mode, int arg, int width) {
    const int v = int(threadIdx.x) * 10 + 1;
    int r = 0;
    switch (mode) {
        case 0: r = __shfl_sync(0xffffffffu, v, arg, width); break;
        case 1: r = __shfl_up_sync(0xffffffffu, v, unsigned(arg), width); break;
        case 2: r = __shfl_down_sync(0xffffffffu, v, unsigned(arg), width); break;
        case 3: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
    }
    out[threadIdx.x] = r;
    if (mode == 0 && arg == 0 && width == 32)
        out[64 + threadIdx.x] = int(__ballot_sync(0xffffffffu, threadIdx.x % 3 == 0));
}

TEST(Emulator, ShufflesFollowCudaLaneRules) {
    for (int mode = 0; mode < 4; ++mode)
        for (int width : {32, 8})
            for (int arg : {0, 1, 5, 17}) {
                std::vector<int> out(128, -1);
                ::emu::launch("shuffle_kernel", ::emu::make_cfg(1, 64), shuffle_kernel, out.data(), mode, arg, width);
                for (int t = 0; t < 64; ++t) {
                    const int lane = t % 32, warp0 = t - lane, seg = lane / width * width;
                    int src = lane;
                    if (mode == 0) src = seg + arg % width;
                    if (mode == 1 && lane - seg >= arg) src = lane - arg;
                    if (mode == 2 && lane - seg + arg < width) src = lane + arg;
                    if (mode == 3 && (lane ^ arg) < seg + width) src = lane ^ arg;
                    ASSERT_EQ(out[size_t(t)], (warp0 + src) * 10 + 1)
                        << "mode " << mode << " width " << width << " arg " << arg << " thread " << t;
                    if (mode == 0 && arg == 0 && width == 32) {
                        unsigned votes = 0;
                        for (int l = 0; l < 32; ++l) votes |= unsigned((warp0 + l) % 3 == 0) << l;
                        EXPECT_EQ(unsigned(out[size_t(64 + t)]), votes) << "ballot, thread " << t;
                    }
                }
            }
    EXPECT_TRUE(emu::take_failures().empty());
}

__global__ void divergent_barrier_kernel(int* out) {
    if (threadIdx.x < 16) __syncthreads();  // half the block never arrives
    out[threadIdx.x] = 1;
}
__global__ void early_exit_kernel(int* out) {
    if (threadIdx.x == 3) return;  // exits; the others wait for it forever
    __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void divergent_shuffle_kernel(int* out) {
    if (threadIdx.x % 32 < 8) out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1);
}

TEST(Emulator, DivergentBarriersAreFaults) {
    std::vector<int> out(64, 0);
    ::emu::launch("divergent_barrier_kernel", ::emu::make_cfg(2, 64), divergent_barrier_kernel, out.data());
    EXPECT_TRUE(faults_seen("deadlock"));
    ::emu::launch("early_exit_kernel", ::emu::make_cfg(1, 64), early_exit_kernel, out.data());
    EXPECT_TRUE(faults_seen("deadlock"));
    ::emu::launch("divergent_shuffle_kernel", ::emu::make_cfg(1, 64), divergent_shuffle_kernel, out.data());
    EXPECT_TRUE(faults_seen("deadlock"));
}

// Each thread reads its neighbour's shared value; without the barrier, the forward
// schedule runs thread t before thread t + 1 has written.
__global__ void neighbour_kernel(int* out, int with_barrier) {
    __shared__ int s[64];
    s[threadIdx.x] = int(threadIdx.x) + 1000 * int(blockIdx.x);
    if (with_barrier) __syncthreads();
    out[blockIdx.x * 64 + threadIdx.x] = s[(threadIdx.x + 1) % 64];
}

TEST(Emulator, MissingBarrierChangesTheResult) {
    for (emu::Schedule s : {emu::Schedule::forward, emu::Schedule::reverse, emu::Schedule::shuffled})
        for (int with_barrier : {1, 0}) {
            emu::set_schedule(s, 5);
            std::vector<int> out(128, -1);
            ::emu::launch("neighbour_kernel", ::emu::make_cfg(2, 64), neighbour_kernel, out.data(), with_barrier);
            bool right = true;
            for (int b = 0; b < 2; ++b)
                for (int t = 0; t < 64; ++t) right &= out[size_t(b * 64 + t)] == (t + 1) % 64 + 1000 * b;
            if (with_barrier) {
                EXPECT_TRUE(right) << "schedule " << int(s);
            } else if (s != emu::Schedule::reverse) {
                EXPECT_FALSE(right) << "schedule " << int(s);
            }
        }
    emu::set_schedule(emu::Schedule::forward);
    EXPECT_TRUE(emu::take_failures().empty());
}

__global__ void misaligned_ldg_kernel(const unsigned char* p, unsigned* out) {
    out[threadIdx.x] = __ldg(reinterpret_cast<const uint4*>(p + 4)).x;
}
__global__ void smem_overrun_kernel(int n) {
    float* xs = ::emu::dynamic_shared<float>();
    if (threadIdx.x == 0) xs[n] = 1.f;  // one past the end
}

TEST(Emulator, MemoryFaultsAndLaunchChecks) {
    alignas(16) unsigned char bytes[64] = {};
    unsigned out[32] = {};
    ::emu::launch("misaligned_ldg_kernel", ::emu::make_cfg(1, 32), misaligned_ldg_kernel, bytes, out);
    EXPECT_TRUE(faults_seen("misaligned __ldg"));
    ::emu::launch("smem_overrun_kernel", ::emu::make_cfg(1, 32, 256 * sizeof(float)), smem_overrun_kernel, 256);
    EXPECT_TRUE(faults_seen("past the launch's dynamic shared memory"));

    (void)cudaGetLastError();
    ::emu::launch("smem_overrun_kernel", ::emu::make_cfg(1, 2048), smem_overrun_kernel, 0);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // cleared by the read
    ::emu::launch("smem_overrun_kernel", ::emu::make_cfg(1, 32, 64 * 1024), smem_overrun_kernel, 0);
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);  // above 48 KiB without the opt-in
    EXPECT_EQ(cudaFuncSetAttribute(smem_overrun_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024),
              cudaErrorInvalidValue);
    EXPECT_EQ(cudaFuncSetAttribute(smem_overrun_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024),
              cudaSuccess);
    ::emu::launch("smem_overrun_kernel", ::emu::make_cfg(1, 32, 64 * 1024), smem_overrun_kernel, 0);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    int blocks = 0;
    EXPECT_EQ(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, smem_overrun_kernel, 256, 100 * 1024),
              cudaSuccess);
    EXPECT_EQ(blocks, 2);  // 228 KiB / (100 + 1) KiB
    EXPECT_TRUE(emu::take_failures().empty());
}

}  // namespace
