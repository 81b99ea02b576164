/* libFuzzer harness: the snapshot parser on arbitrary bytes, with the
 * checksum checks off so that inputs reach the structure checks behind
 * them (Redis's "corrupt payload with valid CRC" idea). A sink counts what
 * the parser hands over and touches every byte of each row, so that an
 * out-of-bounds row shows up under AddressSanitizer. Built and run by
 * tools/test.sh (clang -fsanitize=fuzzer). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "src/persist/internal.h"

static uint32_t dim;
static volatile float sink_acc;

static int s_config(void *arg, const struct cogmem__snap_header *h)
{
    (void)arg;
    dim = h->dim;
    return 0;
}

static int s_node(void *arg, enum cogmem_kind kind, const struct cogmem__snap_node *n,
                  const float *row)
{
    (void)arg;
    (void)kind;
    (void)n;
    float acc = 0;
    for (uint32_t i = 0; i < dim; i++) {
        float x;
        memcpy(&x, &row[i], sizeof x);
        acc += x;
    }
    sink_acc = acc;
    return 0;
}

static int s_blist(void *arg, const struct cogmem__snap_blist *h,
                   const struct cogmem__snap_bind *e)
{
    (void)arg;
    struct cogmem__snap_bind b;
    for (uint32_t i = 0; i < h->n; i++)
        memcpy(&b, &e[i], sizeof b);
    return 0;
}

static int s_hist(void *arg, const struct cogmem__snap_hist *h)
{
    (void)arg;
    (void)h;
    return 0;
}

static int s_elist(void *arg, const struct cogmem__snap_blist *h, const uint64_t *ids)
{
    (void)arg;
    uint64_t x;
    for (uint32_t i = 0; i < h->n; i++)
        memcpy(&x, &ids[i], sizeof x);
    return 0;
}

static const struct cogmem__snap_sink sink = {s_config, s_node, s_blist, s_hist, s_elist, NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parser expects the alignment mmap gives (rows, sums): copy. */
    static uint8_t *buf;
    static size_t cap;
    if (size > cap) {
        free(buf);
        cap = size;
        buf = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
    }
    if (size)
        memcpy(buf, data, size);
    cogmem_snapshot_summary sum;
    memset(&sum, 0, sizeof sum);
    struct cogmem__bad bad;
    memset(&bad, 0, sizeof bad);
    (void)cogmem__snap_parse(buf, size, 0, &sink, NULL, &sum, &bad);
    return 0;
}
