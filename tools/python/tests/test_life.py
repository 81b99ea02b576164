"""The memory life cycle from Python: formation, consolidation, forgetting."""
import numpy as np
import pytest

import cogmem

DIM = 24


def clusters(rng, k=3, per=10, spread=0.05):
    centres = rng.standard_normal((k, DIM)).astype(np.float32)
    x = np.repeat(centres, per, axis=0)
    x += spread * rng.standard_normal(x.shape).astype(np.float32)
    return x, np.repeat(np.arange(k), per)


def test_form_concepts_finds_the_clusters():
    rng = np.random.default_rng(3)
    x, truth = clusters(rng)
    with cogmem.Store(DIM) as s:
        for i, v in enumerate(x):
            s.add_episode(100 + i, v, time_ns=1000 + i)
        dry = s.form_concepts(next_id=1, dry_run=True, min_similarity=0.8)
        assert len(dry.concepts) == 3 and s.count(cogmem.Kind.CONCEPT) == 0
        f = s.form_concepts(next_id=1, min_similarity=0.8, method="exact")
        assert f.method == "exact"
        np.testing.assert_array_equal(f.selected, 100 + np.arange(len(x)))
        assert f.n_clusters == 3 and len(f.concepts) == 3
        # same partition as the truth (labels are numbered by smallest member)
        np.testing.assert_array_equal(f.labels, truth)
        for j, c in enumerate(f.concepts):
            assert c.id == 1 + j
            np.testing.assert_array_equal(c.members, 100 + np.flatnonzero(truth == j))
            assert c.coherence > 0.9 and 0 < c.norm <= 1.0 + 1e-6
            assert s.fan_out(c.id) == len(c.members)
            assert np.all(c.contribution > 0)
        assert s.count(cogmem.Kind.CONCEPT) == 3
        # nothing unbound is left to form from
        again = s.form_concepts(next_id=10, min_similarity=0.8)
        assert len(again.selected) == 0 and again.concepts == []


def test_form_concepts_matches_sklearn_average_linkage():
    sk = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(11)
    x, _ = clusters(rng, k=6, per=15, spread=0.4)
    tau = 0.7
    with cogmem.Store(DIM) as s:
        for i, v in enumerate(x):
            s.add_episode(1 + i, v)
        f = s.form_concepts(next_id=5000, min_similarity=tau, method="exact",
                            min_members=1, dry_run=True)
    ref = sk.AgglomerativeClustering(n_clusters=None, linkage="average",
                                     metric="cosine",
                                     distance_threshold=1 - tau).fit(x).labels_
    # the same partition (cluster numbering differs)
    pairs = {(a, b) for a, b in zip(f.labels, ref)}
    assert len(pairs) == len(set(f.labels)) == len(set(ref))


def test_consolidate_binds_to_the_nearest_concept():
    rng = np.random.default_rng(5)
    x, _ = clusters(rng)
    with cogmem.Store(DIM) as s:
        for i, v in enumerate(x):
            s.add_episode(100 + i, v)
        f = s.form_concepts(next_id=1, min_similarity=0.8)
        near = x[25] + 0.01 * rng.standard_normal(DIM).astype(np.float32)
        s.add_episode(999, near)
        c = s.consolidate(999, min_similarity=0.8)
        assert c.bound and c.concept == f.concepts[2].id
        # score is x/|x| . mu (mu the members' mean, |mu| <= 1); the
        # strength is the cosine, score / |mu|
        assert 0.8 < c.score <= c.strength <= 1.0 + 1e-6
        assert s.strength(999, c.concept) == pytest.approx(c.strength)
        far = -np.mean(x, axis=0)
        s.add_episode(1000, far)
        c2 = s.consolidate(1000, min_similarity=0.99)
        assert not c2.bound and s.fan_in(1000) == 0
        with pytest.raises(cogmem.NotFound):
            s.consolidate(123456)


def test_forget_keeps_the_budget():
    rng = np.random.default_rng(9)
    with cogmem.Store(DIM, max_episodes=20) as s:
        s.add_concept(1, rng.standard_normal(DIM).astype(np.float32))
        for i in range(50):
            s.add_episode(10 + i, rng.standard_normal(DIM).astype(np.float32),
                          time_ns=1_000_000_000 * (i + 1))
        s.bind(10, 1, 1.0)  # the oldest, but bound: it is kept
        now = 100 * 1_000_000_000
        dry = s.forget(now, dry_run=True)
        assert dry["removed"] == 30 and s.count(cogmem.Kind.EPISODE) == 50
        r = s.forget(now)
        assert r["examined"] == 50 and r["removed"] == 30
        assert s.count(cogmem.Kind.EPISODE) == 20
        assert 10 in s and s.fan_out(1) == 1
        r = s.forget(now, max_episodes=5)
        assert r["removed"] == 15 and s.count(cogmem.Kind.EPISODE) == 5
        with pytest.raises(cogmem.InvalidArgument):
            s.forget(0)


def test_bad_arguments():
    with cogmem.Store(DIM) as s:
        with pytest.raises(ValueError):
            s.form_concepts(next_id=1, method="kmeans")
        with pytest.raises(ValueError):
            s.form_concepts(next_id=1, episodes="some")
        with pytest.raises(cogmem.InvalidArgument):
            s.form_concepts(next_id=1, min_similarity=2.0)
        with pytest.raises(cogmem.NotFound):
            s.form_concepts(next_id=1, episodes=[42])
