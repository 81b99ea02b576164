// bench/store — peer (c): libcuckoo cuckoohash_map<uint64_t, peer_record>,
// the record stored inline in the bucket's slot.
//
// libcuckoo's buckets are allocated through std::allocator, so C++17's
// aligned new honours the record's 64-byte alignment. Hashing is cogmem's
// (XXH3 of the id). find_fn/update_fn run our lambda with the key's bucket
// locks (striped spinlocks) held, which is what makes copying the record or
// taking a vector reference safe against a concurrent swap.
#include <cstdint>
#include <cstdio>
#include <new>

#include <libcuckoo/cuckoohash_map.hh>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "harness.h"
#include "peer.h"

namespace {

struct XxHash {
    std::size_t operator()(std::uint64_t k) const { return XXH3_64bits(&k, sizeof k); }
};

using Map = libcuckoo::cuckoohash_map<std::uint64_t, peer_record, XxHash>;

struct CuckooMap {
    Map map;
    std::uint32_t dim;
    CuckooMap(std::uint64_t n, std::uint32_t d) : map(static_cast<Map::size_type>(n)), dim(d) {}
};

void *cuckoo_open(std::uint64_t n_expected, std::uint32_t dim)
{
    return new (std::nothrow) CuckooMap(n_expected, dim);
}

int cuckoo_add(void *mp, std::uint64_t id, const float *vec)
{
    auto *m = static_cast<CuckooMap *>(mp);
    int rc;
    peer_vec *v = peer_vec_new(id, m->dim, vec, &rc);
    if (!v)
        return rc;
    peer_record r;
    peer_record_init(&r, id, v);
    if (!m->map.insert(id, r)) {
        peer_vec_unref(v);
        return -EEXIST;
    }
    return 0;
}

int cuckoo_info(void *mp, std::uint64_t id, void *out)
{
    auto *m = static_cast<CuckooMap *>(mp);
    auto *o = static_cast<peer_info *>(out);
    return m->map.find_fn(id, [o](const peer_record &r) { peer_record_copy(&r, o); })
               ? 0
               : -ENOENT;
}

int cuckoo_kind_of(void *mp, std::uint64_t id)
{
    auto *m = static_cast<CuckooMap *>(mp);
    return m->map.contains(id) ? 0 : -ENOENT;
}

int cuckoo_fan_out(void *mp, std::uint64_t id, std::uint32_t *out)
{
    auto *m = static_cast<CuckooMap *>(mp);
    return m->map.find_fn(id, [out](const peer_record &r) { *out = r.fan_out; })
               ? 0
               : -ENOENT;
}

int cuckoo_vec_get_put(void *mp, std::uint64_t id)
{
    auto *m = static_cast<CuckooMap *>(mp);
    peer_vec *v = nullptr;
    if (!m->map.find_fn(id, [&v](const peer_record &r) {
            v = r.vec;
            peer_vec_ref(v);
        }))
        return -ENOENT;
    peer_vec_unref(v);
    return 0;
}

int cuckoo_set_centroid(void *mp, std::uint64_t id, const float *vec)
{
    auto *m = static_cast<CuckooMap *>(mp);
    int rc;
    peer_vec *v = peer_vec_new(id, m->dim, vec, &rc);
    if (!v)
        return rc;
    std::uint64_t now = peer_now_ns();
    peer_vec *old = nullptr;
    if (!m->map.update_fn(id, [&](peer_record &r) { old = peer_record_swap(&r, v, now); })) {
        peer_vec_unref(v);
        return -ENOENT;
    }
    peer_vec_unref(old);
    return 0;
}

void cuckoo_close(void *mp)
{
    auto *m = static_cast<CuckooMap *>(mp);
    {
        auto locked = m->map.lock_table();
        for (auto &kv : locked)
            peer_vec_unref(kv.second.vec);
    }
    delete m;
}

} // namespace

int main(int argc, char **argv)
{
    static_assert(alignof(peer_record) == 64, "records are 64-byte aligned");
    bench_map map{};
    map.name = "cuckoo";
    map.info_size = sizeof(peer_info);
    map.open = cuckoo_open;
    map.add = cuckoo_add;
    map.info = cuckoo_info;
    map.kind_of = cuckoo_kind_of;
    map.fan_out = cuckoo_fan_out;
    map.vec_get_put = cuckoo_vec_get_put;
    map.set_centroid = cuckoo_set_centroid;
    map.close = cuckoo_close;
    const bench_map *const maps[] = {&map};
    return bench_main(argc, argv, maps, 1);
}
