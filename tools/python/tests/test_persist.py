"""Persistence from Python: a store directory, snapshot, sync, reopen."""
import errno
import glob
import os
import shutil

import numpy as np
import pytest

import cogmem

DIM = 32


def test_round_trip_through_a_directory(tmp_path):
    d = str(tmp_path / "store")
    rng = np.random.default_rng(7)
    c = rng.standard_normal((20, DIM)).astype(np.float32)
    e = rng.standard_normal((50, DIM)).astype(np.float32)
    q = rng.standard_normal(DIM).astype(np.float32)
    with cogmem.Store(DIM, d, durability="none") as s:
        for i in range(20):
            s.add_concept(i + 1, c[i])
        for i in range(50):
            s.add_episode(1000 + i, e[i])
            s.bind(1000 + i, 1 + i % 20, 0.25 + (i % 4) / 8)
        before = s.recall(q, 10)
        s.snapshot()
        s.sync()
        bindings = s.binding_count()
    snaps = glob.glob(os.path.join(d, "snap-*.cgs"))
    assert len(snaps) == 1
    summ = cogmem.snapshot_verify(snaps[0])
    assert (summ["dim"], summ["concepts"], summ["episodes"],
            summ["bindings"]) == (DIM, 20, 50, 50)
    assert summ["file_bytes"] == os.path.getsize(snaps[0])
    names = [sec["name"] for sec in summ["sections"]]
    assert len(names) == len(set(names)) >= 3
    for sec in summ["sections"]:
        assert sec["offset"] + sec["length"] <= summ["file_bytes"]
    with cogmem.Store(DIM, d) as s:
        rep = s.open_report
        assert rep["snapshot"] == os.path.basename(snaps[0])
        assert (rep["concepts"], rep["episodes"], rep["bindings"]) == (20, 50, 50)
        assert rep["records_replayed"] == 0
        assert s.count(cogmem.Kind.CONCEPT) == 20
        assert s.count(cogmem.Kind.EPISODE) == 50
        assert s.binding_count() == bindings == 50
        after = s.recall(q, 10)
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_journal_without_snapshot_survives_close(tmp_path):
    d = str(tmp_path / "store")
    with cogmem.Store(DIM, d, durability="sync") as s:
        s.add_concept(5, np.ones(DIM, np.float32))
        s.sync()
    with cogmem.Store(DIM, d) as s:
        assert s.open_report["snapshot"] == ""
        assert s.open_report["records_replayed"] == 1
        assert s.count(cogmem.Kind.CONCEPT) == 1
    with cogmem.Store(DIM) as s:
        assert s.open_report is None


def test_corrupt_journal_names_the_place(tmp_path):
    d = str(tmp_path / "store")
    with cogmem.Store(DIM, d, durability="sync") as s:
        for i in range(3):
            s.add_concept(i + 1, np.full(DIM, i + 1, np.float32))
    segs = sorted(glob.glob(os.path.join(d, "*")))
    seg = max((p for p in segs if os.path.isfile(p)), key=os.path.getsize)
    with open(seg, "r+b") as f:  # damage the first record, not the tail
        data = bytearray(f.read())
        data[len(data) // 3] ^= 0xFF
        f.seek(0)
        f.write(data)
    with pytest.raises(cogmem.CogmemError) as ei:
        cogmem.Store(DIM, d)
    assert ei.value.errno == errno.EBADMSG
    assert ei.value.where["file"] == os.path.basename(seg)
    assert ei.value.where["detail"]
    assert os.path.basename(seg) in str(ei.value)


def test_second_open_of_a_directory_is_busy(tmp_path):
    d = str(tmp_path / "store")
    with cogmem.Store(DIM, d):
        with pytest.raises(cogmem.StoreBusy) as ei:
            cogmem.Store(DIM, d)
        assert ei.value.errno == errno.EBUSY


def test_errors(tmp_path):
    with cogmem.Store(DIM) as s, pytest.raises(cogmem.InvalidArgument):
        s.snapshot()  # no directory
    with pytest.raises(ValueError):
        cogmem.Store(DIM, str(tmp_path / "x"), durability="sometimes")
    with pytest.raises(cogmem.NotFound):
        cogmem.snapshot_verify(str(tmp_path / "none.cgs"))
    d = str(tmp_path / "s")
    with cogmem.Store(DIM, d, durability="none") as s:
        s.add_concept(1, np.ones(DIM, np.float32))
        s.snapshot()
    good = glob.glob(os.path.join(d, "snap-*.cgs"))[0]
    bad = str(tmp_path / "bad.cgs")
    shutil.copy(good, bad)
    with open(bad, "r+b") as f:
        f.seek(os.path.getsize(bad) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(cogmem.CogmemError) as ei:
        cogmem.snapshot_verify(bad)
    assert ei.value.errno == errno.EBADMSG
    assert ei.value.where["section"] and ei.value.where["detail"]


def _store_with_snapshot(d, n=3):
    rng = np.random.default_rng(11)
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    with cogmem.Store(DIM, d, durability="none") as s:
        for i in range(n):
            s.add_concept(i + 1, vecs[i])
        s.add_episode(100, vecs[0])
        s.bind(100, 1, 0.5)
        rep = s.snapshot()
    return rep, glob.glob(os.path.join(d, "snap-*.cgs"))[0]


def test_snapshot_returns_what_it_wrote(tmp_path):
    rep, snap = _store_with_snapshot(str(tmp_path / "s"))
    summ = cogmem.snapshot_verify(snap)
    assert rep["snapshot"] == os.path.basename(snap)
    assert int(rep["snapshot"][5:21], 16) == rep["begin_lsn"] == summ["begin_lsn"]
    assert (rep["concepts"], rep["episodes"], rep["bindings"]) == (3, 1, 1)
    assert rep["histories"] == summ["histories"]
    with pytest.raises(ValueError):
        cogmem.Store(DIM, str(tmp_path / "s"), open_mode="lazy")


def test_mmap_snapshot_names_a_corrupt_row(tmp_path):
    d = str(tmp_path / "m")
    _, snap = _store_with_snapshot(d)
    rows = [x for x in cogmem.snapshot_verify(snap)["sections"]
            if x["name"] == "concept-vectors"][0]
    with open(snap, "r+b") as f:  # a low mantissa bit of row 1's first float
        f.seek(rows["offset"] + 128)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x01]))
    with pytest.raises(cogmem.CogmemError):
        cogmem.Store(DIM, d, durability="none")  # a COPY open checks the row
    fresh = {}
    with cogmem.Store(DIM, d, durability="none", open_mode="mmap") as s:
        # The MMAP open did not read the row; each snapshot refuses one
        # mapped row of the failing chunk (all three rows are in it).
        before = sorted(os.listdir(d))
        # One walk names all three (and marks nothing that fails).
        assert sorted(s.check_mapped_rows()) == [("concept", 1),
                                                 ("concept", 2),
                                                 ("concept", 3)]
        while True:
            try:
                s.snapshot()
                break
            except cogmem.CogmemError as e:
                assert e.errno == errno.EBADMSG
                w = e.where
                assert w["kind"] == "concept" and w["id"] not in fresh
                assert w["file"] == os.path.basename(snap)
                assert "checksum" in w["detail"]
                assert sorted(os.listdir(d)) == before  # nothing written
                fresh[w["id"]] = np.full(DIM, float(w["id"]), np.float32)
                s.set_centroid(w["id"], fresh[w["id"]])
        assert s.check_mapped_rows() == []  # all replaced
    assert sorted(fresh) == [1, 2, 3]
    with cogmem.Store(DIM, d, durability="none") as s:  # COPY loads it
        for i, v in fresh.items():
            assert np.array_equal(s.vector(i, copy=True), v)
        assert s.check_mapped_rows() == []  # maps nothing
