/* cogmem — scalar kernels: the reference every other ISA is checked
 * against, and the fallback on CPUs without AVX2.
 *
 * Written for obviousness, not speed: one accumulator, index order, libm
 * for exp/log/sqrt. Compiled without ISA flags.
 */
#include <math.h>
#include <string.h>

#include "simd_internal.h"

static float dot1(const float *a, const float *b, size_t dim)
{
    float s = 0.0f;
    for (size_t j = 0; j < dim; j++)
        s += a[j] * b[j];
    return s;
}

static void dot_batch(const float *q, const float *rows, size_t n, size_t dim,
                      size_t stride, float *out)
{
    if (dim == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = dot1(q, rows + i * stride, dim);
}

static void cosine_batch(const float *q, const float *rows, size_t n,
                         size_t dim, size_t stride, const float *row_norms,
                         float q_norm, float *out)
{
    if (dim == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const float *r = rows + i * stride;
        float d = dot1(q, r, dim);
        float rn = row_norms ? row_norms[i] : sqrtf(dot1(r, r, dim));
        out[i] = cogmem__cos_finish(d, rn, q_norm);
    }
}

static size_t topk(const float *s, size_t n, size_t k, uint32_t *h)
{
    size_t cnt = 0;
    size_t i = cogmem__topk_fill(s, n, k, h, &cnt);
    for (; i < n; i++)
        cogmem__idxheap_offer(s, h, cnt, (uint32_t)i);
    cogmem__topk_finish(s, h, cnt);
    return cnt;
}

static void scale(float *x, size_t n, float f)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= f;
}

static void decay_exp(float *x, const float *dt, size_t n, float rate)
{
    for (size_t i = 0; i < n; i++) {
        float t = -(rate * dt[i]);
        x[i] *= expf(t);
    }
}

static size_t prune(const float *x, size_t n, float thr, uint32_t *idx)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (!(x[i] >= thr))
            idx[c++] = (uint32_t)i;
    return c;
}

static void fan(const float *a, const uint32_t *fan, size_t n, int mode,
                float s, float *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t f1 = fan[i] ? fan[i] : 1u;
        switch (mode) {
        case COGMEM_FAN_INV_SQRT:
            out[i] = a[i] / sqrtf((float)f1);
            break;
        case COGMEM_FAN_LINEAR:
            out[i] = a[i] / (float)f1;
            break;
        case COGMEM_FAN_ACTR: {
            float sji = s - logf((float)fan[i] + 1.0f);
            if (sji < 0.0f) /* keeps NaN, unlike fmaxf */
                sji = 0.0f;
            out[i] = a[i] + sji;
            break;
        }
        default:
            out[i] = a[i];
            break;
        }
    }
}

static void hv_xor(const uint8_t *a, const uint8_t *b, size_t nbytes,
                   uint8_t *out)
{
    for (size_t i = 0; i < nbytes; i++)
        out[i] = (uint8_t)(a[i] ^ b[i]);
}

static void hv_hamming(const uint8_t *q, const uint8_t *rows, size_t n,
                       size_t nbytes, uint32_t *out)
{
    if (nbytes == 0) { /* no row is read: rows may be NULL (no offset on it) */
        memset(out, 0, n * sizeof *out);
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = cogmem__hamming_tail(q, rows + i * nbytes, 0, nbytes);
}

/* Bit-sliced counters: plane l holds bit l of the per-bit row count, so 64
 * bit positions are counted with one XOR/AND ripple per row and any n fits
 * (64 planes). The SIMD files do the same on wider words. */
static void hv_bundle(const uint8_t *rows, size_t n, size_t nbytes,
                      uint8_t *out)
{
    if (n == 0) {
        memset(out, 0, nbytes);
        return;
    }
    unsigned L = cogmem__bitlen(n);
    size_t half = n / 2;
    size_t w = 0;
    for (; w + 8 <= nbytes; w += 8) {
        uint64_t P[64] = {0};
        for (size_t r = 0; r < n; r++) {
            uint64_t carry = cogmem__load64(rows + r * nbytes + w);
            unsigned lr = cogmem__bitlen(r + 1);
            for (unsigned l = 0; l < lr; l++) {
                uint64_t t = P[l] & carry;
                P[l] ^= carry;
                carry = t;
            }
        }
        uint64_t gt = 0, eq = ~(uint64_t)0;
        for (unsigned l = L; l-- > 0;) {
            if ((half >> l) & 1u) {
                eq &= P[l];
            } else {
                gt |= eq & P[l];
                eq &= ~P[l];
            }
        }
        uint64_t res = gt;
        if ((n & 1u) == 0)
            res |= eq & cogmem__load64(rows + w);
        cogmem__store64(out + w, res);
    }
    cogmem__bundle_bytes(rows, n, nbytes, w, out);
}

static void hv_permute(const uint8_t *in, size_t nbytes, uint64_t shift,
                       uint8_t *out)
{
    if (nbytes % 8) {
        cogmem__permute_bytes(in, nbytes, shift, out);
        return;
    }
    size_t nw = nbytes / 8;
    size_t w = (size_t)(shift / 64);
    unsigned b = (unsigned)(shift % 64);
    for (size_t i = 0; i < nw; i++)
        cogmem__store64(out + 8 * i, cogmem__rot_word(in, nw, i, w, b));
}

static void dot_bf16(const uint16_t *q, const uint16_t *rows, size_t n,
                     size_t dim, size_t stride, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint16_t *r = rows + i * stride;
        float s = 0.0f;
        for (size_t j = 0; j < dim; j++)
            s += cogmem__bf16_to_f32(q[j]) * cogmem__bf16_to_f32(r[j]);
        out[i] = s;
    }
}

/* The oracle: every (query, row) pair with dot1, as dot_batch does. */
static void dot_block(const float *q, size_t nq, size_t qs, const float *rows,
                      size_t n, size_t dim, size_t rs, float *out, size_t os)
{
    for (size_t a = 0; a < nq; a++)
        for (size_t i = 0; i < n; i++)
            out[a * os + i] = dot1(q + a * qs, rows + i * rs, dim);
}

/* The oracle of cogmem__ge_mask: one score at a time. */
static void ge_mask(const float *s, size_t n, float bar, const uint64_t *valid,
                    uint64_t *out)
{
    for (size_t w = 0; w < (n + 63) / 64; w++)
        out[w] = 0;
    for (size_t i = 0; i < n; i++)
        if ((valid[i / 64] >> (i % 64) & 1u) && s[i] >= bar)
            out[i / 64] |= (uint64_t)1 << (i % 64);
}

/* The oracle of cogmem__splat_u64. */
static void splat_u64(uint64_t *d, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        d[i] = v;
}

/* The oracle of cogmem_sum_squares: the fixed lane order of
 * simd_internal.h, round by round (element j of a round to lane j: the
 * order of i % 32), then the fold. Two shortcuts give the same bits, since
 * a lane only ever holds a sum of squares (>= +0, never -0), to which
 * adding +0 changes nothing: the first round sets its lanes instead of
 * adding to zeros, and a fold level whose upper half holds only lanes no
 * element reached (n < 32) is skipped. Full rounds have a fixed count, so
 * the compiler can keep and vectorise them lane-wise (which keeps each
 * lane's order). At dim 16 the plain form spent most of its time on the
 * untouched lanes: 21-24 ns against 11.7 now (cogmem-checkasm --bench
 * --only norm, COGMEM_ISA=scalar), still 0.55x the serial double loop. */
static double sum_squares(const float *x, size_t n)
{
    enum { L = COGMEM__SUMSQ_LANES };
    double l[L];
    const size_t a = n < L ? n : L; /* lanes the first round reaches */
    for (size_t j = 0; j < a; j++)
        l[j] = (double)x[j] * (double)x[j];
    for (size_t j = a; j < L; j++)
        l[j] = 0.0;
    size_t i = L;
    for (; i + L <= n; i += L)
        for (size_t j = 0; j < L; j++)
            l[j] += (double)x[i + j] * (double)x[i + j];
    for (size_t j = 0; i + j < n; j++) /* the last, partial round */
        l[j] += (double)x[i + j] * (double)x[i + j];
    size_t w = L / 2;
    while (w >= a && w > 1) /* levels that would add only zeros */
        w /= 2;
    for (; w >= 1; w /= 2)
        for (size_t j = 0; j < w; j++)
            l[j] += l[j + w];
    return l[0];
}

void cogmem__simd_fill_scalar(cogmem__simd_ops *ops)
{
    ops->name = "scalar";
    ops->dot_batch = dot_batch;
    ops->cosine_batch = cosine_batch;
    ops->topk = topk;
    ops->scale = scale;
    ops->decay_exp = decay_exp;
    ops->prune = prune;
    ops->fan = fan;
    ops->hv_xor = hv_xor;
    ops->hv_hamming = hv_hamming;
    ops->hv_bundle = hv_bundle;
    ops->hv_permute = hv_permute;
    ops->dot_bf16 = dot_bf16;
    ops->dot_block = dot_block;
    ops->ge_mask = ge_mask;
    ops->splat_u64 = splat_u64;
    ops->sum_squares = sum_squares;
}
