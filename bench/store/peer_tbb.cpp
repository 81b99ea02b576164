// bench/store — peer (b): Intel oneTBB concurrent_hash_map<uint64_t,
// peer_record>, the record stored inline in the map's node.
//
// The node is allocated through std::allocator so that C++17's aligned new
// honours the record's 64-byte alignment. Hashing is cogmem's (XXH3 of the
// id); TBB takes the bucket from the low bits. A lookup holds a
// const_accessor (TBB read-locks the bucket, then the element) while it
// copies the record or takes a vector reference; a write holds an accessor
// (element write lock) while it swaps the vector in.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <utility>

#include <tbb/concurrent_hash_map.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "harness.h"
#include "peer.h"

namespace {

struct XxHashCompare {
    std::size_t hash(std::uint64_t k) const { return XXH3_64bits(&k, sizeof k); }
    bool equal(std::uint64_t a, std::uint64_t b) const { return a == b; }
};

using Map = tbb::concurrent_hash_map<std::uint64_t, peer_record, XxHashCompare,
                                     std::allocator<std::pair<const std::uint64_t, peer_record>>>;

struct TbbMap {
    Map map;
    std::uint32_t dim;
    TbbMap(std::uint64_t n, std::uint32_t d) : map(static_cast<Map::size_type>(n)), dim(d) {}
};

void *tbb_open(std::uint64_t n_expected, std::uint32_t dim)
{
    return new (std::nothrow) TbbMap(n_expected, dim);
}

int tbb_add(void *mp, std::uint64_t id, const float *vec)
{
    auto *m = static_cast<TbbMap *>(mp);
    int rc;
    peer_vec *v = peer_vec_new(id, m->dim, vec, &rc);
    if (!v)
        return rc;
    Map::accessor a;
    if (!m->map.insert(a, id)) {
        a.release();
        peer_vec_unref(v);
        return -EEXIST;
    }
    peer_record_init(&a->second, id, v);
    return 0;
}

int tbb_info(void *mp, std::uint64_t id, void *out)
{
    auto *m = static_cast<TbbMap *>(mp);
    Map::const_accessor a;
    if (!m->map.find(a, id))
        return -ENOENT;
    peer_record_copy(&a->second, static_cast<peer_info *>(out));
    return 0;
}

int tbb_kind_of(void *mp, std::uint64_t id)
{
    auto *m = static_cast<TbbMap *>(mp);
    Map::const_accessor a;
    return m->map.find(a, id) ? 0 : -ENOENT;
}

int tbb_fan_out(void *mp, std::uint64_t id, std::uint32_t *out)
{
    auto *m = static_cast<TbbMap *>(mp);
    Map::const_accessor a;
    if (!m->map.find(a, id))
        return -ENOENT;
    *out = a->second.fan_out;
    return 0;
}

int tbb_vec_get_put(void *mp, std::uint64_t id)
{
    auto *m = static_cast<TbbMap *>(mp);
    peer_vec *v;
    {
        Map::const_accessor a;
        if (!m->map.find(a, id))
            return -ENOENT;
        v = a->second.vec;
        peer_vec_ref(v);
    }
    peer_vec_unref(v);
    return 0;
}

int tbb_set_centroid(void *mp, std::uint64_t id, const float *vec)
{
    auto *m = static_cast<TbbMap *>(mp);
    int rc;
    peer_vec *v = peer_vec_new(id, m->dim, vec, &rc);
    if (!v)
        return rc;
    std::uint64_t now = peer_now_ns();
    peer_vec *old;
    {
        Map::accessor a;
        if (!m->map.find(a, id)) {
            a.release();
            peer_vec_unref(v);
            return -ENOENT;
        }
        old = peer_record_swap(&a->second, v, now);
    }
    peer_vec_unref(old);
    return 0;
}

void tbb_close(void *mp)
{
    auto *m = static_cast<TbbMap *>(mp);
    for (auto &kv : m->map)
        peer_vec_unref(kv.second.vec);
    delete m;
}

} // namespace

int main(int argc, char **argv)
{
    static_assert(alignof(peer_record) == 64, "records are 64-byte aligned");
    bench_map map{};
    map.name = "tbb";
    map.info_size = sizeof(peer_info);
    map.open = tbb_open;
    map.add = tbb_add;
    map.info = tbb_info;
    map.kind_of = tbb_kind_of;
    map.fan_out = tbb_fan_out;
    map.vec_get_put = tbb_vec_get_put;
    map.set_centroid = tbb_set_centroid;
    map.close = tbb_close;
    const bench_map *const maps[] = {&map};
    return bench_main(argc, argv, maps, 1);
}
