/* cogmem — public SIMD kernels.
 *
 * The store runs its similarity scans, binding decay and fan-effect
 * arithmetic through these functions; they are public so that a host can
 * run the same kernels on its own data.
 *
 * Conventions for every function below:
 *  - Dispatch: each call goes through a table chosen once, at the first
 *    call into this header (or cogmem_simd_isa()/cogmem_simd_force()):
 *    the best of scalar -> AVX2+FMA -> AVX-512 that both the CPU (CPUID and
 *    the OS-enabled register state, XGETBV) and the compiler that built the
 *    library support. The environment variable COGMEM_ISA=scalar|avx2|avx512,
 *    read once at that first call, lowers the choice (never raises it; an
 *    unknown value is ignored). cogmem_simd_force() changes it later.
 *  - Threads: every kernel is thread-safe and lock-free; it reads its inputs
 *    and writes its outputs during the call only and keeps no pointer.
 *    Concurrent calls that write the same output memory are the caller's
 *    race, as for memcpy.
 *  - Alignment: no alignment is required. Rows whose start is 64-byte aligned
 *    (e.g. a 64-byte aligned base and a stride whose byte size is a multiple
 *    of 64) are read fastest.
 *  - Overlap: outputs must not overlap inputs unless a function says so.
 *  - Sizes: n == 0 (or dim == 0, nbytes == 0) is valid and writes only what
 *    the function says. Pointers may be NULL only when the count they cover
 *    is 0 or the comment says so.
 *  - Indices written as uint32_t: inputs longer than 2^32 elements are
 *    looked at only up to element 2^32 - 1.
 *  - Results: the scalar kernel is the reference. Every other ISA agrees
 *    with it within the tolerance stated per function (checked by the
 *    kernels checker in tests/kernels). "eps" is FLT_EPSILON = 2^-23.
 *  - Floating point: the kernels do not change MXCSR; denormal inputs are
 *    handled as IEEE numbers (slowly on some CPUs), except where the bf16
 *    kernel says otherwise. A NaN in an input row yields NaN in that row's
 *    result.
 */
#ifndef COGMEM_SIMD_H
#define COGMEM_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "cogmem_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- dispatch */

/* The name of the ISA whose kernels run now: "scalar", "avx2" or "avx512".
 * Static string. Thread-safe; the first call performs the one-time
 * detection described above. */
COGMEM_API const char *cogmem_simd_isa(void);

/* Run every later kernel call, from any thread, on `isa` ("scalar",
 * "avx2", "avx512"), or with isa == NULL go back to the level chosen at
 * first use (detected, lowered by COGMEM_ISA). Meant for tests and
 * benchmarks. Calls already running finish on the kernels they started on;
 * all ISAs compute the same results within the documented tolerances, so a
 * concurrent switch is safe. Returns 0, -EINVAL (unknown name) or -ENOTSUP
 * (the CPU, the OS or the build lacks it; nothing changes). Thread-safe. */
COGMEM_API int cogmem_simd_force(const char *isa);

/* ---------------------------------------------------------------- norms */

/* The sum of x[i]^2 for i < n, accumulated in double: the store's norm of
 * a vector is (float)sqrt(cogmem_sum_squares(v, dim)), computed once when
 * the vector is written (cogmem_concept_info.norm, cogmem_vec_norm), and
 * a cosine recall's query norm is computed the same way.
 *
 * Bit-identical on every ISA (not a tolerance: the scalar kernel and the
 * SIMD ones add the same terms in the same order). The order is fixed:
 * 32 running sums, sum j adding x[i]^2 for the i with i % 32 == j in
 * increasing i, then folded pairwise (sum j += sum j + 16 for j < 16,
 * then j + 8 for j < 8, ... down to one). Each square of a float is exact
 * in double, so only the additions round; the result is within
 * n * 2^-53 * (the exact sum) of the exact sum, which makes the float
 * norm correctly rounded or one ulp off.
 *
 * Finite floats never overflow it (n * FLT_MAX^2 < DBL_MAX for any n that
 * fits in memory). NaN if any x[i] is NaN, else +Inf if any is +-Inf, else
 * finite and >= 0 (+0.0 for n == 0, where x may be NULL). */
COGMEM_API double cogmem_sum_squares(const float *x, size_t n);

/* ------------------------------------------------------- batch similarity */

/* out[i] = sum_{j < dim} q[j] * rows[i * stride + j], for i < n.
 *
 * q: dim floats. rows: n rows of dim floats, row i starting at
 * rows + i * stride (stride >= dim, in floats; only dim floats of each row
 * are read). out: n floats. The kernel picks its pass by the base's size:
 * blocks of 16 rows scored together (each query load feeds 16 FMAs) for
 * small, cache-hot blocks and for DRAM-resident bases, and 4-row passes
 * for bases that live in L2/L3 (fewer concurrent streams).
 *
 * Tolerance: |out_isa - out_scalar| <= dim * eps * sum_j |q_j r_ij| (plus
 * dim * 2^-149 when products underflow). Summation order differs per ISA.
 * If a row or q holds NaN, or +Inf and -Inf products meet, out[i] is NaN;
 * an infinite product alone gives the same infinity on every ISA. Finite
 * inputs whose partial sums overflow may give Inf on one ISA and a finite
 * value on another. */
COGMEM_API void cogmem_dot_batch(const float *q, const float *rows, size_t n,
                                 size_t dim, size_t stride, float *out);

/* Cosine similarity of q with each row:
 *   out[i] = dot(q, row_i) / (q_norm * norm_i)
 * computed as one f32 division of the f32 dot by the f32 product of the
 * norms. q_norm > 0 is used as given; q_norm <= 0 (or NaN) means "compute
 * it" (sqrtf of the f32 sum of squares). row_norms: NULL, or n norms used
 * as given (e.g. the store's precomputed ones); when NULL each row's norm is
 * computed in the same pass as its dot, so the rows are read once.
 *
 * Zero vectors: if q_norm * norm_i == 0 (a zero q or a zero row, or norms
 * that underflow), out[i] = 0. Results are not clamped to [-1, 1].
 *
 * Tolerance: |out_isa - out_scalar| <= dim * eps * (sum_j |q_j r_ij| +
 * |dot|) / (q_norm * norm_i) + 4 eps |out| (the dot's and the computed
 * norms' summation orders differ per ISA). NaN as cogmem_dot_batch(). */
COGMEM_API void cogmem_cosine_batch(const float *q, const float *rows,
                                    size_t n, size_t dim, size_t stride,
                                    const float *row_norms, float q_norm,
                                    float *out);

/* ----------------------------------------------------------------- top-k */

/* The k largest of scores[0..n) with their indices, best first; equal
 * scores (including -0.0 == +0.0) are ordered by lower index. NaN scores
 * are never selected. Writes min(k, number of non-NaN scores) entries to
 * idx[] and, unless val is NULL, the matching scores to val[]; returns that
 * count. idx must hold k entries (min(k, n) suffice) and is also used as the
 * working heap; val may be NULL.
 *
 * O(n + m log k) where m is the number of scores that beat the running k-th
 * best (SIMD compares filter the rest). Results are identical on every ISA
 * (no arithmetic, only comparisons). */
COGMEM_API size_t cogmem_topk(const float *scores, size_t n, size_t k,
                              uint32_t *idx, float *val);

/* ----------------------------------------------------------------- decay */

/* x[i] *= factor for i < n, in place. Bit-identical on every ISA (one
 * IEEE multiply per element). */
COGMEM_API void cogmem_decay_f32(float *x, size_t n, float factor);

/* Time-based exponential decay, in place:
 *   x[i] *= exp(-(rate * dt[i]))
 * where rate * dt[i] is one f32 multiply. The scalar kernel uses libm
 * expf(); the SIMD kernels a polynomial exp (Cody-Waite reduction, the
 * Cephes expf polynomial, 2^n applied in two steps).
 *
 * Tolerance: |x_isa - x_scalar| <= 1e-6 * |x_scalar| + 2^-148 * |x| +
 * 2^-149: relative where results are normal; the absolute terms cover a
 * factor exp(...) below FLT_MIN (it has denormal precision on every ISA)
 * and results that round into the denormals. Exponents above 88.72
 * overflow to +Inf like expf() (within 1e-6 of FLT_MAX one ISA may give
 * FLT_MAX-ish and another Inf); +Inf * 0 (dt = Inf with
 * rate = 0) and NaN give NaN on every ISA. */
COGMEM_API void cogmem_decay_exp_f32(float *x, const float *dt, size_t n,
                                     float rate);

/* The prune pass after a decay: writes to idx[], in increasing order, every
 * i < n for which !(x[i] >= threshold) — values below the threshold and
 * NaN — and returns how many. idx must have room for n entries (the worst
 * case). Identical on every ISA. */
COGMEM_API size_t cogmem_prune_f32(const float *x, size_t n, float threshold,
                                   uint32_t *idx);

/* ------------------------------------------------------------ fan effect */

/* How the activation a concept spreads depends on its fan-out (number of
 * bindings). The values are part of the ABI. */
typedef enum cogmem_fan_mode {
    COGMEM_FAN_INV_SQRT = 0, /* a / sqrt(fan)        (the default) */
    COGMEM_FAN_LINEAR = 1,   /* a / fan */
    COGMEM_FAN_ACTR = 2,     /* a + max(0, S - ln(fan + 1))  (ACT-R 7) */
    COGMEM_FAN_NONE = 3      /* a */
} cogmem_fan_mode;

/* For i < n:
 *   COGMEM_FAN_INV_SQRT: out[i] = a[i] / sqrt(max(fan[i], 1))
 *   COGMEM_FAN_LINEAR:   out[i] = a[i] / max(fan[i], 1)
 *   COGMEM_FAN_ACTR:     out[i] = a[i] + max(0, S - ln((float)fan[i] + 1))
 *   COGMEM_FAN_NONE:     out[i] = a[i]
 * Fan 0 (a node without bindings) divides by 1 in the two division modes;
 * in ACT-R mode fan[i] is the fan-out and the +1 counts the source itself
 * (fan_j = fan-out + 1 in ACT-R 7), so fan 0 gives S. ACT-R mode ADDS the
 * associative strength S_ji = max(0, S - ln fan_j) to a[i] (a is typically
 * a base-level activation); a caller who wants W_j * S_ji passes a = 0 and
 * scales. fan is converted to float with rounding to nearest before the +1
 * (exact below 2^24; fan = 2^32 - 1 gives ln(2^32)).
 *
 * out may equal a (in place); otherwise they must not overlap.
 *
 * Tolerance: LINEAR and NONE are bit-identical on every ISA (IEEE
 * division). INV_SQRT: <= 1e-6 relative (SIMD uses rsqrt + one Newton
 * step). ACTR: <= 1e-6 * (|a| + |S| + ln(fan + 1)) absolute (vector log).
 * NaN in a or S propagates. Returns 0, or -EINVAL for an unknown mode
 * (nothing is written). */
COGMEM_API int cogmem_fan_divide(const float *a, const uint32_t *fan, size_t n,
                                 cogmem_fan_mode mode, float actr_s,
                                 float *out);

/* ---------------------------------------------------- binary hypervectors */

/* Hypervectors are bit strings of nbytes bytes; bit b of the vector is bit
 * (b % 8) of byte b / 8 (little-endian). The common size is 2048 bits
 * (nbytes = 256); any nbytes works, multiples of 64 (512 bits) are the fast
 * path. All hypervector kernels are bit-exact on every ISA. */

/* Binding: out = a XOR b (its own inverse). out may equal a or b. */
COGMEM_API void cogmem_hv_bind(const uint8_t *a, const uint8_t *b,
                               size_t nbytes, uint8_t *out);

/* out[i] = number of differing bits between q and row i, where row i is
 * rows + i * nbytes (rows packed back to back), for i < n. Uses AVX-512
 * VPOPCNTDQ where the CPU has it, a nibble lookup (vpshufb) otherwise. */
COGMEM_API void cogmem_hv_hamming_batch(const uint8_t *q, const uint8_t *rows,
                                        size_t n, size_t nbytes,
                                        uint32_t *out);

/* Bundling: bitwise majority of n packed vectors (row i at
 * rows + i * nbytes). Bit b of out is 1 when more than n/2 rows have it set,
 * 0 when fewer than n/2 do, and on a tie (n even, exactly n/2) the bit of
 * row 0 — as if row 0 were counted one and a half times. n == 0 gives all
 * zeros, n == 1 a copy. Any n (bit-sliced counters, no overflow). out must
 * not overlap rows. */
COGMEM_API void cogmem_hv_bundle(const uint8_t *rows, size_t n, size_t nbytes,
                                 uint8_t *out);

/* Permutation by rotation: bit b of `in` moves to bit (b + shift) mod
 * (8 * nbytes) of out. A negative shift rotates the other way, so
 * permute(permute(v, s), -s) == v. out must not overlap in. */
COGMEM_API void cogmem_hv_permute(const uint8_t *in, size_t nbytes,
                                  int64_t shift, uint8_t *out);

/* ------------------------------------------------------------------ bf16 */

/* Quantised scans: rows stored as bfloat16 (the top 16 bits of an f32)
 * halve the bytes a DRAM-bound scan reads; the best candidates are then
 * re-ranked in f32 with cogmem_rerank_f32(). */

/* out[i] = bf16 rounding (to nearest, ties to even) of in[i]. NaN stays NaN
 * (quiet); values above the bf16 range round to Inf; denormals are kept.
 * Deterministic and identical everywhere (integer rounding, not
 * dispatched). out must not overlap in. */
COGMEM_API void cogmem_f32_to_bf16(const float *in, size_t n, uint16_t *out);

/* out[i] = sum_{j < dim} q[j] * rows[i * stride + j] with bf16 q and rows
 * (stride in bf16 elements) and f32 accumulation. Every bf16 product is
 * exact in f32, so the error is the summation's. Uses AVX512_BF16
 * (vdpbf16ps) where present.
 *
 * Tolerance against the scalar kernel: dim * eps * sum_j |q_j r_ij|, plus,
 * because vdpbf16ps treats denormal inputs and results as zero regardless
 * of MXCSR, the sum of |q_j r_ij| over terms with a denormal factor plus
 * dim * FLT_MIN. NaN propagates as in cogmem_dot_batch(). */
COGMEM_API void cogmem_dot_batch_bf16(const uint16_t *q, const uint16_t *rows,
                                      size_t n, size_t dim, size_t stride,
                                      float *out);

/* Exact re-rank of candidates: the k best rows among rows
 * cand[0..ncand) by f32 dot with q (row r at rows + r * stride), best
 * first, equal scores by lower row index, NaN scores dropped. Writes the row
 * indices to idx[] and the scores to val[] (both must hold k entries, both
 * required) and returns the count, min(k, non-NaN candidates). Duplicate
 * candidates appear as many times as given. Dot tolerance as
 * cogmem_dot_batch(); the ordering is exact for the computed scores. */
COGMEM_API size_t cogmem_rerank_f32(const float *q, const float *rows,
                                    size_t dim, size_t stride,
                                    const uint32_t *cand, size_t ncand,
                                    size_t k, uint32_t *idx, float *val);

/* ----------------------------------------------------- multi-query block */

/* Many queries against many rows at once (a small matrix product with
 * both operands stored along dim):
 *   out[a * ostride + i] = sum_{j < dim} q[a * qstride + j] * rows[i * stride + j]
 * for a < nq, i < n.
 *
 * q: nq queries of dim floats, query a at q + a * qstride (qstride >= dim).
 * rows: n rows of dim floats, row i at rows + i * stride (stride >= dim).
 * Only dim floats of each query and row are read. out: query a's n scores
 * at out + a * ostride; with nq > 1, ostride >= n keeps them apart (the
 * caller's choice: e.g. ostride = n for an nq x n matrix, or a wider
 * pitch). Strides are in floats. The same array may serve as q and rows
 * (e.g. pairwise similarities of one set: q == rows, nq == n).
 *
 * Why not nq calls of cogmem_dot_batch: those read every row nq times
 * and each row load feeds one FMA per query pass. This kernel scores a
 * register tile of queries x rows per step (AVX-512: 4 x 6, with a 4 x 4
 * tile for 4 or 5 leftover rows; AVX2: 2 x 4), so each load feeds several
 * FMAs, and it blocks rows and queries for the caches (rows in chunks of
 * ~128 KiB, queries of ~256 KiB), so rows come from memory once per
 * 256 KiB of queries. Edges that do not fill a tile (nq or n not a
 * multiple of the tile) run through cogmem_dot_batch's kernels; every
 * pair has cogmem_dot_batch's bits on the same ISA, whichever path took
 * it. nq == 0 or n == 0 writes nothing (q, rows, out may then be
 * NULL); dim == 0 writes zeros.
 *
 * Tolerance, NaN and Inf: per (query, row) pair exactly as
 * cogmem_dot_batch() (the scalar kernel computes each pair as the scalar
 * cogmem_dot_batch does). Thread-safe, no allocation, keeps no pointer. */
COGMEM_API void cogmem_dot_block(const float *q, size_t nq, size_t qstride,
                                 const float *rows, size_t n, size_t dim,
                                 size_t stride, float *out, size_t ostride);

#ifdef __cplusplus
}
#endif

#endif /* COGMEM_SIMD_H */
