// bench/ann — Debian's hnswlib behind a C interface (peer_hnswlib.h),
// compiled with -O3 -march=native so that its AVX-512 distance runs.
#include "peer_hnswlib.h"

#include <hnswlib/hnswlib.h>

#include <mutex>
#include <shared_mutex>

struct hn_index {
    hnswlib::InnerProductSpace space;
    hnswlib::HierarchicalNSW<float> index;
    std::shared_mutex rw;
    hn_index(unsigned dim, size_t max, unsigned m, unsigned efc)
        : space(dim), index(&space, max, m, efc, 100) {}
};

extern "C" hn_index *hn_new(unsigned dim, size_t max_elements, unsigned m, unsigned efc)
{
    return new hn_index(dim, max_elements, m, efc);
}

extern "C" void hn_free(hn_index *h) { delete h; }

extern "C" void hn_add(hn_index *h, const float *v, uint64_t label)
{
    h->index.addPoint(v, (hnswlib::labeltype)label);
}

extern "C" void hn_set_ef(hn_index *h, unsigned ef) { h->index.setEf(ef); }

extern "C" size_t hn_search(hn_index *h, const float *q, unsigned k, uint64_t *labels)
{
    auto pq = h->index.searchKnn(q, k);
    size_t n = pq.size();
    for (size_t i = n; i-- > 0;) { // the queue pops the farthest first
        labels[i] = pq.top().second;
        pq.pop();
    }
    return n;
}

extern "C" void hn_add_locked(hn_index *h, const float *v, uint64_t label)
{
    std::unique_lock<std::shared_mutex> g(h->rw);
    h->index.addPoint(v, (hnswlib::labeltype)label);
}

extern "C" size_t hn_search_locked(hn_index *h, const float *q, unsigned k, uint64_t *labels)
{
    std::shared_lock<std::shared_mutex> g(h->rw);
    return hn_search(h, q, k, labels);
}
