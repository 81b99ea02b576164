/* cogmem — key -> shard routing: the one place that knows "16".
 *
 * One 64-bit hash per id (XXH3, inlined, keyed with the store's random
 * seed so that ids chosen to collide under one store's hash do not collide
 * under another's: no host can be made to build one long chain by ids it
 * is handed) serves twice: its top four bits pick
 * the shard, the next five are the slot tag (shards/set.h) and the low
 * bits index the shard's table. Taking the shard from the other end keeps
 * the choices independent, so every shard's slots see the full spread.
 */
#ifndef COGMEM_SHARDS_ROUTE_H
#define COGMEM_SHARDS_ROUTE_H

#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define COGMEM__SHARD_BITS 4
#define COGMEM__NSHARDS (1u << COGMEM__SHARD_BITS)

static inline uint64_t cogmem__hash_id(uint64_t seed, uint64_t id)
{
    return XXH3_64bits_withSeed(&id, sizeof id, seed);
}

static inline unsigned cogmem__shard_of(uint64_t hash)
{
    return (unsigned)(hash >> (64 - COGMEM__SHARD_BITS));
}

#endif /* COGMEM_SHARDS_ROUTE_H */
