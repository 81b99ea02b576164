/* cogmem — where a check failed, and the settings block kept with a
 * store (small helpers the parsers share; kept apart from persist.c so
 * that the fuzzers link the parsers without the whole store). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "src/persist/internal.h"

void cogmem__bad_set(struct cogmem__bad *bad, const char *section, uint64_t off,
                     const char *fmt, ...)
{
    if (!bad)
        return;
    snprintf(bad->section, sizeof bad->section, "%s", section);
    bad->offset = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(bad->detail, sizeof bad->detail, fmt, ap);
    va_end(ap);
}

void cogmem__cfg_block_of(const cogmem_config *c, struct cogmem__cfg_block *b)
{
    memset(b, 0, sizeof *b);
    b->fan_mode = c->fan_mode;
    b->actr_max_assoc = c->actr_max_assoc;
    b->actr_decay = c->actr_decay;
    b->actr_history = c->actr_history;
    b->actr_latency_factor = c->actr_latency_factor;
    b->actr_threshold = c->actr_threshold;
    b->actr_noise = c->actr_noise;
    b->bf16_rows = c->bf16_rows;
}
