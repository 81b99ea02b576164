"""Many Python threads on one Store (ctypes releases the GIL in each call)."""
import threading

import numpy as np

import cogmem
from cogmem import Kind

DIM = 32
THREADS = 4
PER = 400


def worker(s, t, errors, live):
    rng = np.random.default_rng(t)
    base = (t + 1) * 100000
    concept = base
    try:
        s.add_concept(concept, rng.standard_normal(DIM))
        mine = set()
        for j in range(1, PER + 1):
            i = base + j
            s.add_episode(i, rng.standard_normal(DIM))
            s.bind(i, concept, 0.5)
            mine.add(i)
            v = s.vector(i)
            assert v.shape == (DIM,) and np.isfinite(v).all()
            if j % 3 == 0:
                s.remove(i - 1)  # removes its binding too
                mine.discard(i - 1)
            if j % 10 == 0:
                h = s.recall(rng.standard_normal(DIM), 5, kinds=Kind.EPISODE)
                assert len(h) == 5 and len(set(h.ids.tolist())) == 5
                s.blend(concept, rng.standard_normal(DIM), 0.1)
                s.spread([concept], k=10)
            del v
        live[t] = (concept, mine)
    except Exception as e:  # reported by the main thread
        errors.append(e)


def test_threads_mix_and_bookkeeping_holds():
    with cogmem.Store(DIM) as s:
        errors, live = [], {}
        ts = [threading.Thread(target=worker, args=(s, t, errors, live))
              for t in range(THREADS)]
        for x in ts:
            x.start()
        for x in ts:
            x.join()
        assert not errors, errors
        want = set()
        for concept, mine in live.values():
            want |= mine
            assert s.fan_out(concept) == len(mine)
            assert set(s.bindings(concept)[0].tolist()) == mine
        assert set(s.ids(Kind.EPISODE).tolist()) == want
        assert s.count(Kind.CONCEPT) == THREADS
        assert s.binding_count() == len(want)
        assert s.stats()["kinds"]["episode"]["vectors_referenced"] == 0


def test_close_waits_for_running_calls():
    s = cogmem.Store(DIM)
    s.add_episode(np.arange(1, 20001), np.random.default_rng(1).standard_normal((20000, DIM)))
    started = threading.Event()
    results = []

    def recaller():
        started.set()
        try:
            while True:
                results.append(len(s.recall_batch(np.ones((64, DIM)), 10, threads=1)))
        except ValueError as e:  # "closed store": the loop's way out
            results.append(str(e))

    t = threading.Thread(target=recaller)
    t.start()
    started.wait()
    s.close()  # must wait for the batch in flight, never free under it
    t.join()
    assert s.closed and results[-1] == "closed store"
    assert all(r == 64 for r in results[:-1])


def test_close_waits_inside_a_call():
    """close() from another thread while a call is inside the C library
    must not return (nor free the store) until that call has."""
    s = cogmem.Store(DIM)
    s.add_concept([1, 2, 3], np.ones((3, DIM)))
    inside, go = threading.Event(), threading.Event()
    seen = []

    def visit_slowly():
        orig = cogmem._lib.VISIT_FN

        def hook(i, kind, arg):
            seen.append(i)
            inside.set()
            go.wait()
            return 0
        fn = orig(hook)
        s._call("cogmem_foreach", int(Kind.ALL), fn, None)

    t = threading.Thread(target=visit_slowly)
    t.start()
    inside.wait()
    closer = threading.Thread(target=s.close)
    closer.start()
    closer.join(0.5)
    still_waiting = closer.is_alive()
    go.set()
    t.join()
    closer.join()
    assert still_waiting and s.closed and sorted(seen) == [1, 2, 3]
