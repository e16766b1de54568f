// GPTQ, RTN and the calibration Hessian (see gptq.h). The O(n^3) factorizations
// and the O(rows * cols^2) column loop are blocked so that each matrix element
// fetched from memory is used many times, and split over rows with the ThreadPool.
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "backend/thread_pool.h"
#include "core/dtype.h"

namespace lumen {

namespace {

// ---------------------------------------------------------------- helpers

using ChunkFn = std::function<void(int64_t, int64_t, int)>;

void run_parallel(ThreadPool* pool, int64_t n, const ChunkFn& fn) {
    if (n <= 0) return;
    if (pool && pool->size() > 1)
        pool->parallel_for(n, fn);
    else
        fn(0, n, 0);
}

// Items [first, last) of a triangular loop (cost growing or shrinking linearly with
// the index): item p is run together with its mirror, so equal chunks get equal work.
void for_each_balanced(ThreadPool* pool, int64_t first, int64_t last, const std::function<void(int64_t)>& item) {
    const int64_t m = last - first;
    run_parallel(pool, (m + 1) / 2, [&](int64_t b, int64_t e, int) {
        for (int64_t p = b; p < e; ++p) {
            item(first + p);
            if (last - 1 - p != first + p) item(last - 1 - p);
        }
    });
}

// Four partial sums: without -ffast-math a single accumulator is latency bound.
inline double dot(const double* a, const double* b, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < n; ++k) s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

Status check_matrix(const float* w, int64_t rows, int64_t cols, const char* what) {
    if (rows <= 0 || cols <= 0 || !w)
        return Status::error(std::string(what) + ": empty matrix [" + std::to_string(rows) + " x " +
                             std::to_string(cols) + "]");
    for (int64_t i = 0; i < rows * cols; ++i)
        if (!std::isfinite(w[i]))
            return Status::error(std::string(what) + ": value at row " + std::to_string(i / cols) + ", column " +
                                 std::to_string(i % cols) + " is not finite");
    return Status::ok();
}

// ---------------------------------------------------------------- grid

constexpr float kFp16Max = 65504.0f;

struct GroupParams {
    float d = 0, m = 0;
};

int zero_code(const QuantGrid& g) {
    return (g.qmax + 1) / 2;
}

float through_fp16(float v) {
    return fp16_to_fp32(fp32_to_fp16(std::clamp(v, -kFp16Max, kFp16Max)));
}

GroupParams params_for_range(double lo, double hi, const QuantGrid& g) {
    GroupParams p;
    if (g.symmetric) {
        const int z = zero_code(g);
        p.d = float(std::max(std::fabs(lo), std::fabs(hi)) / (g.qmax - z));
        if (g.fp16_params) p.d = through_fp16(p.d);
        // Derived, not stored. With an fp16 d (11 significant bits) and z <= 128 the
        // product is exact, and so is d*q + m = d*(q - z): storage reproduces it bit for bit.
        p.m = -float(z) * p.d;
    } else {
        p.d = float((hi - lo) / g.qmax);
        p.m = float(lo);
        if (g.fp16_params) {
            p.d = through_fp16(p.d);
            p.m = through_fp16(p.m);
        }
    }
    return p;
}

template <typename T>
GroupParams params_of(const T* v, int64_t n, const QuantGrid& g) {
    double lo = v[0], hi = v[0];
    for (int64_t i = 1; i < n; ++i) {
        lo = std::min(lo, double(v[i]));
        hi = std::max(hi, double(v[i]));
    }
    return params_for_range(lo, hi, g);
}

// d == 0 (a constant group, or a scale below fp16's range): every value takes the
// code whose dequantized value is m, so nothing divides by zero.
inline int quantize_value(double w, GroupParams p, const QuantGrid& g) {
    if (p.d == 0) return g.symmetric ? zero_code(g) : 0;
    const double q = std::nearbyint((w - double(p.m)) / double(p.d));
    return int(std::clamp(q, 0.0, double(g.qmax)));
}

// The one place a code becomes a value, so GPTQ compensates for exactly what value() returns.
inline float dequant(GroupParams p, int q) {
    return p.d * float(q) + p.m;
}

// Columns per group once group_size 0 (or >= cols) is read as "the whole row".
int64_t effective_group(const QuantGrid& g, int64_t cols) {
    return g.group_size == 0 || g.group_size >= cols ? cols : g.group_size;
}

GroupQuantized make_quantized(int64_t rows, int64_t cols, const QuantGrid& g) {
    const int64_t gs = effective_group(g, cols);
    GroupQuantized out;
    out.rows = rows;
    out.cols = cols;
    out.group_size = g.group_size;
    out.groups_per_row = (cols + gs - 1) / gs;
    out.qmax = g.qmax;
    out.scales.resize(size_t(rows * out.groups_per_row));
    out.offsets.resize(out.scales.size());
    out.codes.resize(size_t(rows * cols));
    return out;
}

// ---------------------------------------------------------------- factorizations

// In-place lower Cholesky of the row-major n x n matrix a (lower triangle read and
// written; the upper is left as it was), right-looking in panels of kB columns.
// Returns -1, or the index of a pivot that is not clearly positive.
int64_t cholesky_lower(std::vector<double>& a, int64_t n, ThreadPool* pool, double* bad_pivot) {
    constexpr int64_t kB = 64;
    std::vector<double> diag(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) diag[size_t(i)] = a[size_t(i * n + i)];
    for (int64_t k0 = 0; k0 < n; k0 += kB) {
        const int64_t k1 = std::min(k0 + kB, n);
        for (int64_t j = k0; j < k1; ++j) {  // diagonal block, already updated for columns < k0
            double* aj = &a[size_t(j * n)];
            const double d = aj[j] - dot(aj + k0, aj + k0, j - k0);
            // Relative test: rounding turns an exactly singular pivot into +-1e-16 * diag.
            if (!(d > 1e-12 * diag[size_t(j)]) || !std::isfinite(d)) {
                *bad_pivot = d;
                return j;
            }
            aj[j] = std::sqrt(d);
            for (int64_t i = j + 1; i < k1; ++i) {
                double* ai = &a[size_t(i * n)];
                ai[j] = (ai[j] - dot(ai + k0, aj + k0, j - k0)) / aj[j];
            }
        }
        run_parallel(pool, n - k1, [&](int64_t b, int64_t e, int) {  // panel: L21 = A21 L11^-T
            for (int64_t i = k1 + b; i < k1 + e; ++i) {
                double* ai = &a[size_t(i * n)];
                for (int64_t j = k0; j < k1; ++j) {
                    const double* aj = &a[size_t(j * n)];
                    ai[j] = (ai[j] - dot(ai + k0, aj + k0, j - k0)) / aj[j];
                }
            }
        });
        for_each_balanced(pool, k1, n, [&](int64_t i) {  // trailing: A22 -= L21 L21^T
            double* ai = &a[size_t(i * n)];
            for (int64_t j = k1; j <= i; ++j) ai[j] -= dot(ai + k0, &a[size_t(j * n + k0)], k1 - k0);
        });
    }
    return -1;
}

// inv = L^-1 for lower-triangular L (lower triangle of l); inv must be zeroed.
// Columns of the inverse are independent: each task forward-substitutes kC of them.
void invert_lower(const std::vector<double>& l, std::vector<double>& inv, int64_t n, ThreadPool* pool) {
    constexpr int64_t kC = 16;
    for_each_balanced(pool, 0, (n + kC - 1) / kC, [&](int64_t block) {
        const int64_t c0 = block * kC, width = std::min(kC, n - c0);
        std::vector<double> x(size_t((n - c0) * kC), 0.0);  // x[i - c0][c] = inv[i][c0 + c]
        for (int64_t i = c0; i < n; ++i) {
            double* xi = &x[size_t((i - c0) * kC)];
            const double* li = &l[size_t(i * n)];
            if (i - c0 < width) xi[i - c0] = 1.0;
            for (int64_t k = c0; k < i; ++k) {
                const double lik = li[k];
                const double* xk = &x[size_t((k - c0) * kC)];
                for (int64_t c = 0; c < kC; ++c) xi[c] -= lik * xk[c];
            }
            for (int64_t c = 0; c < kC; ++c) xi[c] /= li[i];
            for (int64_t c = 0; c < width && c0 + c <= i; ++c) inv[size_t(i * n + c0 + c)] = xi[c];
        }
    });
}

// h (destroyed) -> upper U with U^T U = h^-1. Reversing the index order (J h J)
// and factoring that as M M^T gives h = (J M J)(J M J)^T with J M J upper, so
// h^-1 = U^T U for U = (J M J)^-1 = J M^-1 J: one Cholesky and one triangular
// inverse instead of the reference's Cholesky, inverse and second Cholesky.
Status factor_inverse_in_place(std::vector<double>& h, int64_t n, ThreadPool* pool, std::vector<double>& u) {
    std::reverse(h.begin(), h.end());  // flat index i*n+j <-> (n-1-i)*n + (n-1-j)
    double pivot = 0;
    const int64_t bad = cholesky_lower(h, n, pool, &pivot);
    if (bad >= 0) {
        char value[32];
        std::snprintf(value, sizeof value, "%.3g", pivot);
        return Status::error("Hessian [" + std::to_string(n) + " x " + std::to_string(n) +
                             "] is not positive definite (pivot of column " + std::to_string(n - 1 - bad) + " is " +
                             value + "); use more calibration samples or a higher damp_percent");
    }
    u.assign(size_t(n * n), 0.0);
    invert_lower(h, u, n, pool);
    std::reverse(u.begin(), u.end());
    return Status::ok();
}

}  // namespace

// ---------------------------------------------------------------- GroupQuantized, Hessian

Status validate_grid(const QuantGrid& grid) {
    const int min_qmax = grid.symmetric ? 2 : 1;  // symmetric needs qmax - zero_code >= 1
    if (grid.qmax < min_qmax || grid.qmax > 255)
        return Status::error("quantization grid: qmax " + std::to_string(grid.qmax) + " is outside [" +
                             std::to_string(min_qmax) + ", 255]");
    if (grid.group_size < 0)
        return Status::error("quantization grid: group_size " + std::to_string(grid.group_size) + " is negative");
    return Status::ok();
}

float GroupQuantized::value(int64_t r, int64_t c) const {
    const size_t g = size_t(r * groups_per_row + group_of(c));
    return dequant({scales[g], offsets[g]}, codes[size_t(r * cols + c)]);
}

std::vector<float> GroupQuantized::dequantized() const {
    std::vector<float> out(codes.size());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) out[size_t(r * cols + c)] = value(r, c);
    return out;
}

HessianAccumulator::HessianAccumulator(int64_t cols)
    : cols_(std::max<int64_t>(cols, 0)), sum_(size_t(cols_ * cols_), 0.0) {}

Status HessianAccumulator::add(const float* x, int64_t n, ThreadPool* pool) {
    if (n == 0) return Status::ok();
    if (n < 0 || !x) return Status::error("Hessian: invalid activation batch of " + std::to_string(n) + " rows");
    LUMEN_TRY(check_matrix(x, n, cols_, "Hessian activations"));
    // Rank-kChunk updates of the upper triangle, one H row per task: the row stays
    // in cache while the chunk's samples stream past it.
    constexpr int64_t kChunk = 32;
    std::vector<double> xd(size_t(std::min(kChunk, n) * cols_));
    for (int64_t s0 = 0; s0 < n; s0 += kChunk) {
        const int64_t ns = std::min(kChunk, n - s0);
        for (int64_t i = 0; i < ns * cols_; ++i) xd[size_t(i)] = x[s0 * cols_ + i];
        for_each_balanced(pool, 0, cols_, [&](int64_t i) {
            double* h = &sum_[size_t(i * cols_)];
            for (int64_t s = 0; s < ns; ++s) {
                const double* xs = &xd[size_t(s * cols_)];
                const double xi = xs[i];
                if (xi == 0) continue;
                for (int64_t j = i; j < cols_; ++j) h[j] += xi * xs[j];
            }
        });
    }
    samples_ += n;
    return Status::ok();
}

std::vector<double> HessianAccumulator::finish() const {
    std::vector<double> h(sum_.size(), 0.0);
    if (samples_ == 0) return h;
    const double scale = 2.0 / double(samples_);
    for (int64_t i = 0; i < cols_; ++i)
        for (int64_t j = i; j < cols_; ++j)
            h[size_t(i * cols_ + j)] = h[size_t(j * cols_ + i)] = sum_[size_t(i * cols_ + j)] * scale;
    return h;
}

std::vector<double> hessian_from_activations(const float* x, int64_t n, int64_t cols, ThreadPool* pool) {
    if (cols <= 0) return {};
    HessianAccumulator acc(cols);
    if (!acc.add(x, n, pool).is_ok()) return {};
    return acc.finish();
}

Result<std::vector<double>> inverse_hessian_factor(const std::vector<double>& h, int64_t n, ThreadPool* pool) {
    if (n <= 0 || h.size() != size_t(n * n))
        return Status::error("Hessian has " + std::to_string(h.size()) + " values, expected " + std::to_string(n) +
                             " x " + std::to_string(n));
    std::vector<double> work = h, u;
    LUMEN_TRY(factor_inverse_in_place(work, n, pool, u));
    return u;
}

// ---------------------------------------------------------------- quantizers

Result<GroupQuantized> rtn_quantize(const float* w, int64_t rows, int64_t cols, const QuantGrid& grid) {
    LUMEN_TRY(validate_grid(grid));
    LUMEN_TRY(check_matrix(w, rows, cols, "RTN weights"));
    GroupQuantized out = make_quantized(rows, cols, grid);
    const int64_t gs = effective_group(grid, cols);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t g = 0; g < out.groups_per_row; ++g) {
            const float* v = w + r * cols + g * gs;
            const int64_t len = std::min(gs, cols - g * gs);
            const GroupParams p = params_of(v, len, grid);
            out.scales[size_t(r * out.groups_per_row + g)] = p.d;
            out.offsets[size_t(r * out.groups_per_row + g)] = p.m;
            for (int64_t c = 0; c < len; ++c)
                out.codes[size_t(r * cols + g * gs + c)] = uint8_t(quantize_value(v[c], p, grid));
        }
    return out;
}

Result<GroupQuantized> gptq_quantize(const float* w, int64_t rows, int64_t cols, const std::vector<double>& hessian,
                                     const GptqOptions& options, ThreadPool* pool) {
    const QuantGrid& grid = options.grid;
    LUMEN_TRY(validate_grid(grid));
    LUMEN_TRY(check_matrix(w, rows, cols, "GPTQ weights"));
    if (hessian.size() != size_t(cols * cols))
        return Status::error("GPTQ: Hessian has " + std::to_string(hessian.size()) +
                             " values, expected cols x cols = " + std::to_string(cols) + " x " + std::to_string(cols));
    if (!(options.damp_percent >= 0) || !std::isfinite(options.damp_percent) || options.block_size < 1)
        return Status::error("GPTQ: damp_percent must be finite and >= 0, block_size >= 1");
    for (double v : hessian)
        if (!std::isfinite(v)) return Status::error("GPTQ: Hessian contains NaN or Inf");

    // Dead columns (never activated) carry no information: quantize them as zero,
    // with a unit diagonal so the factorization stays defined (reference behaviour).
    std::vector<double> h = hessian;
    std::vector<uint8_t> dead(size_t(cols), 0);
    double diag_sum = 0;
    int64_t n_dead = 0;
    for (int64_t i = 0; i < cols; ++i) {
        double& d = h[size_t(i * cols + i)];
        if (d < 0) return Status::error("GPTQ: Hessian diagonal is negative at column " + std::to_string(i));
        if (d == 0) {
            d = 1;
            dead[size_t(i)] = 1;
            ++n_dead;
        }
        diag_sum += d;
    }
    if (n_dead == cols) return Status::error("GPTQ: Hessian is zero (no calibration samples?)");

    std::vector<int64_t> perm(static_cast<size_t>(cols));
    std::iota(perm.begin(), perm.end(), 0);
    if (options.act_order) {
        std::stable_sort(perm.begin(), perm.end(),
                         [&](int64_t a, int64_t b) { return h[size_t(a * cols + a)] > h[size_t(b * cols + b)]; });
        std::vector<double> hp(h.size());
        for (int64_t a = 0; a < cols; ++a)
            for (int64_t b = 0; b < cols; ++b) hp[size_t(a * cols + b)] = h[size_t(perm[a] * cols + perm[b])];
        h.swap(hp);
    }
    const double damp = options.damp_percent * diag_sum / double(cols);
    for (int64_t i = 0; i < cols; ++i) h[size_t(i * cols + i)] += damp;
    std::vector<double> hinv;
    char context[64];
    std::snprintf(context, sizeof context, "GPTQ (damping %.3g)", damp);
    LUMEN_TRY(factor_inverse_in_place(h, cols, pool, hinv).with_context(context));
    std::vector<double>().swap(h);

    GroupQuantized out = make_quantized(rows, cols, grid);
    const int64_t gs = effective_group(grid, cols), gpr = out.groups_per_row;
    // Without act_order a block holds whole groups, so a group's current weights
    // are all in the block buffer when its first column is reached.
    int64_t block = std::min<int64_t>(options.block_size, cols);
    if (!options.act_order && gs < cols) block = (block + gs - 1) / gs * gs;

    // Rows are independent given hinv. A tile of rows shares each hinv row that is read.
    constexpr int64_t kTileRows = 16, kColChunk = 256;
    run_parallel(pool, (rows + kTileRows - 1) / kTileRows, [&](int64_t tb, int64_t te, int) {
        std::vector<double> wt(size_t(kTileRows * cols)), err(size_t(kTileRows * block));
        std::vector<GroupParams> params(size_t(kTileRows * gpr));
        std::vector<double> original(static_cast<size_t>(cols));
        for (int64_t tile = tb; tile < te; ++tile) {
            const int64_t r0 = tile * kTileRows, nr = std::min(kTileRows, rows - r0);
            for (int64_t r = 0; r < nr; ++r) {
                const float* src = w + (r0 + r) * cols;
                for (int64_t c = 0; c < cols; ++c) original[size_t(c)] = dead[size_t(c)] ? 0.0 : double(src[c]);
                for (int64_t i = 0; i < cols; ++i) wt[size_t(r * cols + i)] = original[size_t(perm[i])];
                if (options.act_order)  // static groups, from the weights before any compensation
                    for (int64_t g = 0; g < gpr; ++g)
                        params[size_t(r * gpr + g)] =
                            params_of(&original[size_t(g * gs)], std::min(gs, cols - g * gs), grid);
            }
            for (int64_t i1 = 0; i1 < cols; i1 += block) {
                const int64_t i2 = std::min(i1 + block, cols);
                for (int64_t i = i1; i < i2; ++i) {
                    const int64_t oc = perm[size_t(i)], g = oc / gs;
                    const double* hi = &hinv[size_t(i * cols)];
                    for (int64_t r = 0; r < nr; ++r) {
                        double* wr = &wt[size_t(r * cols)];
                        if (!options.act_order && oc % gs == 0)
                            params[size_t(r * gpr + g)] = params_of(wr + i, std::min(gs, cols - i), grid);
                        const GroupParams p = params[size_t(r * gpr + g)];
                        const int q = quantize_value(wr[i], p, grid);
                        out.codes[size_t((r0 + r) * cols + oc)] = uint8_t(q);
                        const double e = (wr[i] - double(dequant(p, q))) / hi[i];
                        err[size_t(r * block + (i - i1))] = e;
                        for (int64_t j = i + 1; j < i2; ++j) wr[j] -= e * hi[j];
                    }
                }
                // Lazy batch update: the block's errors reach all later columns in one pass,
                // a chunk of columns at a time so the hinv chunk stays in cache across rows.
                for (int64_t j0 = i2; j0 < cols; j0 += kColChunk) {
                    const int64_t j1 = std::min(j0 + kColChunk, cols);
                    for (int64_t r = 0; r < nr; ++r) {
                        double* wr = &wt[size_t(r * cols)];
                        for (int64_t k = i1; k < i2; ++k) {
                            const double e = err[size_t(r * block + (k - i1))];
                            if (e == 0) continue;
                            const double* hk = &hinv[size_t(k * cols)];
                            for (int64_t j = j0; j < j1; ++j) wr[j] -= e * hk[j];
                        }
                    }
                }
            }
            for (int64_t r = 0; r < nr; ++r)
                for (int64_t g = 0; g < gpr; ++g) {
                    out.scales[size_t((r0 + r) * gpr + g)] = params[size_t(r * gpr + g)].d;
                    out.offsets[size_t((r0 + r) * gpr + g)] = params[size_t(r * gpr + g)].m;
                }
        }
    });
    return out;
}

// ---------------------------------------------------------------- error

double reconstruction_error(const float* x, int64_t n, int64_t cols, const float* w, const float* wq, int64_t rows,
                            ThreadPool* pool) {
    if (n <= 0 || cols <= 0 || rows <= 0 || !x || !w || !wq) return std::numeric_limits<double>::quiet_NaN();
    std::vector<double> diff(size_t(rows * cols));
    for (int64_t i = 0; i < rows * cols; ++i) diff[size_t(i)] = double(w[i]) - double(wq[i]);
    std::vector<double> partial(size_t(pool ? pool->size() : 1), 0.0);
    run_parallel(pool, n, [&](int64_t b, int64_t e, int thread) {
        std::vector<double> xs(static_cast<size_t>(cols));
        double sum = 0;
        for (int64_t s = b; s < e; ++s) {
            for (int64_t c = 0; c < cols; ++c) xs[size_t(c)] = x[s * cols + c];
            for (int64_t r = 0; r < rows; ++r) {
                const double y = dot(xs.data(), &diff[size_t(r * cols)], cols);
                sum += y * y;
            }
        }
        partial[size_t(thread)] += sum;
    });
    return std::accumulate(partial.begin(), partial.end(), 0.0);
}

}  // namespace lumen
