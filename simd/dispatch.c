/* cogmem — CPU detection, the dispatch tables and the public kernel entry
 * points.
 *
 * This file is compiled without ISA flags: it runs before anything knows
 * what the CPU supports, so nothing here may use an instruction beyond the
 * x86-64 baseline.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define COGMEM__X86 1
#else
#define COGMEM__X86 0
#endif

#include "cosine_wide.h"
#include "ge_mask.h"
#include "splat.h"
#include "simd_internal.h"

/* Set by simd/meson.build for the per-ISA libraries the compiler could
 * build; without them the level is never offered. */
#ifndef COGMEM_SIMD_HAVE_AVX2
#define COGMEM_SIMD_HAVE_AVX2 0
#endif
#ifndef COGMEM_SIMD_HAVE_AVX512
#define COGMEM_SIMD_HAVE_AVX512 0
#endif
#ifndef COGMEM_SIMD_HAVE_AVX512_VPOPCNTDQ
#define COGMEM_SIMD_HAVE_AVX512_VPOPCNTDQ 0
#endif
#ifndef COGMEM_SIMD_HAVE_AVX512_BF16
#define COGMEM_SIMD_HAVE_AVX512_BF16 0
#endif

static const char *const isa_names[COGMEM__ISA_COUNT] = {"scalar", "avx2",
                                                         "avx512"};

/* ------------------------------------------------------------ detection */

typedef struct cpu_caps {
    int avx2;      /* AVX, AVX2, FMA, POPCNT and OS-saved YMM state */
    int avx512;    /* F, BW, DQ, VL (+ avx2) and OS-saved ZMM/opmask state */
    int vpopcntdq; /* AVX512_VPOPCNTDQ (+ avx512) */
    int bf16;      /* AVX512_BF16 (+ avx512) */
} cpu_caps;

#if COGMEM__X86
/* XCR0 tells which register state the OS saves on context switches. A CPU
 * may advertise AVX-512 in CPUID while the kernel (or a hypervisor) does
 * not enable ZMM state; executing AVX-512 then faults, so CPUID alone is
 * not enough. xgetbv is only legal once CPUID reports OSXSAVE. */
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

static cpu_caps detect(void)
{
    cpu_caps c = {0, 0, 0, 0};
#if COGMEM__X86
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d))
        return c;
    int osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1, fma = (cx >> 12) & 1;
    int popcnt = (cx >> 23) & 1;
    if (!osxsave || !avx)
        return c;
    uint64_t xcr0 = read_xcr0();
    int ymm_os = (xcr0 & 0x6) == 0x6;      /* SSE + YMM upper halves */
    int zmm_os = (xcr0 & 0xe6) == 0xe6;    /* + opmask, ZMM_Hi256, Hi16_ZMM */
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7)
        return c;
    unsigned b7, c7, d7, a7;
    __cpuid_count(7, 0, a7, b7, c7, d7);
    int avx2 = (b7 >> 5) & 1;
    int f = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, bw = (b7 >> 30) & 1,
        vl = (b7 >> 31) & 1;
    int vpop = (c7 >> 14) & 1;
    int bf16 = 0;
    if (a7 >= 1) {
        unsigned a71, b71, c71, d71;
        __cpuid_count(7, 1, a71, b71, c71, d71);
        bf16 = (a71 >> 5) & 1;
        (void)b71;
        (void)c71;
        (void)d71;
    }
    (void)d7;
    c.avx2 = avx2 && fma && popcnt && ymm_os;
    c.avx512 = c.avx2 && f && bw && dq && vl && zmm_os;
    c.vpopcntdq = c.avx512 && vpop;
    c.bf16 = c.avx512 && bf16;
#endif
    return c;
}

/* ------------------------------------------------------- dispatch state */

static cogmem__simd_ops tables[COGMEM__ISA_COUNT];
static int usable[COGMEM__ISA_COUNT];
static int best_isa;     /* highest usable level */
static int default_isa;  /* best, lowered by COGMEM_ISA */
static int have_vpop, have_bf16;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The table the public wrappers call through. Acquire/release: a thread
 * that sees the pointer also sees the table it points to, filled before the
 * pointer was first published. */
static _Atomic(const cogmem__simd_ops *) active;

static int isa_from_name(const char *s)
{
    for (int i = 0; i < COGMEM__ISA_COUNT; i++)
        if (strcmp(s, isa_names[i]) == 0)
            return i;
    return -1;
}

static void init_once(void)
{
    cpu_caps c = detect();
    cogmem__simd_fill_scalar(&tables[COGMEM__ISA_SCALAR]);
    usable[COGMEM__ISA_SCALAR] = 1;
    best_isa = COGMEM__ISA_SCALAR;

    tables[COGMEM__ISA_AVX2] = tables[COGMEM__ISA_SCALAR];
#if COGMEM_SIMD_HAVE_AVX2
    if (c.avx2) {
        cogmem__simd_fill_avx2(&tables[COGMEM__ISA_AVX2]);
        usable[COGMEM__ISA_AVX2] = 1;
        best_isa = COGMEM__ISA_AVX2;
    }
#endif
    tables[COGMEM__ISA_AVX512] = tables[COGMEM__ISA_AVX2];
#if COGMEM_SIMD_HAVE_AVX512
    if (c.avx512 && usable[COGMEM__ISA_AVX2]) {
        cogmem__simd_fill_avx512(&tables[COGMEM__ISA_AVX512]);
#if COGMEM_SIMD_HAVE_AVX512_VPOPCNTDQ
        if (c.vpopcntdq) {
            cogmem__simd_fill_avx512_vpopcntdq(&tables[COGMEM__ISA_AVX512]);
            have_vpop = 1;
        }
#endif
#if COGMEM_SIMD_HAVE_AVX512_BF16
        if (c.bf16) {
            cogmem__simd_fill_avx512_bf16(&tables[COGMEM__ISA_AVX512]);
            have_bf16 = 1;
        }
#endif
        usable[COGMEM__ISA_AVX512] = 1;
        best_isa = COGMEM__ISA_AVX512;
    }
#endif
    (void)c;

    /* Read once: tests and benchmarks set it before the process starts;
     * re-reading per call would cost a getenv on every kernel. */
    default_isa = best_isa;
    const char *env = getenv("COGMEM_ISA");
    if (env) {
        int want = isa_from_name(env);
        if (want >= 0 && want < default_isa)
            default_isa = want;
    }
    /* Release pairs with the acquire in ops(): the tables above are
     * complete before any thread can reach them through `active`. */
    atomic_store_explicit(&active, &tables[default_isa], memory_order_release);
}

static inline const cogmem__simd_ops *ops(void)
{
    const cogmem__simd_ops *o =
        atomic_load_explicit(&active, memory_order_acquire);
    if (__builtin_expect(o == NULL, 0)) {
        pthread_once(&once, init_once);
        o = atomic_load_explicit(&active, memory_order_acquire);
    }
    return o;
}

const cogmem__simd_ops *cogmem__simd_table(int isa)
{
    (void)ops();
    if (isa < 0 || isa >= COGMEM__ISA_COUNT || !usable[isa])
        return NULL;
    return &tables[isa];
}

int cogmem__simd_best(void)
{
    (void)ops();
    return best_isa;
}

int cogmem__simd_has_vpopcntdq(void)
{
    (void)ops();
    return have_vpop;
}

int cogmem__simd_has_bf16(void)
{
    (void)ops();
    return have_bf16;
}

COGMEM_API const char *cogmem_simd_isa(void)
{
    return ops()->name;
}

COGMEM_API int cogmem_simd_force(const char *isa)
{
    (void)ops();
    int want = default_isa;
    if (isa) {
        want = isa_from_name(isa);
        if (want < 0)
            return -EINVAL;
        if (!usable[want])
            return -ENOTSUP;
    }
    /* Release for the same reason as in init_once (the table is already
     * published, but this keeps the pairing uniform). */
    atomic_store_explicit(&active, &tables[want], memory_order_release);
    return 0;
}

/* -------------------------------------------------------------- kernels */

/* Indices are uint32_t: look at no more than 2^32 elements. */
static inline size_t clamp_n(size_t n)
{
#if SIZE_MAX > UINT32_MAX
    if (n > (size_t)UINT32_MAX + 1)
        n = (size_t)UINT32_MAX + 1;
#endif
    return n;
}

COGMEM_API void cogmem_dot_batch(const float *q, const float *rows, size_t n,
                                 size_t dim, size_t stride, float *out)
{
    if (n == 0)
        return;
    ops()->dot_batch(q, rows, n, dim, stride, out);
}

float cogmem__cosine_wide(const float *q, const float *r, size_t dim,
                          float q_norm, float r_norm)
{
    double d = 0.0, qq = 0.0, rr = 0.0;
    for (size_t j = 0; j < dim; j++) {
        d += (double)q[j] * (double)r[j];
        qq += (double)q[j] * (double)q[j];
        rr += (double)r[j] * (double)r[j];
    }
    if (d != d || !isfinite(qq) || !isfinite(rr))
        return NAN;
    double qn = q_norm > 0.0f ? (double)q_norm : sqrt(qq);
    double rn = r_norm > 0.0f ? (double)r_norm : sqrt(rr);
    double den = qn * rn;
    return den == 0.0 ? 0.0f : (float)(d / den);
}

/* Rows whose f32 cosine may be wrong: the product of the norms under- or
 * overflowed (see cogmem_simd.h). */
#define WIDE_LO 0x1p-60f
#define WIDE_HI 0x1p100f

COGMEM_API void cogmem_cosine_batch(const float *q, const float *rows,
                                    size_t n, size_t dim, size_t stride,
                                    const float *row_norms, float q_norm,
                                    float *out)
{
    if (n == 0)
        return;
    const cogmem__simd_ops *o = ops();
    int given = q_norm > 0.0f;
    if (!given) {
        float qq;
        o->dot_batch(q, q, 1, dim, dim, &qq);
        q_norm = sqrtf(qq);
    }
    o->cosine_batch(q, rows, n, dim, stride, row_norms, q_norm, out);
    if (dim == 0)
        return;
    /* The f32 pass is right unless a product of norms left f32's normal
     * range. With row_norms that is known per row; without, such a row
     * shows as 0, NaN, Inf or |cos| > 1 (a legitimately orthogonal row is
     * then recomputed too: exact, only slower). A query whose own norm is
     * extreme sends every row to the double path. */
    int all = !(q_norm >= WIDE_LO && q_norm <= WIDE_HI);
    float wq = given ? q_norm : 0.0f; /* 0: the double path computes it */
    for (size_t i = 0; i < n; i++) {
        int redo = all;
        if (!redo && row_norms) {
            float den = q_norm * row_norms[i];
            redo = !(den >= WIDE_LO && den <= WIDE_HI);
        } else if (!redo) {
            float x = fabsf(out[i]);
            redo = !(x > 0.0f && x <= 1.0f + 0x1p-10f);
        }
        if (redo)
            out[i] = cogmem__cosine_wide(q, rows + i * stride, dim, wq,
                                         row_norms ? row_norms[i] : 0.0f);
    }
}

COGMEM_API size_t cogmem_topk(const float *scores, size_t n, size_t k,
                              uint32_t *idx, float *val)
{
    n = clamp_n(n);
    if (k == 0 || n == 0)
        return 0;
    size_t cnt = ops()->topk(scores, n, k, idx);
    if (val)
        for (size_t i = 0; i < cnt; i++)
            val[i] = scores[idx[i]];
    return cnt;
}

COGMEM_API void cogmem_decay_f32(float *x, size_t n, float factor)
{
    if (n)
        ops()->scale(x, n, factor);
}

COGMEM_API void cogmem_decay_exp_f32(float *x, const float *dt, size_t n,
                                     float rate)
{
    if (n)
        ops()->decay_exp(x, dt, n, rate);
}

COGMEM_API size_t cogmem_prune_f32(const float *x, size_t n, float threshold,
                                   uint32_t *idx)
{
    n = clamp_n(n);
    return n ? ops()->prune(x, n, threshold, idx) : 0;
}

COGMEM_API int cogmem_fan_divide(const float *a, const uint32_t *fan, size_t n,
                                 cogmem_fan_mode mode, float actr_s,
                                 float *out)
{
    switch (mode) {
    case COGMEM_FAN_INV_SQRT:
    case COGMEM_FAN_LINEAR:
    case COGMEM_FAN_ACTR:
    case COGMEM_FAN_NONE:
        break;
    default:
        return -EINVAL;
    }
    if (n)
        ops()->fan(a, fan, n, (int)mode, actr_s, out);
    return 0;
}

COGMEM_API void cogmem_hv_bind(const uint8_t *a, const uint8_t *b,
                               size_t nbytes, uint8_t *out)
{
    if (nbytes)
        ops()->hv_xor(a, b, nbytes, out);
}

COGMEM_API void cogmem_hv_hamming_batch(const uint8_t *q, const uint8_t *rows,
                                        size_t n, size_t nbytes,
                                        uint32_t *out)
{
    if (n)
        ops()->hv_hamming(q, rows, n, nbytes, out);
}

COGMEM_API void cogmem_hv_bundle(const uint8_t *rows, size_t n, size_t nbytes,
                                 uint8_t *out)
{
    if (nbytes)
        ops()->hv_bundle(rows, n, nbytes, out);
}

COGMEM_API void cogmem_hv_permute(const uint8_t *in, size_t nbytes,
                                  int64_t shift, uint8_t *out)
{
    if (nbytes == 0)
        return;
    uint64_t nbits = (uint64_t)nbytes * 8u;
    /* Reduce in unsigned arithmetic: -shift overflows for INT64_MIN. */
    uint64_t s;
    if (shift >= 0)
        s = (uint64_t)shift % nbits;
    else
        s = (nbits - (uint64_t)(-(shift + 1)) % nbits - 1) % nbits;
    ops()->hv_permute(in, nbytes, s, out);
}

COGMEM_API void cogmem_f32_to_bf16(const float *in, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &in[i], sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            /* NaN: keep sign and top payload, force quiet so that the
             * truncation cannot turn it into Inf. */
            out[i] = (uint16_t)((u >> 16) | 0x0040u);
        } else {
            /* Round to nearest even on the dropped 16 bits; a carry into the
             * exponent is the correct rounding (up to Inf at the top). */
            u += 0x7fffu + ((u >> 16) & 1u);
            out[i] = (uint16_t)(u >> 16);
        }
    }
}

COGMEM_API void cogmem_dot_batch_bf16(const uint16_t *q, const uint16_t *rows,
                                      size_t n, size_t dim, size_t stride,
                                      float *out)
{
    if (n)
        ops()->dot_bf16(q, rows, n, dim, stride, out);
}

/* Heap of (score, row) pairs for re-ranking: unlike cogmem_topk the rows
 * arrive in any order, so ties need the index compare on both sides. */
static int rr_worse(float va, uint32_t ia, float vb, uint32_t ib)
{
    return va < vb || (va == vb && ia > ib);
}

static void rr_sift_down(uint32_t *idx, float *val, size_t cnt, size_t at)
{
    uint32_t i = idx[at];
    float v = val[at];
    for (;;) {
        size_t c = 2 * at + 1;
        if (c >= cnt)
            break;
        if (c + 1 < cnt && rr_worse(val[c + 1], idx[c + 1], val[c], idx[c]))
            c++;
        if (!rr_worse(val[c], idx[c], v, i))
            break;
        idx[at] = idx[c];
        val[at] = val[c];
        at = c;
    }
    idx[at] = i;
    val[at] = v;
}

COGMEM_API size_t cogmem_rerank_f32(const float *q, const float *rows,
                                    size_t dim, size_t stride,
                                    const uint32_t *cand, size_t ncand,
                                    size_t k, uint32_t *idx, float *val)
{
    if (k == 0 || ncand == 0)
        return 0;
    const cogmem__simd_ops *o = ops();
    size_t cnt = 0;
    for (size_t c = 0; c < ncand; c++) {
        uint32_t r = cand[c];
        float s;
        o->dot_batch(q, rows + (size_t)r * stride, 1, dim, stride, &s);
        if (s != s)
            continue;
        if (cnt < k) {
            size_t at = cnt++;
            while (at > 0) {
                size_t p = (at - 1) / 2;
                if (!rr_worse(s, r, val[p], idx[p]))
                    break;
                idx[at] = idx[p];
                val[at] = val[p];
                at = p;
            }
            idx[at] = r;
            val[at] = s;
        } else if (rr_worse(val[0], idx[0], s, r)) {
            idx[0] = r;
            val[0] = s;
            rr_sift_down(idx, val, cnt, 0);
        }
    }
    for (size_t end = cnt; end > 1; end--) {
        uint32_t ti = idx[0];
        float tv = val[0];
        idx[0] = idx[end - 1];
        val[0] = val[end - 1];
        idx[end - 1] = ti;
        val[end - 1] = tv;
        rr_sift_down(idx, val, end - 1, 0);
    }
    return cnt;
}

COGMEM_API void cogmem_dot_block(const float *q, size_t nq, size_t qstride,
                                 const float *rows, size_t n, size_t dim,
                                 size_t stride, float *out, size_t ostride)
{
    if (nq && n)
        ops()->dot_block(q, nq, qstride, rows, n, dim, stride, out, ostride);
}

COGMEM_API double cogmem_sum_squares(const float *x, size_t n)
{
    return n ? ops()->sum_squares(x, n) : 0.0;
}

void cogmem__ge_mask(const float *s, size_t n, float bar, const uint64_t *valid,
                     uint64_t *out)
{
    ops()->ge_mask(s, n, bar, valid, out);
}

void cogmem__splat_u64(uint64_t *d, size_t n, uint64_t v)
{
    ops()->splat_u64(d, n, v);
}

#if !COGMEM_SIMD_HAVE_AVX512
/* Without an AVX-512 build the checker and benchmark hooks have nothing to
 * return. */
cogmem__hamming_fn cogmem__simd_avx512_hamming_lut(void)
{
    return NULL;
}

cogmem__dot_fn cogmem__simd_avx512_dot_path(int path)
{
    (void)path;
    return NULL;
}
#endif
