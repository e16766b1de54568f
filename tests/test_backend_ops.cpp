// test-backend-ops for CUDA (as llama.cpp's test-backend-ops): every CUDA op against
// the CPU reference on random inputs with odd sizes, every weight type, guard values
// around the outputs, NaN checks (nmse is infinite on a NaN) and per-op NMSE bounds;
// then whole models, CUDA against the CPU backend. Without a usable GPU every case
// reports skipped, with the reason, and ctest counts the test as skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "op_test_support.h"
#include "test_support.h"

#ifdef LUMEN_HAVE_CUDA
#include <cuda_runtime.h>

#include "attention.cuh"
#include "backend/cpu/cpu_ops.h"
#include "backend/cuda/device_memory.h"
#include "device_probe.cuh"
#include "elementwise.cuh"
#include "gemv.cuh"
#include "gpu_weights.h"
#include "model/synth.h"
#include "quant/quantize.h"
#include "runtime/engine.h"
#endif

using namespace lumen;

#ifndef LUMEN_HAVE_CUDA

// The whole executable reports skipped (exit 77) to ctest.
TEST(BackendOps, Cuda) {
    test::skip_because("built without CUDA (nvcc was not found at configure time)");
}

#else

namespace {

// Every test starts with this: the reason there is no GPU, or empty.
std::string no_gpu_reason() {
    static const std::string reason = [] {
        const cuda::DeviceProbe p = cuda::probe_devices();
        return p.usable ? std::string() : p.error;
    }();
    return reason;
}
// Without a GPU nothing here can run: the executable reports skipped (exit 77) to
// ctest, with the reason, rather than passing.
#define REQUIRE_GPU()                                                                               \
    do {                                                                                            \
        if (!no_gpu_reason().empty()) test::skip_because("no usable CUDA GPU: " + no_gpu_reason()); \
    } while (0)

constexpr float kSentinel = -31337.25f;
constexpr size_t kGuard = 64;

// A device array of n floats with kGuard sentinel floats on each side.
struct GuardedDevice {
    cuda::DeviceBuffer buf;
    size_t n = 0;
    explicit GuardedDevice(size_t count) : n(count) {
        EXPECT_TRUE(buf.allocate((count + 2 * kGuard) * sizeof(float), "test output").is_ok());
        std::vector<float> init(count + 2 * kGuard, kSentinel);
        cudaMemcpy(buf.get(), init.data(), init.size() * sizeof(float), cudaMemcpyHostToDevice);
    }
    float* data() { return buf.get<float>() + kGuard; }
    // The n values; a failure if a guard was overwritten.
    std::vector<float> read() {
        std::vector<float> all(n + 2 * kGuard);
        EXPECT_EQ(cudaMemcpy(all.data(), buf.get(), all.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
        for (size_t i = 0; i < kGuard; ++i) {
            EXPECT_EQ(all[i], kSentinel) << "write before the output at " << i;
            EXPECT_EQ(all[kGuard + n + i], kSentinel) << "write after the output at " << i;
        }
        return std::vector<float>(all.begin() + kGuard, all.begin() + kGuard + long(n));
    }
};

template <typename T>
cuda::DeviceBuffer to_device(const std::vector<T>& host) {
    cuda::DeviceBuffer b;
    EXPECT_TRUE(b.allocate(host.size() * sizeof(T), "test input").is_ok());
    EXPECT_EQ(cudaMemcpy(b.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    return b;
}

void expect_launched(int err, const char* what) {
    EXPECT_EQ(err, 0) << what << ": " << cudaGetErrorString(cudaError_t(err));
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what << " failed while running";
}

// A weight matrix of `type` on the device in the kernels' layout, and its rows
// dequantized by the CPU reference.
struct TestMatrix {
    cuda::DeviceBuffer qs, qh, meta, super, row_scale;
    cuda::GpuMatrix view;
    std::vector<float> reference;  // rows × cols
};

TestMatrix make_matrix(DType type, int64_t rows, int64_t cols, std::mt19937& rng) {
    TestMatrix m;
    std::vector<uint8_t> bytes;
    if (type == DType::F8_E4M3_CH) {
        const std::vector<float> values = test::random_floats(size_t(rows * cols), rng);
        bytes.resize(size_t(rows) * row_bytes(type, cols));
        EXPECT_TRUE(quantize_rows(type, values.data(), bytes.data(), rows, cols, 1).is_ok());
    } else {
        bytes = test::random_weight_bytes(type, rows, cols, rng);
    }
    cuda::WeightFormat f{};
    EXPECT_TRUE(cuda::weight_format_for(uint32_t(type), &f)) << dtype_name(type);
    const cuda::GpuMatrixBytes sizes = cuda::gpu_matrix_bytes(f, rows, cols);
    std::vector<uint8_t> qs(sizes.qs), qh(sizes.qh), meta(sizes.meta), super(sizes.super);
    std::vector<float> scales(sizes.row_scale / sizeof(float));
    const cuda::GpuMatrixHost dst{qs.data(), qh.empty() ? nullptr : qh.data(), meta.empty() ? nullptr : meta.data(),
                                  super.empty() ? nullptr : super.data(), scales.empty() ? nullptr : scales.data()};
    EXPECT_TRUE(cuda::repack_rows(f, bytes.data(), row_bytes(type, cols), 0, rows, rows, cols, dst));
    m.qs = to_device(qs);
    if (!qh.empty()) m.qh = to_device(qh);
    if (!meta.empty()) m.meta = to_device(meta);
    if (!super.empty()) m.super = to_device(super);
    if (!scales.empty()) m.row_scale = to_device(scales);
    m.view = cuda::GpuMatrix{f,
                             rows,
                             cols,
                             m.qs.get<uint8_t>(),
                             m.qh.get<uint8_t>(),
                             m.meta.get<uint8_t>(),
                             m.super.get<uint8_t>(),
                             m.row_scale.get<float>()};
    m.reference.resize(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        dequantize_row(type, bytes.data() + size_t(r) * row_bytes(type, cols), m.reference.data() + r * cols, cols);
    return m;
}

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,      DType::Q4_0,
                              DType::Q4_1, DType::Q4_K, DType::Q6_K, DType::F8_E4M3_CH};

}  // namespace

TEST(BackendOps, GemvEveryTypeAndTokenCount) {
    REQUIRE_GPU();
    std::mt19937 rng(11);
    for (DType type : kWeightTypes) {
        const bool k_quant = traits(type).block_elements == 256;
        for (int64_t cols : k_quant ? std::vector<int64_t>{256, 768} : std::vector<int64_t>{32, 96, 2080}) {
            for (int64_t rows : {1, 7, 67, 1031}) {
                TestMatrix w = make_matrix(type, rows, cols, rng);
                for (int n_tokens : {1, 2, 3, 5, 8}) {
                    SCOPED_TRACE(std::string(dtype_name(type)) + " rows " + std::to_string(rows) + " cols " +
                                 std::to_string(cols) + " tokens " + std::to_string(n_tokens));
                    const std::vector<float> x = test::random_floats(size_t(n_tokens * cols), rng);
                    cuda::DeviceBuffer dx = to_device(x);
                    GuardedDevice y(size_t(n_tokens * rows));
                    expect_launched(cuda::gemv(w.view, dx.get<float>(), n_tokens, y.data(), nullptr), "gemv");
                    std::vector<double> ref(size_t(n_tokens * rows));
                    for (int t = 0; t < n_tokens; ++t)
                        for (int64_t r = 0; r < rows; ++r) {
                            double s = 0;
                            for (int64_t c = 0; c < cols; ++c)
                                s += double(w.reference[size_t(r * cols + c)]) * x[size_t(t * cols + c)];
                            ref[size_t(t * rows + r)] = s;
                        }
                    const std::vector<float> got = y.read();
                    EXPECT_LT(test::nmse(got.data(), ref.data(), got.size()), 1e-9);
                }
            }
        }
    }
}

TEST(BackendOps, DequantizeToF16AndEmbeddingMatchTheReference) {
    REQUIRE_GPU();
    std::mt19937 rng(12);
    for (DType type : kWeightTypes) {
        SCOPED_TRACE(dtype_name(type));
        const int64_t rows = 37, cols = traits(type).block_elements == 256 ? 512 : 160;
        TestMatrix w = make_matrix(type, rows, cols, rng);
        cuda::DeviceBuffer half;
        ASSERT_TRUE(half.allocate(size_t(rows * cols) * 2, "test").is_ok());
        expect_launched(cuda::dequantize_to_f16(w.view, half.get<uint16_t>(), nullptr), "dequantize_to_f16");
        std::vector<uint16_t> got(size_t(rows * cols));
        cudaMemcpy(got.data(), half.get(), got.size() * 2, cudaMemcpyDeviceToHost);
        for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], fp32_to_fp16(w.reference[i])) << "element " << i;

        const std::vector<int32_t> ids = {0, 36, 5, 5, 17};
        cuda::DeviceBuffer d_ids = to_device(ids);
        GuardedDevice out(ids.size() * size_t(cols));
        expect_launched(cuda::embedding_rows(w.view, d_ids.get<int32_t>(), int(ids.size()), out.data(), nullptr),
                        "embedding_rows");
        const std::vector<float> rows_got = out.read();
        for (size_t t = 0; t < ids.size(); ++t)
            for (int64_t c = 0; c < cols; ++c)
                ASSERT_EQ(rows_got[t * size_t(cols) + size_t(c)], w.reference[size_t(ids[t] * cols + c)]);
    }
}

TEST(BackendOps, RmsNormWithAndWithoutResidual) {
    REQUIRE_GPU();
    std::mt19937 rng(13);
    for (int n : {1, 31, 288, 2048, 4099}) {
        const int T = 5;
        std::vector<float> x = test::random_floats(size_t(T * n), rng), r = test::random_floats(size_t(T * n), rng);
        const std::vector<float> w = test::random_floats(size_t(n), rng, 0.5f, 1.5f);
        for (bool with_residual : {false, true}) {
            SCOPED_TRACE("n " + std::to_string(n) + (with_residual ? " with residual" : ""));
            cuda::DeviceBuffer dx = to_device(x), dr = to_device(r), dw = to_device(w);
            GuardedDevice out(size_t(T * n));
            expect_launched(cuda::rms_norm(dx.get<float>(), with_residual ? dr.get<float>() : nullptr, dw.get<float>(),
                                           out.data(), T, n, 1e-5f, nullptr),
                            "rms_norm");
            std::vector<float> sum = x;
            if (with_residual)
                for (size_t i = 0; i < sum.size(); ++i) sum[i] += r[i];
            std::vector<double> ref(size_t(T * n));
            std::vector<float> row(static_cast<size_t>(n));
            for (int t = 0; t < T; ++t) {
                cpu::rms_norm(sum.data() + t * n, w.data(), row.data(), n, 1e-5f);
                for (int i = 0; i < n; ++i) ref[size_t(t * n + i)] = row[size_t(i)];
            }
            const std::vector<float> got = out.read();
            EXPECT_LT(test::nmse(got.data(), ref.data(), got.size()), 1e-12);
            std::vector<float> x_after(x.size());
            cudaMemcpy(x_after.data(), dx.get(), x.size() * 4, cudaMemcpyDeviceToHost);
            for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x_after[i], sum[i]) << "x after the fused add, " << i;
        }
    }
}

TEST(BackendOps, RopeNormalAndNeox) {
    REQUIRE_GPU();
    std::mt19937 rng(14);
    for (RopeStyle style : {RopeStyle::normal, RopeStyle::neox}) {
        for (int head_dim : {48, 64, 128}) {
            const int n_heads = 3, T = 6;
            const cpu::RopeParams p{head_dim, head_dim, 10000.f, 1.f, style, nullptr, nullptr};
            std::vector<float> freqs = cpu::rope_frequencies(p);
            const std::vector<int32_t> positions = {0, 1, 17, 255, 4095, 30000};
            std::vector<float> x = test::random_floats(size_t(T * n_heads * head_dim), rng);
            cuda::DeviceBuffer dx = to_device(x), dpos = to_device(positions), dfreq = to_device(freqs);
            expect_launched(cuda::rope(dx.get<float>(), T, n_heads, head_dim, head_dim, dpos.get<int32_t>(),
                                       dfreq.get<float>(), 1.f, style == RopeStyle::neox, nullptr),
                            "rope");
            std::vector<float> got(x.size());
            cudaMemcpy(got.data(), dx.get(), x.size() * 4, cudaMemcpyDeviceToHost);
            cpu::RopeParams with = p;
            with.frequencies = freqs.data();
            std::vector<double> ref(x.size());
            for (int t = 0; t < T; ++t)
                cpu::rope(x.data() + t * n_heads * head_dim, n_heads, positions[size_t(t)], with);
            for (size_t i = 0; i < x.size(); ++i) ref[i] = x[i];
            EXPECT_LT(test::nmse(got.data(), ref.data(), got.size()), 1e-10)
                << (style == RopeStyle::neox ? "neox" : "normal") << " head_dim " << head_dim;
        }
    }
}

TEST(BackendOps, SwigluAddBiasAndConversions) {
    REQUIRE_GPU();
    std::mt19937 rng(15);
    const int n = 3 * 1000 + 7;
    std::vector<float> g = test::random_floats(size_t(n), rng, -6.f, 6.f), u = test::random_floats(size_t(n), rng);
    cuda::DeviceBuffer dg = to_device(g), du = to_device(u);
    expect_launched(cuda::swiglu(dg.get<float>(), du.get<float>(), n, nullptr), "swiglu");
    std::vector<float> got(static_cast<size_t>(n)), ref_f(static_cast<size_t>(n));
    cudaMemcpy(got.data(), dg.get(), size_t(n) * 4, cudaMemcpyDeviceToHost);
    cpu::silu_mul(g.data(), u.data(), ref_f.data(), n);
    std::vector<double> ref(ref_f.begin(), ref_f.end());
    EXPECT_LT(test::nmse(got.data(), ref.data(), got.size()), 1e-12);

    const std::vector<float> bias = test::random_floats(1000, rng);
    cuda::DeviceBuffer dx = to_device(u), db = to_device(bias);
    expect_launched(cuda::add_bias(dx.get<float>(), db.get<float>(), 3, 1000, nullptr), "add_bias");
    cudaMemcpy(got.data(), dx.get(), 3000 * 4, cudaMemcpyDeviceToHost);
    for (int i = 0; i < 3000; ++i) ASSERT_EQ(got[size_t(i)], u[size_t(i)] + bias[size_t(i % 1000)]);

    cuda::DeviceBuffer halves;
    ASSERT_TRUE(halves.allocate(size_t(n) * 2, "test").is_ok());
    std::vector<uint16_t> h(static_cast<size_t>(n));
    expect_launched(cuda::to_f16(du.get<float>(), halves.get<uint16_t>(), n, nullptr), "to_f16");
    cudaMemcpy(h.data(), halves.get(), size_t(n) * 2, cudaMemcpyDeviceToHost);
    for (int i = 0; i < n; ++i) ASSERT_EQ(h[size_t(i)], fp32_to_fp16(u[size_t(i)]));
    expect_launched(cuda::to_bf16(du.get<float>(), halves.get<uint16_t>(), n, nullptr), "to_bf16");
    cudaMemcpy(h.data(), halves.get(), size_t(n) * 2, cudaMemcpyDeviceToHost);
    for (int i = 0; i < n; ++i) ASSERT_EQ(h[size_t(i)], fp32_to_bf16(u[size_t(i)]));
}

// Paged attention over scattered blocks: several sequences, decode and prefill-like
// steps, GQA, MQA and plain multi-head, head sizes 48, 64 and 128. The reference is a
// direct softmax in double over the fp16-rounded K/V that store_kv wrote (read back
// and checked slot by slot first).
TEST(BackendOps, PagedAttentionAgainstDirectSoftmax) {
    REQUIRE_GPU();
    std::mt19937 rng(16);
    struct Shape {
        int n_heads, n_kv_heads, head_dim, block_size;
    };
    for (const Shape s : {Shape{8, 2, 64, 16}, Shape{6, 6, 48, 16}, Shape{32, 1, 128, 32}, Shape{4, 2, 64, 1}}) {
        const int kv_dim = s.n_kv_heads * s.head_dim;
        // Sequences of lengths 1, 37, 700 (their last tokens are this step's), then a
        // prefill chunk of 9 new tokens at positions 20..28 of a fourth sequence.
        struct Seq {
            int length, new_tokens;
        };
        const std::vector<Seq> seqs = {{1, 1}, {37, 1}, {700, 1}, {29, 9}};
        const int n_blocks = 1200;
        std::vector<int32_t> free_blocks(n_blocks);
        for (int i = 0; i < n_blocks; ++i) free_blocks[size_t(i)] = i;
        std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
        std::vector<int32_t> tables, offsets, positions;
        std::vector<std::vector<float>> all_k, all_v;  // per sequence [length][kv_dim]
        std::vector<float> step_k, step_v, step_q;
        int next_block = 0;
        for (const Seq& q : seqs) {
            const int first = int(tables.size());
            for (int b = 0; b < (q.length + s.block_size - 1) / s.block_size; ++b)
                tables.push_back(free_blocks[size_t(next_block++)]);
            all_k.push_back(test::random_floats(size_t(q.length * kv_dim), rng, -2.f, 2.f));
            all_v.push_back(test::random_floats(size_t(q.length * kv_dim), rng));
            for (int p = 0; p < q.length; ++p) {
                offsets.push_back(first);
                positions.push_back(p);
            }
        }
        // Store every position's K/V (one store_kv over all of them), then attend for the new tokens.
        std::vector<float> k_flat, v_flat;
        for (size_t i = 0; i < seqs.size(); ++i) {
            k_flat.insert(k_flat.end(), all_k[i].begin(), all_k[i].end());
            v_flat.insert(v_flat.end(), all_v[i].begin(), all_v[i].end());
        }
        const size_t cache_elems = size_t(n_blocks) * size_t(s.block_size) * size_t(kv_dim);
        cuda::DeviceBuffer kc, vc;
        ASSERT_TRUE(kc.allocate(cache_elems * 2, "k").is_ok());
        ASSERT_TRUE(vc.allocate(cache_elems * 2, "v").is_ok());
        cuda::DeviceBuffer dk = to_device(k_flat), dv = to_device(v_flat), dtab = to_device(tables),
                           doff = to_device(offsets), dpos = to_device(positions);
        expect_launched(cuda::store_kv(dk.get<float>(), dv.get<float>(), kc.get<uint16_t>(), vc.get<uint16_t>(),
                                       s.block_size, kv_dim, int(positions.size()), dpos.get<int32_t>(),
                                       doff.get<int32_t>(), dtab.get<int32_t>(), nullptr),
                        "store_kv");
        std::vector<uint16_t> kh(cache_elems), vh(cache_elems);
        cudaMemcpy(kh.data(), kc.get(), cache_elems * 2, cudaMemcpyDeviceToHost);
        cudaMemcpy(vh.data(), vc.get(), cache_elems * 2, cudaMemcpyDeviceToHost);
        std::vector<int32_t> q_pos, q_off;
        size_t flat = 0;
        for (size_t i = 0; i < seqs.size(); ++i) {
            for (int p = 0; p < seqs[i].length; ++p, ++flat) {
                const int32_t block = tables[size_t(offsets[flat] + p / s.block_size)];
                const size_t at = (size_t(block) * s.block_size + size_t(p % s.block_size)) * size_t(kv_dim);
                for (int e = 0; e < kv_dim; ++e) {
                    ASSERT_EQ(kh[at + size_t(e)], fp32_to_fp16(all_k[i][size_t(p * kv_dim + e)]));
                    ASSERT_EQ(vh[at + size_t(e)], fp32_to_fp16(all_v[i][size_t(p * kv_dim + e)]));
                }
                if (p >= seqs[i].length - seqs[i].new_tokens) {
                    q_pos.push_back(p);
                    q_off.push_back(offsets[flat]);
                }
            }
        }
        const int T = int(q_pos.size());
        const int q_dim = s.n_heads * s.head_dim;
        const std::vector<float> q = test::random_floats(size_t(T * q_dim), rng, -2.f, 2.f);
        cuda::DeviceBuffer dq = to_device(q), dqpos = to_device(q_pos), dqoff = to_device(q_off);
        for (int32_t max_context : {701, 4096}) {  // the exact bound and a graph's pool-sized one
            SCOPED_TRACE("heads " + std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) + " head_dim " +
                         std::to_string(s.head_dim) + " block " + std::to_string(s.block_size) + " max_context " +
                         std::to_string(max_context));
            cuda::DeviceBuffer scratch;
            ASSERT_TRUE(scratch
                            .allocate(size_t(cuda::attention_scratch_floats(T, s.n_heads, s.head_dim, max_context)) * 4,
                                      "scratch")
                            .is_ok());
            GuardedDevice out(size_t(T * q_dim));
            cuda::PagedAttentionParams p;
            p.k_cache = kc.get<uint16_t>();
            p.v_cache = vc.get<uint16_t>();
            p.block_size = s.block_size;
            p.n_heads = s.n_heads;
            p.n_kv_heads = s.n_kv_heads;
            p.head_dim = s.head_dim;
            p.scale = 1.0f / std::sqrt(float(s.head_dim));
            p.n_tokens = T;
            p.q = dq.get<float>();
            p.out = out.data();
            p.positions = dqpos.get<int32_t>();
            p.block_table_offset = dqoff.get<int32_t>();
            p.block_tables = dtab.get<int32_t>();
            p.max_context = max_context;
            p.scratch = scratch.get<float>();
            expect_launched(cuda::paged_attention(p, nullptr), "paged_attention");
            std::vector<double> ref(size_t(T * q_dim));
            const int group = s.n_heads / s.n_kv_heads;
            for (int t = 0; t < T; ++t)
                for (int h = 0; h < s.n_heads; ++h) {
                    const int kvh = h / group, n_ctx = q_pos[size_t(t)] + 1;
                    std::vector<double> w(static_cast<size_t>(n_ctx));
                    double mx = -1e300;
                    for (int j = 0; j < n_ctx; ++j) {
                        const int32_t block = tables[size_t(q_off[size_t(t)] + j / s.block_size)];
                        const size_t at = (size_t(block) * s.block_size + size_t(j % s.block_size)) * size_t(kv_dim) +
                                          size_t(kvh * s.head_dim);
                        double d = 0;
                        for (int e = 0; e < s.head_dim; ++e)
                            d += double(q[size_t(t * q_dim + h * s.head_dim + e)]) * fp16_to_fp32(kh[at + size_t(e)]);
                        w[size_t(j)] = d / std::sqrt(double(s.head_dim));
                        mx = std::max(mx, w[size_t(j)]);
                    }
                    double sum = 0;
                    for (double& x : w) sum += (x = std::exp(x - mx));
                    for (int e = 0; e < s.head_dim; ++e) {
                        double acc = 0;
                        for (int j = 0; j < n_ctx; ++j) {
                            const int32_t block = tables[size_t(q_off[size_t(t)] + j / s.block_size)];
                            const size_t at =
                                (size_t(block) * s.block_size + size_t(j % s.block_size)) * size_t(kv_dim) +
                                size_t(kvh * s.head_dim);
                            acc += w[size_t(j)] * fp16_to_fp32(vh[at + size_t(e)]);
                        }
                        ref[size_t(t * q_dim + h * s.head_dim + e)] = acc / sum;
                    }
                }
            const std::vector<float> got = out.read();
            EXPECT_LT(test::nmse(got.data(), ref.data(), got.size()), 1e-10);
        }
    }
}

// ------------------------------------------------------------------ whole models

namespace {

std::unique_ptr<Engine> load_on(const std::string& path, const std::string& device) {
    EngineOptions o;
    o.kv_tokens = 1024;
    o.backend.n_threads = 2;
    o.backend.device = device;
    auto e = Engine::load(path, {}, o);
    EXPECT_TRUE(e.is_ok()) << device << ": " << e.status().message();
    return e.is_ok() ? std::move(e.value()) : nullptr;
}

std::vector<int32_t> greedy(Engine& e, const std::string& prompt, int n) {
    GenerationRequest r;
    r.prompt = prompt;
    r.max_tokens = n;
    r.sampling.temperature = 0;
    r.stop_at_eos = false;
    auto out = e.generate(r);
    EXPECT_TRUE(out.is_ok()) << out.status().message();
    return out.is_ok() ? out.value().ids : std::vector<int32_t>{};
}

// The logits of every prompt position, in one step (the cuBLAS path) and one token
// at a time (gemv and, after the first step of each bucket, graphs).
std::vector<float> logits_of(Engine& e, const std::vector<int32_t>& ids, bool one_at_a_time) {
    const int32_t seq = e.create_sequence().value();
    std::vector<float> all, step;
    if (one_at_a_time) {
        for (int32_t id : ids) {
            SequenceInput in{seq, {id}, false, true};
            EXPECT_TRUE(e.step({in}, &step).is_ok());
            all.insert(all.end(), step.begin(), step.end());
        }
    } else {
        SequenceInput in{seq, ids, true, true};
        EXPECT_TRUE(e.step({in}, &all).is_ok());
    }
    e.free_sequence(seq);
    return all;
}

void expect_same_greedy(const std::string& path, const std::string& prompt, int n) {
    auto cpu = load_on(path, "cpu");
    auto gpu = load_on(path, "cuda");
    ASSERT_TRUE(cpu && gpu);
    ASSERT_EQ(gpu->backend().name(), "cuda");
    const std::vector<int32_t> a = greedy(*cpu, prompt, n), b = greedy(*gpu, prompt, n);
    EXPECT_EQ(a, b) << path << ": greedy tokens differ between the CPU and CUDA backends";
}

}  // namespace

TEST(BackendOps, SyntheticGqaModelLogitsCloseToCpu) {
    REQUIRE_GPU();
    char tmpl[] = "/tmp/lumen-backend-ops-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    for (DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
        SCOPED_TRACE(dtype_name(type));
        SynthSpec spec;
        spec.dim = 256;
        spec.n_layers = 3;
        spec.n_heads = 8;
        spec.n_kv_heads = 2;
        spec.ffn_dim = 512;
        spec.type = type;
        spec.init_std = 0.05f;
        const std::string path = dir + "/gqa-" + dtype_name(type) + ".gguf";
        ASSERT_TRUE(
            write_synthetic_model(spec, test::data_dir() + "/tokenizer/ggml-vocab-llama-spm.gguf", path).is_ok());
        auto cpu = load_on(path, "cpu");
        auto gpu = load_on(path, "cuda");
        ASSERT_TRUE(cpu && gpu);
        const std::vector<int32_t> ids = test::random_tokens(40, 5);
        const std::vector<float> ref = logits_of(*cpu, ids, false);
        std::vector<double> ref_d(ref.begin(), ref.end());
        for (bool one_at_a_time : {false, true}) {
            const std::vector<float> got = logits_of(*gpu, ids, one_at_a_time);
            ASSERT_EQ(got.size(), ref.size());
            // The CPU quantizes activations to 8 bits for quantized weights while the GPU keeps
            // them f32, and cuBLAS prefill rounds them to f16: the bounds test_cuda_backend_emulated
            // uses for the same comparison (observed there: about 3e-6 for f16, 3e-3 quantized).
            const double bound = type == DType::F32 ? 1e-6 : type == DType::F16 ? 2e-5 : 1e-2;
            EXPECT_LT(test::nmse(got.data(), ref_d.data(), got.size()), bound)
                << (one_at_a_time ? "one token per step" : "whole prompt in one step");
        }
    }
}

TEST(BackendOps, GreedyTokensEqualCpuStories15M) {
    REQUIRE_GPU();
    const char* env = std::getenv("LUMEN_STORIES15M");
    const std::string path = env ? env : test::shared_dir() + "/testdata/stories15M/stories15M.bin";
    if (!test::file_exists(path)) GTEST_SKIP() << "stories15M not found at " << path << " (set LUMEN_STORIES15M)";
    expect_same_greedy(path, "Once upon a time", 100);
}

TEST(BackendOps, GreedyTokensEqualCpuSmolLM2) {
    REQUIRE_GPU();
    const std::string path = test::default_model_path();
    if (!test::file_exists(path)) GTEST_SKIP() << "the default model is not at " << path;
    expect_same_greedy(path, "The capital of France is", 64);
}

#endif  // LUMEN_HAVE_CUDA
