/* libFuzzer harness: the journal segment parser on arbitrary bytes, with
 * checksums off (see fuzz_snapshot.c). The callback reads every payload
 * byte the parser says a record has. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/persist/internal.h"

static volatile uint8_t acc;

static int rec(const struct cogmem__jrn_rec *r, const void *payload, void *arg)
{
    (void)arg;
    const uint8_t *p = payload;
    uint8_t x = 0;
    for (uint32_t i = 0; i < r->len; i++)
        x ^= p[i];
    acc = x;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct cogmem__jrn_header h;
    struct cogmem__bad bad;
    size_t valid = 0;
    memset(&bad, 0, sizeof bad);
    (void)cogmem__jrn_parse(buf, size, 0, &h, rec, NULL, &valid, &bad);
    free(buf);
    return 0;
}
