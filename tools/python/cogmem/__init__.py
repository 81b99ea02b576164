"""cogmem for Python: ctypes + numpy over libcogmem.so.

    import numpy as np, cogmem
    with cogmem.Store(dim=64) as s:
        s.add_concept(1, np.ones(64, np.float32))
        s.add_episode(2, np.ones(64, np.float32))
        s.bind(2, 1, 0.8)
        hits = s.recall(np.ones(64, np.float32), k=5)   # hits.ids, .kinds, .scores

No compiler is needed: the package is pure Python over a shared library
built with -Djemalloc=disabled (a jemalloc-linked library cannot be
dlopen()ed). The library is found through $COGMEM_LIBRARY, next to the
package, or on the system's library path.

Threads: a Store may be shared by any number of Python threads. Every
method is thread-safe and releases the GIL while the C library works
(ctypes.CDLL does), except close(), which marks the store closing (new
calls raise ValueError), waits for the calls already running, and then
closes; it raises StoreBusy (the store stays open) while arrays returned by
vector() are alive. Do not modify an input array during the call that
received it. recall_batch() starts its own threads (threads=None: all CPUs);
when recalling from many Python threads already, pass threads=1.
"""
import ctypes
import enum
import errno as _errno
import json
import math
import os
import threading
import time
from collections import namedtuple
from ctypes import byref, c_float, c_size_t, c_uint32, c_uint64, c_void_p

import numpy as np

from . import _lib

_C = _lib.load()

__version__ = _C.cogmem_version().decode()

__all__ = [
    "Store", "Kind", "Hits", "BatchHits", "ConceptInfo", "EpisodeInfo",
    "BindingInfo", "CogmemError", "InvalidArgument", "NotFound",
    "AlreadyExists", "OutOfMemory", "OutOfRange", "StoreBusy",
    "WouldDeadlock", "NoSuchDevice", "Unsupported", "FormedConcept",
    "Formation", "Consolidation", "snapshot_verify", "__version__",
]


class Kind(enum.IntFlag):
    """Node kinds; the values are the C bits (COGMEM_CONCEPT, ...)."""
    CONCEPT = _lib.CONCEPT
    EPISODE = _lib.EPISODE
    ALL = _lib.ALL_KINDS


# ------------------------------------------------------------------ errors

class CogmemError(Exception):
    """A negative errno returned by the C library. `.errno` is positive,
    `.strerror` the library's description, `.function` the C function."""

    def __init__(self, function, err, where=None):
        self.errno = -err
        self.strerror = _C.cogmem_strerror(err).decode()
        self.function = function
        # For a corrupt store file: a dict naming file, section, offset and
        # what is wrong there (from the library's report), else None.
        self.where = where
        msg = "%s: %s (errno %d)" % (function, self.strerror, self.errno)
        if where:
            msg += ": " + ", ".join("%s %s" % (k, v) for k, v in where.items()
                                    if v not in ("", None))
        super().__init__(msg)

    def __str__(self):  # KeyError would otherwise print the repr
        return self.args[0]


class InvalidArgument(CogmemError, ValueError):
    """-EINVAL: NaN/Inf, a zero vector under cosine, id 0, bad params."""


class NotFound(CogmemError, KeyError):
    """-ENOENT: no such node or binding."""


class AlreadyExists(CogmemError, KeyError):
    """-EEXIST: the id or binding exists already."""


class OutOfMemory(CogmemError, MemoryError):
    """-ENOMEM."""


class OutOfRange(CogmemError, ValueError):
    """-ERANGE."""


class StoreBusy(CogmemError, RuntimeError):
    """-EBUSY: close() while vector() views are alive, or a store
    directory that another Store (or process) has open."""


class WouldDeadlock(CogmemError, RuntimeError):
    """-EDEADLK: a call the library refuses from inside a callback."""


class NoSuchDevice(CogmemError, OSError):
    """-ENODEV: a NUMA node the machine does not have."""


class Unsupported(CogmemError, NotImplementedError):
    """-ENOTSUP: a feature this build of the library lacks."""


_ERRORS = {
    _errno.EINVAL: InvalidArgument,
    _errno.ENOENT: NotFound,
    _errno.EEXIST: AlreadyExists,
    _errno.ENOMEM: OutOfMemory,
    _errno.ERANGE: OutOfRange,
    _errno.EBUSY: StoreBusy,
    _errno.EDEADLK: WouldDeadlock,
    _errno.ENODEV: NoSuchDevice,
    _errno.ENOTSUP: Unsupported,
}


def error_for(function, rc, where=None):
    """The exception for C return value rc (< 0) of `function`; `where`
    (optional dict) says where in a store file the problem is."""
    return _ERRORS.get(-rc, CogmemError)(function, rc, where)


def _check(function, rc):
    if rc < 0:
        raise error_for(function, rc)
    return rc


# ----------------------------------------------------------------- results

ConceptInfo = namedtuple("ConceptInfo", [f for f, _ in _lib.ConceptInfo._fields_])
EpisodeInfo = namedtuple("EpisodeInfo", [f for f, _ in _lib.EpisodeInfo._fields_])
BindingInfo = namedtuple("BindingInfo", [f for f, _ in _lib.BindingInfo._fields_])

# cogmem_recall_hit and cogmem_hit share this layout (16 bytes), so C
# writes straight into numpy memory.
HIT_DTYPE = np.dtype([("id", "<u8"), ("kind", "<i4"), ("score", "<f4")])


class Hits:
    """Results of one query, best first: numpy arrays `ids` (uint64),
    `kinds` (int32, Kind values) and `scores` (float32; the activation for
    spread())."""
    __slots__ = ("ids", "kinds", "scores")

    def __init__(self, rec):
        self.ids = rec["id"]
        self.kinds = rec["kind"]
        self.scores = rec["score"]

    def __len__(self):
        return len(self.ids)

    def __iter__(self):
        return iter(zip(self.ids.tolist(), self.kinds.tolist(),
                        self.scores.tolist()))

    def __repr__(self):
        return "Hits(ids=%r, scores=%r)" % (self.ids, self.scores)


class BatchHits:
    """Results of a batch of nq queries: `ids`, `kinds`, `scores` of shape
    (nq, k), row i holding query i's hits best first, padded after
    counts[i] with id 0 (never a node's id), kind 0 and score -inf; never
    an error because fewer than k matched. `[i]` gives query i's Hits."""
    __slots__ = ("ids", "kinds", "scores", "counts")

    def __init__(self, rec, counts):
        self.ids = rec["id"]
        self.kinds = rec["kind"]
        self.scores = rec["score"]
        self.counts = counts

    def __len__(self):
        return len(self.counts)

    def __getitem__(self, i):
        n = int(self.counts[i])
        h = Hits.__new__(Hits)
        h.ids, h.kinds, h.scores = (self.ids[i, :n], self.kinds[i, :n],
                                    self.scores[i, :n])
        return h


# ------------------------------------------------------------------ helpers

def _bad_id(i):
    return error_for("id %d" % i, -_errno.EINVAL)


def _id(x):
    """A node id as a Python int; 0 and out-of-range values raise
    InvalidArgument before any C call."""
    i = int(x)
    if i <= 0 or i >= 1 << 64:
        raise _bad_id(i)
    return i


def _now_ns():
    return time.time_ns()


_METRICS = {"cosine": 0, "dot": 1}
_DECAY_MODELS = {"exp": 0, "power": 1, "factor": 2}
_FORM_METHODS = {"auto": 0, "exact": 1, "dpmeans": 2}
_FORM_METHOD_NAMES = {v: k for k, v in _FORM_METHODS.items()}

# One concept formed by Store.form_concepts(): its id, member episode ids
# (ascending) with the strength each was bound with, coherence (mean
# pairwise cosine of the members) and the norm of the members' mean.
FormedConcept = namedtuple("FormedConcept", ["id", "members", "contribution",
                                             "coherence", "norm"])
# What Store.form_concepts() did: the episodes clustered (ascending ids)
# with each one's raw cluster label, the number of clusters, the method run
# ("exact" or "dpmeans") and the concepts formed (or, dry run, that would be).
Formation = namedtuple("Formation", ["selected", "labels", "n_clusters",
                                     "method", "concepts"])
# What Store.consolidate() found: the nearest concept (0: none), the score
# against it, the strength it was bound with, and whether it was bound.
Consolidation = namedtuple("Consolidation", ["concept", "score", "strength",
                                             "bound"])
_FAN_MODES = {"inv_sqrt": 0, "linear": 1, "actr": 2, "none": 3}


def _fan_mode(mode):
    if isinstance(mode, str):
        try:
            return _FAN_MODES[mode]
        except KeyError:
            raise ValueError("fan_mode must be one of %s" % sorted(_FAN_MODES))
    return int(mode)


class _VecRef:
    """Owner of one cogmem_vec reference, exposing it through the numpy
    array interface as read-only memory. The array made from it keeps it
    (as .base); the reference is put when that array is collected."""

    def __init__(self, store, vec, dim):
        self._store = store
        self._vec = vec
        data = _C.cogmem_vec_data(vec)
        self.__array_interface__ = {
            "version": 3, "shape": (dim,), "typestr": "<f4",
            "data": (data, True),  # True: read-only
        }

    def __del__(self):
        vec, self._vec = self._vec, None
        if vec:
            _C.cogmem_vec_put(vec)
            self._store._view_dropped()


# ------------------------------------------------------------------- store

_DURABILITY = {"none": 0, "process": 1, "interval": 2, "sync": 3}
_OPEN_MODE = {"copy": 0, "mmap": 1}


def _struct_dict(rec, skip=("struct_size",)):
    """A ctypes record as a dict: char arrays decoded, nested records and
    arrays of records converted in turn."""
    out = {}
    for name, _ in rec._fields_:
        if name in skip:
            continue
        v = getattr(rec, name)
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        elif isinstance(v, ctypes.Structure):
            v = _struct_dict(v, ())
        elif isinstance(v, ctypes.Array):
            v = [_struct_dict(x, ()) for x in v]
        out[name] = v
    return out


def snapshot_verify(path):
    """Check the snapshot file `path` (both magics, version and features,
    every section's and vector chunk's XXH3, the structure of every record)
    without opening a store (cogmem_snapshot_verify). Returns a dict of
    what was read: format_major/minor, dim, counts (concepts, episodes,
    bindings, histories, vector_chunks), the config that shapes semantics,
    and `sections`, a list of {name, offset, length, count, xxh3}. Raises
    CogmemError (errno EBADMSG) on a corrupt file, its `where` naming the
    section, offset and detail; NotFound if missing."""
    summ = _lib.SnapshotSummary()
    summ.struct_size = ctypes.sizeof(summ)
    rc = _C.cogmem_snapshot_verify(os.fsencode(path), byref(summ))
    if rc < 0:
        where = None
        if summ.detail or summ.bad_section:
            where = {"section": summ.bad_section.decode(errors="replace"),
                     "offset": summ.bad_offset,
                     "detail": summ.detail.decode(errors="replace")}
        raise error_for("cogmem_snapshot_verify", rc, where)
    out = _struct_dict(summ, ("struct_size", "bad_section", "bad_offset",
                              "detail"))
    out["sections"] = out["sections"][:summ.nsections]
    del out["nsections"]
    return out


class Store:
    """A cogmem store (semantic concepts, episodic episodes, bindings).

    Store(dim, path=None, *, durability="process", sync_interval_ms=1000,
    expected_concepts=0, expected_episodes=0, fan_mode=None,
    bf16_rows=False, stats=True, max_episodes=0, open_mode="copy") opens a
    store: in memory (path None), or living in the directory `path`
    (include/cogmem_persist.h: reopened from its snapshot and journal; a
    second opener gets StoreBusy). durability is "none", "process",
    "interval" or "sync"; open_mode "copy" (the snapshot's vectors copied
    and checked at open) or "mmap" (served in place from a read-only
    mapping, checked by the first snapshot that writes them); both are
    ignored without a path. Use it as a context manager or call close(). See the module
    docstring for the thread-safety statement.
    """

    def __init__(self, dim, path=None, *, durability="process",
                 sync_interval_ms=1000, expected_concepts=0,
                 expected_episodes=0, fan_mode=None, bf16_rows=False,
                 stats=True, max_episodes=0, open_mode="copy"):
        dim = int(dim)
        cfg = _lib.params(_C.cogmem_config_init, _lib.Config)
        if path is not None:
            # cfg.path borrows this bytes object: it lives in this frame
            # until cogmem_open() returns (the library copies the path).
            path_b = os.fsencode(path)
            cfg.path = path_b
            if durability not in _DURABILITY:
                raise ValueError("durability: one of %s" % ", ".join(_DURABILITY))
            cfg.durability = _DURABILITY[durability]
            if open_mode not in _OPEN_MODE:
                raise ValueError("open_mode: one of %s" % ", ".join(_OPEN_MODE))
            cfg.open_mode = _OPEN_MODE[open_mode]
            cfg.sync_interval_ms = int(sync_interval_ms)
        cfg.dim = dim
        cfg.expected_concepts = int(expected_concepts)
        cfg.expected_episodes = int(expected_episodes)
        if fan_mode is not None:
            cfg.fan_mode = _fan_mode(fan_mode)
        cfg.bf16_rows = 1 if bf16_rows else 0
        cfg.max_episodes = int(max_episodes)
        cfg.stats = 3 if stats is True else (0 if stats is False else int(stats))
        h = c_void_p()
        # What the open found in the directory (None in memory): the
        # snapshot loaded, counts, journal records replayed/skipped, a torn
        # tail cut off... (struct cogmem_open_report, as a dict).
        self.open_report = None
        if path is None:
            _check("cogmem_open", _C.cogmem_open(byref(cfg), byref(h)))
        else:
            rep = _lib.OpenReport()
            rep.struct_size = ctypes.sizeof(rep)
            rc = _C.cogmem_open_report(byref(cfg), byref(h), byref(rep))
            if rc < 0:
                where = None
                if rep.bad_file or rep.detail:
                    where = {"file": rep.bad_file.decode(errors="replace"),
                             "section": rep.bad_section.decode(errors="replace"),
                             "offset": rep.bad_offset,
                             "detail": rep.detail.decode(errors="replace")}
                raise error_for("cogmem_open", rc, where)
            self.open_report = _struct_dict(rep, ("struct_size", "error",
                                                  "bad_file", "bad_section",
                                                  "bad_offset", "detail"))
        self._h = h
        self.dim = dim
        self._cv = threading.Condition()
        self._inflight = 0
        self._views = 0
        self._closing = False

    # -- lifecycle: an in-flight counter lets close() wait for running calls
    def _enter(self):
        with self._cv:
            if self._closing:
                raise ValueError("closed store")
            self._inflight += 1
        return self._h

    def _leave(self):
        with self._cv:
            self._inflight -= 1
            if self._inflight == 0:
                self._cv.notify_all()

    def _call(self, name, *args):
        """Call C function `name` with the handle first; raise on < 0."""
        h = self._enter()
        try:
            rc = getattr(_C, name)(h, *args)
        finally:
            self._leave()
        return _check(name, rc)

    def _view_dropped(self):
        with self._cv:
            self._views -= 1

    @property
    def closed(self):
        return self._closing

    def close(self):
        """Wait for running calls, then close. Raises StoreBusy (and stays
        open) while vector() arrays are alive. Closing twice is a no-op."""
        with self._cv:
            if self._h is None:
                return
            self._closing = True
            while self._inflight:
                self._cv.wait()
            rc = _C.cogmem_close(byref(self._h))
            if rc < 0:
                self._closing = False
                raise error_for("cogmem_close", rc)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and self._views == 0 and self._inflight == 0:
            _C.cogmem_close(byref(h))
            self._h = None

    # -- vectors in
    def _vec(self, v):
        a = np.ascontiguousarray(v, dtype=np.float32)
        if a.shape != (self.dim,):
            raise ValueError("expected a vector of shape (%d,), got %r"
                             % (self.dim, a.shape))
        return a

    def _mat(self, m):
        a = np.ascontiguousarray(m, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != self.dim:
            raise ValueError("expected a matrix of shape (n, %d), got %r"
                             % (self.dim, a.shape))
        return a

    def _batch_add(self, name, remove, ids, mat, extra):
        ids = [_id(i) for i in np.asarray(ids, dtype=np.uint64).ravel()]
        mat = self._mat(mat)
        if len(ids) != mat.shape[0]:
            raise ValueError("%d ids for %d rows" % (len(ids), mat.shape[0]))
        if not np.isfinite(mat).all():
            raise error_for(name + " (NaN or Inf in the batch)", -_errno.EINVAL)
        done = []
        h = self._enter()
        try:
            fn = getattr(_C, name)
            base = mat.ctypes.data
            stride = mat.strides[0]
            for row, i in enumerate(ids):
                rc = fn(h, i, base + row * stride, *extra(row))
                if rc < 0:
                    # A failed call changes nothing: undo this batch's adds.
                    for j in done:
                        getattr(_C, remove)(h, j)
                    raise error_for(name, rc)
                done.append(i)
        finally:
            self._leave()
        return len(done)

    def snapshot(self):
        """Write a snapshot into the store's directory
        (cogmem_snapshot_report); other threads go on working. Returns a
        dict of what was written: snapshot (the file name), begin_lsn,
        concepts, episodes, bindings, histories. InvalidArgument without a
        path. After open_mode="mmap", a vector row that fails the checks
        the open put off raises CogmemError (errno EBADMSG) whose `where`
        names the node (kind, id), the mapped file and what is wrong;
        nothing is written, and replacing that node's centroid (or
        removing it) lets the next snapshot through."""
        rep = _lib.SnapshotReport()
        rep.struct_size = ctypes.sizeof(rep)
        h = self._enter()
        try:
            rc = _C.cogmem_snapshot_report(h, byref(rep))
        finally:
            self._leave()
        if rc < 0:
            where = None
            if rep.bad_kind:
                where = {"kind": Kind(rep.bad_kind).name.lower(),
                         "id": rep.bad_id,
                         "file": rep.mapped_file.decode(errors="replace"),
                         "detail": rep.detail.decode(errors="replace")}
            raise error_for("cogmem_snapshot", rc, where)
        return _struct_dict(rep, ("struct_size", "error", "bad_kind", "bad_id",
                                  "mapped_file", "detail"))

    def check_mapped_rows(self):
        """Make now the row checks an open_mode="mmap" open put off, for
        every node whose vector is still a mapped row
        (cogmem_check_mapped_rows), and return the nodes whose rows fail as
        a list of (kind, id), kind "concept" or "episode": replace or
        remove each before the next snapshot, which would refuse them.
        What passes is not checked again. [] for a store that maps
        nothing."""
        bad = []

        def visit(i, kind, arg):
            bad.append((Kind(kind).name.lower(), i))
            return 0
        fn = _lib.VISIT_FN(visit)  # referenced for the whole call
        self._call("cogmem_check_mapped_rows", fn, None, None)
        return bad

    def sync(self):
        """Make every mutation so far durable (cogmem_sync)."""
        self._call("cogmem_sync")

    def add_concept(self, id, centroid):
        """Add concept `id` with a copy of `centroid` (dim floats). With a
        sequence of ids and an (n, dim) matrix, adds n concepts; if one
        fails, those already added by this call are removed again."""
        c = np.asarray(centroid)
        if c.ndim == 2:
            return self._batch_add("cogmem_concept_add",
                                   "cogmem_concept_remove", id, c,
                                   lambda row: ())
        a = self._vec(c)
        self._call("cogmem_concept_add", _id(id), a.ctypes.data)

    def add_episode(self, id, embedding, time_ns=None):
        """Add episode `id` at host time time_ns (default: now), or a batch
        as add_concept(); times_ns may then be one value or one per row."""
        e = np.asarray(embedding)
        if e.ndim == 2:
            n = e.shape[0]
            t = np.broadcast_to(np.asarray(_now_ns() if time_ns is None
                                           else time_ns, dtype=np.uint64), (n,))
            return self._batch_add("cogmem_episode_add",
                                   "cogmem_episode_remove", id, e,
                                   lambda row: (int(t[row]),))
        a = self._vec(e)
        self._call("cogmem_episode_add", _id(id), a.ctypes.data,
                   _now_ns() if time_ns is None else int(time_ns))

    def set_centroid(self, id, centroid):
        """Replace concept `id`'s centroid (views of the old one stay
        valid and unchanged)."""
        a = self._vec(centroid)
        self._call("cogmem_concept_set_centroid", _id(id), a.ctypes.data)

    def blend(self, id, x, rate):
        """centroid <- (1 - rate) centroid + rate x."""
        a = self._vec(x)
        self._call("cogmem_concept_blend", _id(id), a.ctypes.data, float(rate))

    def remove(self, id):
        """Remove node `id` of either kind (and all its bindings)."""
        i = _id(id)
        k = self.kind_of(i)
        if k is None:
            raise error_for("cogmem_kind_of", -_errno.ENOENT)
        self._call("cogmem_concept_remove" if k == Kind.CONCEPT
                   else "cogmem_episode_remove", i)

    # -- lookups
    def kind_of(self, id):
        """Kind.CONCEPT or Kind.EPISODE, or None for an unknown id."""
        h = self._enter()
        try:
            rc = _C.cogmem_kind_of(h, _id(id))
        finally:
            self._leave()
        if rc == -_errno.ENOENT:
            return None
        return Kind(_check("cogmem_kind_of", rc))

    def __contains__(self, id):
        try:
            return self.kind_of(id) is not None
        except InvalidArgument:
            return False

    def count(self, kinds=Kind.ALL):
        out = c_uint64()
        self._call("cogmem_count", int(kinds), byref(out))
        return out.value

    def __len__(self):
        return self.count()

    def ids(self, kinds=Kind.ALL):
        """The live ids of the given kinds (uint64 array, shard order)."""
        got = []

        def visit(i, kind, arg):
            got.append(i)
            return 0
        fn = _lib.VISIT_FN(visit)  # referenced for the whole call
        self._call("cogmem_foreach", int(kinds), fn, None)
        return np.array(got, dtype=np.uint64)

    def concept(self, id):
        out = _lib.ConceptInfo()
        self._call("cogmem_concept_info", _id(id), byref(out))
        return ConceptInfo(*(getattr(out, f) for f in ConceptInfo._fields))

    def episode(self, id):
        out = _lib.EpisodeInfo()
        self._call("cogmem_episode_info", _id(id), byref(out))
        return EpisodeInfo(*(getattr(out, f) for f in EpisodeInfo._fields))

    def vector(self, id, *, copy=False):
        """Node `id`'s current embedding as a read-only float32 array over
        the store's own memory (no copy). The array holds a reference that
        keeps that memory unchanged and alive, even after the node is
        removed or its centroid replaced, until the array (and every view
        of it) is garbage-collected. copy=True returns a writable copy."""
        out = c_void_p()
        self._call("cogmem_vec_get", _id(id), byref(out))
        with self._cv:
            self._views += 1
        ref = _VecRef(self, out.value, self.dim)
        arr = np.asarray(ref)
        if copy:
            c = arr.copy()
            del arr, ref
            return c
        return arr

    # -- bindings
    def bind(self, episode, concept, strength=1.0):
        self._call("cogmem_bind", _id(episode), _id(concept), float(strength))

    def adjust(self, episode, concept, delta):
        """strength <- clamp(strength + delta, 0, 1); returns the result."""
        out = c_float()
        self._call("cogmem_binding_adjust", _id(episode), _id(concept),
                   float(delta), byref(out))
        return out.value

    def strength(self, episode, concept):
        out = c_float()
        self._call("cogmem_binding_get", _id(episode), _id(concept), byref(out))
        return out.value

    def binding(self, episode, concept):
        out = _lib.BindingInfo()
        self._call("cogmem_binding_info", _id(episode), _id(concept), byref(out))
        return BindingInfo(*(getattr(out, f) for f in BindingInfo._fields))

    def unbind(self, episode, concept):
        self._call("cogmem_unbind", _id(episode), _id(concept))

    def fan_out(self, concept):
        out = c_uint32()
        self._call("cogmem_fan_out", _id(concept), byref(out))
        return out.value

    def fan_in(self, episode):
        out = c_uint32()
        self._call("cogmem_fan_in", _id(episode), byref(out))
        return out.value

    def _listing(self, name, id):
        i = _id(id)
        cap = 16
        while True:
            ids = np.empty(cap, np.uint64)
            st = np.empty(cap, np.float32)
            n = c_size_t()
            self._call(name, i, ids.ctypes.data, st.ctypes.data, cap, byref(n))
            if n.value <= cap:
                return ids[:n.value], st[:n.value]
            cap = n.value + 16  # bindings were added meanwhile: retry

    def bindings(self, concept):
        """(episode ids, strengths) bound to `concept`."""
        return self._listing("cogmem_concept_episodes", concept)

    def concepts_of(self, episode):
        """(concept ids, strengths) bound to `episode`."""
        return self._listing("cogmem_episode_concepts", episode)

    def binding_count(self):
        out = c_uint64()
        self._call("cogmem_binding_count", byref(out))
        return out.value

    def touch(self, id, now_ns=None):
        """Record a presentation of node `id` (ACT-R base level)."""
        self._call("cogmem_touch", _id(id),
                   _now_ns() if now_ns is None else int(now_ns))

    # -- decay and spreading
    def decay(self, model="exp", *, half_life_s=None, factor=None,
              power_d=None, power_scale_s=None, prune_below=None,
              now_ns=None):
        """Decay every binding up to now_ns (default now) and prune those
        below prune_below (library default 0.01). model: "exp", "power" or
        "factor". Returns {"concepts", "decayed", "pruned"}."""
        p = _lib.params(_C.cogmem_decay_params_init, _lib.DecayParams)
        try:
            p.model = _DECAY_MODELS[model]
        except KeyError:
            raise ValueError("model must be one of %s" % sorted(_DECAY_MODELS))
        if half_life_s is not None:
            p.half_life_ns = int(half_life_s * 1e9)
        if factor is not None:
            p.factor = float(factor)
        if power_d is not None:
            p.power_d = float(power_d)
        if power_scale_s is not None:
            p.power_scale_ns = int(power_scale_s * 1e9)
        if prune_below is not None:
            p.prune_below = float(prune_below)
        r = _lib.DecayResult(struct_size=ctypes.sizeof(_lib.DecayResult))
        self._call("cogmem_decay", byref(p),
                   _now_ns() if now_ns is None else int(now_ns), byref(r))
        return {"concepts": r.concepts, "decayed": r.decayed,
                "pruned": r.pruned}

    # -- the memory life cycle (include/cogmem_life.h)
    def _form_params(self, min_similarity=None, min_coherence=None,
                     min_members=None, episodes="unbound", t_from_ns=None,
                     t_to_ns=None, threads=None, method="auto",
                     exact_max=None, refine_passes=None, dry_run=False,
                     next_id=None):
        p = _lib.params(_C.cogmem_form_params_init, _lib.FormParams)
        keep = None
        if isinstance(episodes, str):
            if episodes not in ("unbound", "all"):
                raise ValueError('episodes: "unbound", "all" or a list of ids')
            p.select = 0 if episodes == "unbound" else 1
        else:
            keep = np.ascontiguousarray(np.asarray(episodes, dtype=np.uint64).ravel())
            p.select = 2
            p.ids = keep.ctypes.data_as(ctypes.POINTER(c_uint64))
            p.n_ids = keep.size
        if method not in _FORM_METHODS:
            raise ValueError("method must be one of %s" % sorted(_FORM_METHODS))
        p.method = _FORM_METHODS[method]
        for name, v, conv in (("min_similarity", min_similarity, float),
                              ("min_coherence", min_coherence, float),
                              ("min_members", min_members, int),
                              ("t_from_ns", t_from_ns, int),
                              ("t_to_ns", t_to_ns, int),
                              ("threads", threads, int),
                              ("exact_max", exact_max, int),
                              ("refine_passes", refine_passes, int),
                              ("next_id", next_id, int)):
            if v is not None:
                setattr(p, name, conv(v))
        p.dry_run = 1 if dry_run else 0
        return p, keep

    def form_concepts(self, *, next_id=None, min_similarity=None,
                      min_coherence=None, min_members=None,
                      episodes="unbound", t_from_ns=None, t_to_ns=None,
                      threads=None, method="auto", exact_max=None,
                      refine_passes=None, dry_run=False):
        """Cluster episodes (by cosine of their embeddings) into new
        concepts, each bound to its members (cogmem_form_concepts).
        episodes: "unbound" (fan-in 0, the default), "all", or episode ids;
        only those with time_ns in [t_from_ns, t_to_ns) if given. method:
        "auto", "exact" (average linkage) or "dpmeans". New concepts get
        ids next_id, next_id + 1, ... (required unless nothing would be
        formed or dry_run). Library defaults: min_similarity 0.55,
        min_coherence 0, min_members 3. Returns a Formation; with dry_run
        nothing is written."""
        p, keep = self._form_params(min_similarity, min_coherence,
                                    min_members, episodes, t_from_ns,
                                    t_to_ns, threads, method, exact_max,
                                    refine_passes, dry_run, next_id)
        r = _lib.FormResult(struct_size=ctypes.sizeof(_lib.FormResult))
        self._call("cogmem_form_concepts", byref(p), byref(r))
        del keep  # the ids array had to live through the call
        try:
            n = r.n_selected
            selected = np.ctypeslib.as_array(r.selected, (n,)).copy() if n else \
                np.zeros(0, np.uint64)
            labels = np.ctypeslib.as_array(r.labels, (n,)).copy() if n else \
                np.zeros(0, np.uint32)
            m = r.n_members
            members = np.ctypeslib.as_array(r.members, (m,)).copy() if m else \
                np.zeros(0, np.uint64)
            contrib = np.ctypeslib.as_array(r.contribution, (m,)).copy() if m else \
                np.zeros(0, np.float32)
            concepts = []
            for i in range(r.n_concepts):
                c = r.concepts[i]
                sl = slice(c.first, c.first + c.count)
                concepts.append(FormedConcept(c.id, members[sl], contrib[sl],
                                              c.coherence, c.norm))
            return Formation(selected, labels, r.n_clusters,
                             _FORM_METHOD_NAMES.get(r.method, r.method),
                             concepts)
        finally:
            _C.cogmem_form_result_free(byref(r))

    def consolidate(self, episode, *, min_similarity=None):
        """Bind `episode` to its nearest concept if their cosine reaches
        min_similarity (library default 0.55) and blend the concept's
        centroid toward it (cogmem_consolidate). Returns a Consolidation."""
        p, _ = self._form_params(min_similarity=min_similarity)
        r = _lib.ConsolidateResult(struct_size=ctypes.sizeof(_lib.ConsolidateResult))
        self._call("cogmem_consolidate", _id(episode), byref(p), byref(r))
        return Consolidation(r.concept, r.score, r.strength, bool(r.bound))

    def forget(self, now_ns, max_episodes=None, *, w_binding=None,
               consolidated_bonus=None, dry_run=False):
        """Remove the episodes of lowest retention (ACT-R base level plus
        binding strengths, a bonus when consolidated) until at most
        max_episodes remain (default: the store's max_episodes). now_ns is
        required: forgetting reads no clock. Returns {"examined", "removed",
        "unbound", "max_retention"}."""
        p = _lib.params(_C.cogmem_forget_params_init, _lib.ForgetParams)
        p.now_ns = int(now_ns)
        if max_episodes is not None:
            p.max_episodes = int(max_episodes)
        if w_binding is not None:
            p.w_binding = float(w_binding)
        if consolidated_bonus is not None:
            p.consolidated_bonus = float(consolidated_bonus)
        p.dry_run = 1 if dry_run else 0
        r = _lib.ForgetResult(struct_size=ctypes.sizeof(_lib.ForgetResult))
        self._call("cogmem_forget", byref(p), byref(r))
        return {"examined": r.examined, "removed": r.removed,
                "unbound": r.unbound, "max_retention": r.max_retention}

    def spread(self, cues, weights=None, *, k=50, depth=2, hop_decay=None,
               threshold=None, max_nodes=None, use_strength=True,
               fan_mode=None, base_level=False, now_ns=None):
        """Spreading activation from the cue ids (each with weight 1, or
        `weights`) along bindings; returns the k most active nodes as Hits
        (scores are activations; the cues themselves are included)."""
        cues = [_id(c) for c in np.atleast_1d(np.asarray(cues, dtype=np.uint64))]
        w = (np.ones(len(cues), np.float32) if weights is None
             else np.asarray(weights, np.float32).ravel())
        if len(w) != len(cues):
            raise ValueError("%d weights for %d cues" % (len(w), len(cues)))
        src = (_lib.Source * max(len(cues), 1))()
        for j, (c, x) in enumerate(zip(cues, w)):
            src[j].id = c
            src[j].weight = float(x)
        p = _lib.params(_C.cogmem_spread_params_init, _lib.SpreadParams)
        p.max_depth = int(depth)
        if hop_decay is not None:
            p.hop_decay = float(hop_decay)
        if threshold is not None:
            p.threshold = float(threshold)
        if max_nodes is not None:
            p.max_nodes = int(max_nodes)
        p.use_strength = 1 if use_strength else 0
        if fan_mode is not None:
            p.fan_mode = _fan_mode(fan_mode)
        p.add_base_level = 1 if base_level else 0
        if now_ns is not None:
            p.now_ns = int(now_ns)
        out = np.zeros(max(int(k), 1), HIT_DTYPE)
        n = c_size_t()
        self._call("cogmem_spread", src, len(cues), byref(p), out.ctypes.data,
                   int(k), byref(n))
        return Hits(out[:n.value])

    # -- recall
    def _recall_params(self, metric, min_score, weights, half_life_s, now_ns,
                       bf16, threads):
        p = _lib.params(_C.cogmem_recall_params_init, _lib.RecallParams)
        try:
            p.metric = _METRICS[metric]
        except KeyError:
            raise ValueError("metric must be one of %s" % sorted(_METRICS))
        p.min_score = float(min_score)
        p.w_sim, p.w_recency, p.w_act = (float(x) for x in weights)
        p.half_life_ns = int(half_life_s * 1e9)
        p.now_ns = 0 if now_ns is None else int(now_ns)
        p.bf16 = 1 if bf16 else 0
        if threads is not None:
            p.threads = int(threads)
        return p

    def recall(self, query, k=10, *, kinds=Kind.ALL, metric="cosine",
               min_score=-math.inf, weights=(1.0, 0.0, 0.0),
               half_life_s=3600.0, now_ns=None, bf16=False):
        """Exact top-k recall of `query` over `kinds`: Hits, best first,
        equal scores by lower id, fewer than k if fewer nodes match.
        weights = (similarity, recency, activation) blends the ranking."""
        q = self._vec(query)
        p = self._recall_params(metric, min_score, weights, half_life_s,
                                now_ns, bf16, None)
        k = int(k)
        out = np.zeros(max(k, 1), HIT_DTYPE)
        n = c_size_t()
        self._call("cogmem_recall", q.ctypes.data, int(kinds), k, byref(p),
                   out.ctypes.data, byref(n))
        return Hits(out[:n.value])

    def recall_batch(self, queries, k=10, *, kinds=Kind.ALL, metric="cosine",
                     min_score=-math.inf, weights=(1.0, 0.0, 0.0),
                     half_life_s=3600.0, now_ns=None, threads=None):
        """recall() for every row of an (nq, dim) matrix in one pass over
        memory; returns BatchHits. threads=None uses every CPU."""
        Q = self._mat(queries)
        p = self._recall_params(metric, min_score, weights, half_life_s,
                                now_ns, False, threads)
        nq, k = Q.shape[0], int(k)
        out = np.zeros((nq, max(k, 1)), HIT_DTYPE)
        out["score"] = -np.inf  # padding: the library writes counts[i] hits
        counts = np.zeros(nq, np.uintp)
        if nq:
            self._call("cogmem_recall_batch", Q.ctypes.data, nq, int(kinds), k,
                       byref(p), out.ctypes.data, counts.ctypes.data)
        return BatchHits(out[:, :k], counts)

    # -- statistics
    def _format(self, fmt):
        need = c_size_t()
        h = self._enter()
        try:
            rc = _C.cogmem_stats_format(h, fmt, None, 0, byref(need))
            while True:
                buf = ctypes.create_string_buffer(need.value + 4096)
                rc = _C.cogmem_stats_format(h, fmt, buf, len(buf), byref(need))
                if rc != -_errno.ERANGE:
                    break
        finally:
            self._leave()
        _check("cogmem_stats_format", rc)
        return buf.value.decode()

    def stats(self):
        """The store's statistics as a dict (the library's JSON)."""
        return json.loads(self._format(_lib.FMT_JSON))

    def stats_json(self):
        return self._format(_lib.FMT_JSON)

    def stats_prometheus(self):
        """The statistics in Prometheus' text exposition format 0.0.4."""
        return self._format(_lib.FMT_PROMETHEUS)

    def stats_table(self):
        return self._format(_lib.FMT_TABLE)

    def stats_reset(self):
        self._call("cogmem_stats_reset")
