"""The Store API: recall against numpy, batches, errors, views."""
import errno
import gc
import math

import numpy as np
import pytest

import cogmem
from cogmem import Kind

DIM = 64


def rows(n, seed, dim=DIM):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.fixture
def store():
    with cogmem.Store(DIM) as s:
        yield s


@pytest.fixture
def filled(store):
    E = rows(3000, 1)
    C = rows(100, 2)
    store.add_episode(np.arange(1, 3001), E, time_ns=10)
    store.add_concept(np.arange(5001, 5101), C)
    return store, np.concatenate([E, C]), np.concatenate(
        [np.arange(1, 3001), np.arange(5001, 5101)]).astype(np.uint64)


def exact_topk(M, ids, q, k, metric):
    s = M @ q
    if metric == "cosine":
        s = s / (np.linalg.norm(M, axis=1) * np.linalg.norm(q))
    order = np.lexsort((ids, -s))[:k]  # score descending, then lower id
    return ids[order], s[order]


def test_version():
    assert cogmem.__version__ == cogmem._C.cogmem_version().decode()
    assert cogmem.__version__.count(".") == 2


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_recall_is_exact_topk(filled, metric):
    s, M, ids = filled
    for q in rows(30, 3):
        hits = s.recall(q, 10, metric=metric)
        want_ids, want_s = exact_topk(M, ids, q, 10, metric)
        assert hits.ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(hits.scores, want_s, rtol=1e-4, atol=1e-4)


def test_recall_kinds(filled):
    s, M, ids = filled
    q = rows(1, 4)[0]
    c = s.recall(q, 7, kinds=Kind.CONCEPT)
    assert (c.ids > 5000).all() and (c.kinds == Kind.CONCEPT).all()
    e = s.recall(q, 7, kinds=Kind.EPISODE)
    assert (e.ids <= 3000).all() and (e.kinds == Kind.EPISODE).all()
    want, _ = exact_topk(M[3000:], ids[3000:], q, 7, "cosine")
    assert c.ids.tolist() == want.tolist()


def test_batch_equals_single(filled):
    s = filled[0]
    Q = rows(20, 5)
    b = s.recall_batch(Q, 12)
    assert b.ids.shape == (20, 12)
    for i, q in enumerate(Q):
        one = s.recall(q, 12)
        assert b[i].ids.tolist() == one.ids.tolist()
        # The batch kernel scores a block of rows against many queries at
        # once and may round differently from the single-query one.
        np.testing.assert_allclose(b[i].scores, one.scores, rtol=1e-5, atol=1e-6)
        assert b[i].kinds.tolist() == one.kinds.tolist()


def test_batch_pads_when_k_exceeds_n(store):
    store.add_episode([1, 2, 3], rows(3, 6))
    b = store.recall_batch(rows(2, 7), 5)
    assert b.counts.tolist() == [3, 3]
    assert (b.ids[:, 3:] == 0).all() and np.isneginf(b.scores[:, 3:]).all()
    assert sorted(b.ids[0, :3].tolist()) == [1, 2, 3]


def test_errors(store):
    v = np.ones(DIM, np.float32)
    store.add_concept(1, v)
    with pytest.raises(cogmem.AlreadyExists) as e:
        store.add_concept(1, v)
    assert isinstance(e.value, KeyError) and e.value.errno == errno.EEXIST
    with pytest.raises(cogmem.NotFound) as e:
        store.concept(2)
    assert isinstance(e.value, KeyError) and e.value.errno == errno.ENOENT
    bad = v.copy()
    bad[3] = np.nan
    with pytest.raises(cogmem.InvalidArgument) as e:
        store.add_concept(3, bad)
    assert isinstance(e.value, ValueError) and e.value.errno == errno.EINVAL
    assert isinstance(e.value, cogmem.CogmemError)
    with pytest.raises(cogmem.InvalidArgument):
        store.add_concept(0, v)
    with pytest.raises(ValueError):
        store.add_concept(4, np.ones(DIM + 1))
    with pytest.raises(cogmem.InvalidArgument):
        store.recall(np.zeros(DIM), 3)  # zero query under cosine
    store.add_episode(9, v)
    with pytest.raises(cogmem.InvalidArgument):
        store.bind(9, 1, 1.5)  # strength outside [0, 1]
    with pytest.raises(cogmem.NotFound):
        store.unbind(9, 1)
    assert cogmem.error_for("f", -errno.ENOMEM).__class__ is cogmem.OutOfMemory
    assert isinstance(cogmem.error_for("f", -errno.ENOMEM), MemoryError)
    assert type(cogmem.error_for("f", -errno.EPIPE)) is cogmem.CogmemError


def test_failed_batch_changes_nothing(store):
    store.add_episode(5, np.ones(DIM))
    with pytest.raises(cogmem.AlreadyExists):
        store.add_episode([3, 4, 5, 6], rows(4, 8))
    assert store.count() == 1 and 3 not in store and 6 not in store


def test_bindings_decay_spread(store):
    store.add_concept([100, 200], rows(2, 9))
    store.add_episode([1, 2, 3], rows(3, 10))
    for e in (1, 2, 3):
        store.bind(e, 100, 0.5)
    store.bind(1, 200, 0.5)
    assert store.fan_out(100) == 3 and store.fan_in(1) == 2
    assert store.adjust(1, 100, 0.25) == pytest.approx(0.75)
    ids, st = store.bindings(100)
    assert sorted(ids.tolist()) == [1, 2, 3]
    # The fan effect: 100 has fan 3, 200 fan 1, so episode 1 gets more from
    # 200 (0.5 / sqrt 1) than 2 gets from 100 (0.5 / sqrt 3).
    a = dict(zip(store.spread([100], depth=1, use_strength=False).ids.tolist(),
                 store.spread([100], depth=1, use_strength=False).scores.tolist()))
    b = dict(zip(*[x.tolist() for x in
                   (lambda h: (h.ids, h.scores))(store.spread([200], depth=1, use_strength=False))]))
    assert a[2] == pytest.approx(0.5 / math.sqrt(3))
    assert b[1] == pytest.approx(0.5)
    r = store.decay("factor", factor=0.1, prune_below=0.06)
    assert r["decayed"] == 4 and r["pruned"] == 3  # 0.05 < 0.06 <= 0.075
    assert store.binding_count() == 1 and store.strength(1, 100) == pytest.approx(0.075)
    store.unbind(1, 100)
    assert store.binding_count() == 0


def test_stats(filled):
    s = filled[0]
    s.recall(rows(1, 11)[0], 3)
    d = s.stats()
    assert d["events"]["queries_recall"] == 1
    text = s.stats_prometheus()
    assert "# TYPE cogmem_latency_seconds histogram" in text


def test_view_is_readonly_zero_copy_and_outlives_the_node(store):
    a, b = rows(2, 12)
    store.add_concept(7, a)
    v = store.vector(7)
    assert not v.flags.writeable and v.ctypes.data % 64 == 0
    assert np.array_equal(v, a)
    with pytest.raises(ValueError):
        v[0] = 1.0
    w = store.vector(7)
    assert w.ctypes.data == v.ctypes.data  # the same memory, no copy
    store.set_centroid(7, b)
    assert np.array_equal(v, a)  # the old view keeps the old data
    assert np.array_equal(store.vector(7), b)
    store.add_episode(8, b)
    e = store.vector(8)
    store.remove(8)
    gc.collect()
    assert np.array_equal(e, b)  # valid after the node is removed
    assert store.stats()["kinds"]["episode"]["vectors_referenced"] == 1
    sl = e[2:5]
    del e
    gc.collect()
    assert np.array_equal(sl, b[2:5])  # a slice keeps the reference too
    with pytest.raises(cogmem.StoreBusy):
        store.close()
    assert not store.closed and 7 in store
    del v, w, sl
    gc.collect()
    assert store.stats()["kinds"]["episode"]["vectors_referenced"] == 0
    store.close()
    assert store.closed


def test_context_manager_closes():
    with cogmem.Store(8) as s:
        s.add_concept(1, np.ones(8))
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s.count()


def test_ids_count_kind_of(filled):
    s = filled[0]
    assert s.count(Kind.CONCEPT) == 100 and len(s) == 3100
    assert sorted(s.ids(Kind.CONCEPT).tolist()) == list(range(5001, 5101))
    assert s.kind_of(5001) == Kind.CONCEPT and s.kind_of(1) == Kind.EPISODE
    assert s.kind_of(4000) is None
