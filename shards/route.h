/* cogmem — key -> shard routing: the one place that knows "16".
 *
 * One 64-bit hash per id (XXH3, inlined) serves twice: its top four bits pick
 * the shard and the whole value is the cds_lfht hash, whose bucket index
 * uses the low bits. Taking the shard from the other end keeps the two
 * choices independent, so every shard's buckets see the full spread.
 */
#ifndef COGMEM_SHARDS_ROUTE_H
#define COGMEM_SHARDS_ROUTE_H

#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#define COGMEM__SHARD_BITS 4
#define COGMEM__NSHARDS (1u << COGMEM__SHARD_BITS)

static inline uint64_t cogmem__hash_id(uint64_t id)
{
    return XXH3_64bits(&id, sizeof id);
}

static inline unsigned cogmem__shard_of(uint64_t hash)
{
    return (unsigned)(hash >> (64 - COGMEM__SHARD_BITS));
}

#endif /* COGMEM_SHARDS_ROUTE_H */
