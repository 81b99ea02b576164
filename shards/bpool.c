/* cogmem — the pool of concept lists' decay arrays (bpool.h). */
#include "shards/bpool.h"

#include <string.h>

/* A chunk: 2 MiB on one huge page. cogmem__mem_alloc gives 64-byte
 * alignment only, so each is over-allocated by 2 MiB and placed at its
 * first 2 MiB boundary (cogmem__mem_huge_place, as shards/slab.c does for
 * rows). The chunk's first line is its header. */
#define CHUNK COGMEM__HUGE_PAGE

struct chunk_head {
    void *raw;  /* what cogmem__mem_alloc returned */
    void *prev; /* the chunk made before this one, or NULL */
};

static unsigned class_of(uint32_t cap)
{
    return (unsigned)__builtin_ctz(cap) - 2;
}

_Static_assert(COGMEM__BPOOL_MAX_CAP == 4u << (COGMEM__BPOOL_CLASSES - 1), "classes");
_Static_assert(sizeof(struct chunk_head) <= 64, "a chunk's header is one line");

static int chunk_new(struct cogmem__bpool *p, struct cogmem__mem *mem,
                     enum cogmem__mem_kind kind)
{
    char *raw = cogmem__mem_alloc(mem, kind, 2 * CHUNK);
    if (!raw)
        return -1;
    char *ch = cogmem__mem_huge_place(raw, CHUNK);
    struct chunk_head *h = (struct chunk_head *)(void *)ch;
    h->raw = raw;
    h->prev = p->chunks;
    p->chunks = ch;
    p->mem = mem;
    p->kind = kind;
    p->cur = ch + 64;
    p->end = ch + CHUNK;
    return 0;
}

void *cogmem__bpool_alloc(struct cogmem__bpool *p, struct cogmem__mem *mem,
                          enum cogmem__mem_kind kind, uint32_t cap)
{
    /* Blocks handed out from the free list or the chunk's end are
     * allocations like any other for the failure-injection tests. */
    if (cogmem__mem_fail_injected())
        return NULL;
    unsigned c = class_of(cap);
    void *b = p->free[c];
    if (b) {
        memcpy(&p->free[c], b, sizeof(void *));
        return b;
    }
    size_t bytes = cogmem__bpool_bytes(cap);
    /* The rest of a chunk too short for this block stays unused (under a
     * tenth of the chunk: COGMEM__BPOOL_MAX_CAP). */
    if ((size_t)(p->end - p->cur) < bytes && chunk_new(p, mem, kind))
        return NULL;
    b = p->cur;
    p->cur += bytes;
    return b;
}

void cogmem__bpool_free(struct cogmem__bpool *p, void *block, uint32_t cap)
{
    unsigned c = class_of(cap);
    memcpy(block, &p->free[c], sizeof(void *));
    p->free[c] = block;
}

void cogmem__bpool_fini(struct cogmem__bpool *p)
{
    for (char *ch = p->chunks; ch;) {
        struct chunk_head *h = (struct chunk_head *)(void *)ch;
        char *prev = h->prev;
        cogmem__mem_free(p->mem, p->kind, h->raw, 2 * CHUNK);
        ch = prev;
    }
    memset(p->free, 0, sizeof p->free);
    p->chunks = NULL;
    p->cur = p->end = NULL;
}
