/* cogmem — SIMD kernels, internal interface between the per-ISA files and
 * the dispatcher.
 *
 * Each ISA file (scalar.c, avx2.c, avx512*.c) is compiled with its own -m
 * flags and exports only cogmem__* functions; dispatch.c (built without ISA
 * flags, so nothing in it can fault on an older CPU) fills one table per
 * ISA and points the public wrappers at one of them.
 *
 * The static inline helpers below are compiled into every ISA file with
 * that file's flags; they hold the logic that must be identical on every
 * ISA (top-k heap order, tails of hypervector kernels) so that "identical"
 * results are identical by construction.
 */
#ifndef COGMEM_SIMD_INTERNAL_H
#define COGMEM_SIMD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cogmem_simd.h"

enum cogmem__isa {
    COGMEM__ISA_SCALAR = 0,
    COGMEM__ISA_AVX2 = 1,
    COGMEM__ISA_AVX512 = 2,
    COGMEM__ISA_COUNT = 3
};

/* The kernel table of one ISA. Arguments are already validated by the
 * public wrappers: counts may be 0, `mode` is a valid cogmem_fan_mode,
 * q_norm in cosine is resolved (> 0, 0 or NaN — never "compute me"),
 * `shift` in permute is in [0, 8 * nbytes). */
typedef struct cogmem__simd_ops {
    const char *name;
    void (*dot_batch)(const float *q, const float *rows, size_t n, size_t dim,
                      size_t stride, float *out);
    void (*cosine_batch)(const float *q, const float *rows, size_t n,
                         size_t dim, size_t stride, const float *row_norms,
                         float q_norm, float *out);
    /* Fills idx[0..ret) best first; n <= 2^32 here. */
    size_t (*topk)(const float *scores, size_t n, size_t k, uint32_t *idx);
    void (*scale)(float *x, size_t n, float factor);
    void (*decay_exp)(float *x, const float *dt, size_t n, float rate);
    size_t (*prune)(const float *x, size_t n, float threshold, uint32_t *idx);
    void (*fan)(const float *a, const uint32_t *fan, size_t n, int mode,
                float s, float *out);
    void (*hv_xor)(const uint8_t *a, const uint8_t *b, size_t nbytes,
                   uint8_t *out);
    void (*hv_hamming)(const uint8_t *q, const uint8_t *rows, size_t n,
                       size_t nbytes, uint32_t *out);
    void (*hv_bundle)(const uint8_t *rows, size_t n, size_t nbytes,
                      uint8_t *out);
    void (*hv_permute)(const uint8_t *in, size_t nbytes, uint64_t shift,
                       uint8_t *out);
    void (*dot_bf16)(const uint16_t *q, const uint16_t *rows, size_t n,
                     size_t dim, size_t stride, float *out);
    /* cogmem_dot_block; nq, n > 0. */
    void (*dot_block)(const float *q, size_t nq, size_t qstride,
                      const float *rows, size_t n, size_t dim, size_t stride,
                      float *out, size_t ostride);
    /* cogmem__ge_mask (ge_mask.h). */
    void (*ge_mask)(const float *s, size_t n, float bar, const uint64_t *valid,
                    uint64_t *out);
    /* cogmem__splat_u64 (splat.h). */
    void (*splat_u64)(uint64_t *d, size_t n, uint64_t v);
    /* cogmem_sum_squares; n > 0. */
    double (*sum_squares)(const float *x, size_t n);
} cogmem__simd_ops;

/* cogmem_sum_squares' order, fixed so that every ISA returns the same bits:
 * COGMEM__SUMSQ_LANES running sums, lane j adding x[i]^2 (in double) for
 * every i with i % COGMEM__SUMSQ_LANES == j in increasing i, then folded
 * pairwise: lane j += lane j + 16 for j < 16, then j + 8, 4, 2, 1 (the
 * scalar oracle, scalar.c, spells it out). 32 lanes: four 8-double
 * accumulators (AVX-512) or eight 4-double ones (AVX2) keep at least four
 * FMA chains in flight, which a 4-cycle FMA latency needs.
 * A float's square is exact in double (24-bit significands give at most
 * 48 bits, and no float squares under double's normal range or over its
 * top), so a fused multiply-add and a multiply then add round alike: each
 * step is one rounding of the lane's sum, on every ISA. */
#define COGMEM__SUMSQ_LANES 32

/* The last step of a cosine, identical on every ISA: dot / (qn * rn), or 0
 * where the product of the norms is 0 (a zero vector, or norms whose f32
 * product underflows) or NaN while the dot is not (0 * inf: a zero query
 * against a row whose f32 sum of squares overflowed). The public wrapper
 * cogmem_cosine_batch() recomputes such rows in double (dispatch.c). */
static inline float cogmem__cos_finish(float d, float rn, float qn)
{
    float den = qn * rn;
    return (den == 0.0f || (den != den && d == d)) ? 0.0f : d / den;
}

/* Per-ISA fillers: each sets every member its file implements and leaves
 * the others as they were (the dispatcher starts every table as a copy of
 * the scalar one, so an ISA may omit a kernel it cannot speed up). */
void cogmem__simd_fill_scalar(cogmem__simd_ops *ops);
void cogmem__simd_fill_avx2(cogmem__simd_ops *ops);
void cogmem__simd_fill_avx512(cogmem__simd_ops *ops);
/* Sub-features of the AVX-512 level, in files of their own so that their
 * -m flags cannot leak into code that runs on CPUs without them. */
void cogmem__simd_fill_avx512_vpopcntdq(cogmem__simd_ops *ops);
void cogmem__simd_fill_avx512_bf16(cogmem__simd_ops *ops);

/* For the checker and the benchmark (internal, hidden): the table of one
 * ISA level if it is usable here (compiled and detected), else NULL; and
 * the CPU/OS/compiler facts behind it. */
const cogmem__simd_ops *cogmem__simd_table(int isa);
int cogmem__simd_best(void);
int cogmem__simd_has_vpopcntdq(void);
int cogmem__simd_has_bf16(void);
/* The AVX-512 hamming kernel without VPOPCNTDQ (nibble lookup), so the
 * checker can test it on a CPU that would never select it; NULL if not
 * compiled. */
typedef void (*cogmem__hamming_fn)(const uint8_t *, const uint8_t *, size_t,
                                   size_t, uint32_t *);
cogmem__hamming_fn cogmem__simd_avx512_hamming_lut(void);
/* The dot paths of the AVX-512 level, exposed for the benchmark's path
 * comparison: 0 = 16-row register block, 1 = the same with software
 * prefetch of the next block, 2 = 4-row passes. */
typedef void (*cogmem__dot_fn)(const float *, const float *, size_t, size_t,
                               size_t, float *);
cogmem__dot_fn cogmem__simd_avx512_dot_path(int path);

/* Bases larger than this many bytes are scanned with software prefetch
 * (AVX2 path): about the size at which rows stop being L2/L3 hits on
 * current x86 parts. */
#define COGMEM__PREFETCH_BYTES ((size_t)8 << 20)

/* AVX-512 batch dot path selection by base size (see avx512.c): up to
 * L1-ish sizes the 16-row register block (compute-bound), then a 4-row
 * pass while the base is L2/L3-resident (fewer concurrent streams keep the
 * cache-to-core path full), then the 16-row block again for DRAM, where
 * the hardware prefetchers sustain 16 sequential streams. Measured on Zen
 * 5 (bench path comparison): 4-row reaches ~0.9 of the L2/L3 streaming
 * rate against ~0.8 for 16-row, but only ~0.55 of DRAM bandwidth against
 * ~0.95-1.0. The upper bound is a per-CCX L3 share rather than the
 * OS-reported L3 size, which virtual machines report as the whole socket's. */
#define COGMEM__L1_BLOCK_BYTES ((size_t)64 << 10)
#define COGMEM__L3_STREAM_BYTES ((size_t)16 << 20)

/* ---------------------------------------------------------- top-k heap
 *
 * A min-heap of indices ordered by "worse": lower score, or equal score and
 * higher index. The root is the worst kept entry, so a candidate enters iff
 * it is better than the root. The scan visits indices in increasing order,
 * so a candidate equal to the root (higher index) never enters: the filter
 * can use a strict "score > root score" compare. */

static inline int cogmem__topk_worse(const float *s, uint32_t a, uint32_t b)
{
    return s[a] < s[b] || (s[a] == s[b] && a > b);
}

static inline void cogmem__topk_sift_down(const float *s, uint32_t *h,
                                          size_t cnt, size_t at)
{
    uint32_t v = h[at];
    for (;;) {
        size_t c = 2 * at + 1;
        if (c >= cnt)
            break;
        if (c + 1 < cnt && cogmem__topk_worse(s, h[c + 1], h[c]))
            c++;
        if (!cogmem__topk_worse(s, h[c], v))
            break;
        h[at] = h[c];
        at = c;
    }
    h[at] = v;
}

/* Add index i while the heap has fewer than k entries. */
static inline void cogmem__topk_push(const float *s, uint32_t *h, size_t *cnt,
                                     uint32_t i)
{
    size_t at = (*cnt)++;
    while (at > 0) {
        size_t p = (at - 1) / 2;
        if (!cogmem__topk_worse(s, i, h[p]))
            break;
        h[at] = h[p];
        at = p;
    }
    h[at] = i;
}

/* Offer index i to a full heap (callers pre-filter with s[i] > s[h[0]]). */
static inline void cogmem__idxheap_offer(const float *s, uint32_t *h, size_t cnt,
                                         uint32_t i)
{
    if (s[i] > s[h[0]]) {
        h[0] = i;
        cogmem__topk_sift_down(s, h, cnt, 0);
    }
}

/* Phase 1, shared by every ISA: fill the heap with the first k non-NaN
 * scores. Returns the position where the filtered scan continues. */
static inline size_t cogmem__topk_fill(const float *s, size_t n, size_t k,
                                       uint32_t *h, size_t *cnt)
{
    size_t i = 0;
    for (; i < n && *cnt < k; i++)
        if (s[i] == s[i]) /* not NaN */
            cogmem__topk_push(s, h, cnt, (uint32_t)i);
    return i;
}

/* Heap sort in place: repeatedly moving the worst to the end leaves the
 * array best first. */
static inline void cogmem__topk_finish(const float *s, uint32_t *h, size_t cnt)
{
    for (size_t end = cnt; end > 1; end--) {
        uint32_t t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        cogmem__topk_sift_down(s, h, end - 1, 0);
    }
}

/* ------------------------------------------------- hypervector helpers */

static inline uint64_t cogmem__load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v); /* little-endian target: byte 0 = bits 0..7 */
    return v;
}

static inline void cogmem__store64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

/* Portable popcount for the scalar oracle and byte tails, so that the
 * scalar file needs no -mpopcnt. */
static inline unsigned cogmem__popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* Hamming distance of bytes [from, nbytes) of q and row. */
static inline uint32_t cogmem__hamming_tail(const uint8_t *q,
                                            const uint8_t *row, size_t from,
                                            size_t nbytes)
{
    uint32_t d = 0;
    for (; from + 8 <= nbytes; from += 8)
        d += cogmem__popcount64(cogmem__load64(q + from) ^
                                cogmem__load64(row + from));
    for (; from < nbytes; from++)
        d += cogmem__popcount64((uint64_t)(q[from] ^ row[from]));
    return d;
}

static inline unsigned cogmem__bitlen(size_t n)
{
    unsigned l = 0;
    while (n) {
        l++;
        n >>= 1;
    }
    return l;
}

/* Bundle bytes [from, nbytes) byte by byte with plain counters (tails and
 * the scalar oracle's odd sizes). Majority rule as in cogmem_hv_bundle. */
static inline void cogmem__bundle_bytes(const uint8_t *rows, size_t n,
                                        size_t nbytes, size_t from,
                                        uint8_t *out)
{
    for (size_t b = from; b < nbytes; b++) {
        size_t cnt[8] = {0};
        for (size_t r = 0; r < n; r++) {
            unsigned v = rows[r * nbytes + b];
            for (unsigned t = 0; t < 8; t++)
                cnt[t] += (v >> t) & 1u;
        }
        unsigned o = 0;
        for (unsigned t = 0; t < 8; t++) {
            unsigned bit;
            if (2 * cnt[t] > n)
                bit = 1;
            else if (2 * cnt[t] < n)
                bit = 0;
            else
                bit = (rows[b] >> t) & 1u;
            o |= bit << t;
        }
        out[b] = (uint8_t)o;
    }
}

/* Rotation of a whole vector whose size is not a multiple of 8 bytes, byte
 * by byte: out byte i takes its high bits from in byte i - w and its low
 * bits from in byte i - w - 1 (indices mod nbytes). */
static inline void cogmem__permute_bytes(const uint8_t *in, size_t nbytes,
                                         uint64_t shift, uint8_t *out)
{
    size_t w = (size_t)(shift / 8) % nbytes;
    unsigned b = (unsigned)(shift % 8);
    for (size_t i = 0; i < nbytes; i++) {
        size_t a = (i + nbytes - w) % nbytes;
        size_t p = (a + nbytes - 1) % nbytes;
        unsigned v = (unsigned)in[a] << b;
        if (b)
            v |= (unsigned)in[p] >> (8 - b);
        out[i] = (uint8_t)v;
    }
}

/* One 64-bit output word of a word-wise rotation by 64 * w + b bits. */
static inline uint64_t cogmem__rot_word(const uint8_t *in, size_t nwords,
                                        size_t i, size_t w, unsigned b)
{
    size_t a = (i + nwords - w) % nwords;
    size_t p = (a + nwords - 1) % nwords;
    uint64_t v = cogmem__load64(in + 8 * a) << b;
    if (b)
        v |= cogmem__load64(in + 8 * p) >> (64 - b);
    return v;
}

/* bf16 -> f32 is exact: the bf16 bits are the f32's top half. */
static inline float cogmem__bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ------------------------------------------------ multi-query dot block
 *
 * The loop nest of cogmem_dot_block shared by the SIMD levels; each passes
 * its register tile (MQ queries x NR rows, `tile`), optionally a
 * prefetching twin of it and a narrower edge tile, and its dot_batch for
 * the ragged edges. Inlined with the constant arguments, so every level
 * gets its own copy.
 *
 * Cache blocking: rows in chunks of about 128 KiB and queries in chunks of
 * about 256 KiB, both meant to stay in L2 while one is scored against the
 * other; inside, the NR rows of a tile (a few KiB) stay in L1 while every
 * query group of the chunk streams past them. A row chunk is read from
 * memory once per query chunk, so a batch of up to 256 KiB of queries (64
 * queries of 1024 floats) reads the rows once. */
typedef void (*cogmem__dot_tile_fn)(const float *q, size_t qstride,
                                    const float *rows, size_t stride,
                                    size_t dim, float *out, size_t ostride);

/* A tile that also prefetches the next tile's rows (`next`, NR rows at the
 * same stride) while it works. */
typedef void (*cogmem__dot_tile_pf_fn)(const float *q, size_t qstride,
                                       const float *rows, size_t stride,
                                       size_t dim, float *out, size_t ostride,
                                       const float *next);

#define COGMEM__BLOCK_ROW_BYTES ((size_t)128 << 10)
#define COGMEM__BLOCK_Q_BYTES ((size_t)256 << 10)

static inline size_t cogmem__block_chunk(size_t bytes, size_t stride,
                                         size_t unit)
{
    size_t s = stride ? stride * sizeof(float) : sizeof(float);
    size_t c = bytes / s;
    c -= c % unit;
    return c ? c : unit;
}

/* tile: MQ queries x NR rows. tile_pf (or NULL): the same tile, also
 * prefetching the next NR rows; it runs a row tile's first query group
 * when those rows exist (the later groups find the rows in L1). edge (or
 * NULL): MQ queries x NE rows (NE < NR), once per chunk for NE to NR - 1
 * leftover rows. A row chunk is a multiple of NR rows, so only the
 * array's last chunk has leftovers; the rows no tile takes, and the last
 * nq % MQ queries, go through dot_batch. */
static inline __attribute__((always_inline)) void cogmem__dot_block_drive(
    const float *q, size_t nq, size_t qstride, const float *rows, size_t n,
    size_t dim, size_t stride, float *out, size_t ostride, const size_t MQ,
    const size_t NR, cogmem__dot_tile_fn tile, cogmem__dot_tile_pf_fn tile_pf,
    const size_t NE, cogmem__dot_tile_fn edge, cogmem__dot_fn dot_batch)
{
    const size_t rc = cogmem__block_chunk(COGMEM__BLOCK_ROW_BYTES, stride, NR);
    const size_t qc = cogmem__block_chunk(COGMEM__BLOCK_Q_BYTES, qstride, MQ);
    const size_t nq_full = nq - nq % MQ;
    for (size_t r0 = 0; r0 < n; r0 += rc) {
        const size_t rn = n - r0 < rc ? n - r0 : rc;
        const size_t rn_full = rn - rn % NR;
        const size_t rn_edge = edge && rn - rn_full >= NE ? rn_full + NE : rn_full;
        const float *rb = rows + r0 * stride;
        for (size_t q0 = 0; q0 < nq_full; q0 += qc) {
            const size_t qe = q0 + qc < nq_full ? q0 + qc : nq_full;
            for (size_t i = 0; i < rn_full; i += NR) {
                const float *r = rb + i * stride;
                float *o = out + r0 + i;
                size_t a = q0;
                /* The next NR rows, in this chunk or the next, if they
                 * exist (a prefetch never faults, but stays in bounds). */
                if (tile_pf && r0 + i + 2 * NR <= n) {
                    tile_pf(q + a * qstride, qstride, r, stride, dim, o + a * ostride,
                            ostride, r + NR * stride);
                    a += MQ;
                }
                for (; a < qe; a += MQ)
                    tile(q + a * qstride, qstride, r, stride, dim, o + a * ostride, ostride);
            }
            if (rn_edge > rn_full)
                for (size_t a = q0; a < qe; a += MQ)
                    edge(q + a * qstride, qstride, rb + rn_full * stride, stride, dim,
                         out + a * ostride + r0 + rn_full, ostride);
            if (rn_edge < rn) /* the last rows of the chunk, per query */
                for (size_t a = q0; a < qe; a++)
                    dot_batch(q + a * qstride, rb + rn_edge * stride,
                              rn - rn_edge, dim, stride,
                              out + a * ostride + r0 + rn_edge);
        }
        for (size_t a = nq_full; a < nq; a++) /* the last queries */
            dot_batch(q + a * qstride, rb, rn, dim, stride,
                      out + a * ostride + r0);
    }
}

#endif /* COGMEM_SIMD_INTERNAL_H */
