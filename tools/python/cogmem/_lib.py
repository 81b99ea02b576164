"""ctypes mirror of cogmem's public C API (include/cogmem*.h).

Only what the Python package calls is declared. Parameter structs are
filled by the library's own *_init() functions into an oversized zeroed
buffer (see `params`), so a library whose structs have grown new fields at
their end still gets its defaults for them; the mirrors below need only be
a correct prefix of those. Records the library writes into arrays
(cogmem_recall_hit, cogmem_hit, the info structs) must match exactly: the
test test_layout.py compares every mirror with a C program that prints
sizeof/offsetof from the headers.
"""
import ctypes
import ctypes.util
import os
from ctypes import (POINTER, Structure, Union, c_char_p, c_double, c_float,
                    c_int, c_int32, c_size_t, c_uint, c_uint32, c_uint64,
                    c_void_p)

CONCEPT = 1
EPISODE = 2
ALL_KINDS = 3

FMT_JSON = 1
FMT_PROMETHEUS = 2
FMT_TABLE = 3


class Config(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("dim", c_uint32),
        ("expected_concepts", c_uint64),
        ("expected_episodes", c_uint64),
        ("fan_mode", c_int32),
        ("actr_max_assoc", c_float),
        ("actr_decay", c_float),
        ("actr_history", c_uint32),
        ("actr_latency_factor", c_float),
        ("actr_threshold", c_float),
        ("actr_noise", c_float),
        ("numa_policy", c_int),
        ("concept_node", c_int),
        ("episode_node", c_int),
        ("stats", c_uint),
        ("bf16_rows", c_uint32),
        ("path", c_char_p),
        ("durability", c_int32),
        ("sync_interval_ms", c_uint32),
        ("max_episodes", c_uint64),
        ("index", c_uint32),
        ("index_m", c_uint32),
        ("index_ef_construction", c_uint32),
        ("index_ef_search", c_uint32),
        ("open_mode", c_int32),
    ]


class ConceptInfo(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("created_ns", c_uint64),
        ("touched_ns", c_uint64),
        ("fan_out", c_uint32),
        ("binding_version", c_uint32),
        ("centroid_version", c_uint32),
        ("activation", c_float),
        ("norm", c_float),
    ]


class EpisodeInfo(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("time_ns", c_uint64),
        ("fan_in", c_uint32),
        ("strength", c_float),
        ("activation", c_float),
        ("norm", c_float),
    ]


class BindingInfo(Structure):
    _fields_ = [
        ("episode", c_uint64),
        ("concept", c_uint64),
        ("strength", c_float),
        ("created_ns", c_uint64),
        ("touched_ns", c_uint64),
        ("decayed_ns", c_uint64),
    ]


class RecallHit(Structure):
    _fields_ = [("id", c_uint64), ("kind", c_int), ("score", c_float)]


class _HitValue(Union):
    _fields_ = [("activation", c_float), ("score", c_float)]


class Hit(Structure):
    _anonymous_ = ("u",)
    _fields_ = [("id", c_uint64), ("kind", c_int32), ("u", _HitValue)]


class RecallParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("metric", c_int),
        ("min_score", c_float),
        ("filter", c_void_p),
        ("filter_arg", c_void_p),
        ("w_sim", c_float),
        ("w_recency", c_float),
        ("w_act", c_float),
        ("half_life_ns", c_uint64),
        ("now_ns", c_uint64),
        ("threads", c_uint),
        ("parallel_min_work", c_uint64),
        ("bf16", c_int),
        ("bf16_rerank", c_uint32),
    ]


class DecayParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("model", c_int32),
        ("half_life_ns", c_uint64),
        ("power_d", c_float),
        ("power_scale_ns", c_uint64),
        ("factor", c_float),
        ("prune_below", c_float),
    ]


class DecayResult(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("concepts", c_uint64),
        ("decayed", c_uint64),
        ("pruned", c_uint64),
    ]


class Source(Structure):
    _fields_ = [("id", c_uint64), ("weight", c_float)]


class SpreadParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("max_depth", c_uint32),
        ("hop_decay", c_float),
        ("threshold", c_float),
        ("max_nodes", c_uint32),
        ("use_strength", c_int32),
        ("fan_mode", c_int32),
        ("add_base_level", c_int32),
        ("now_ns", c_uint64),
    ]


FORM_ID_FN = ctypes.CFUNCTYPE(c_uint64, c_void_p, c_uint64, c_size_t)


class FormParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("min_similarity", c_float),
        ("min_coherence", c_float),
        ("min_members", c_uint32),
        ("select", c_int32),
        ("ids", POINTER(c_uint64)),
        ("n_ids", c_size_t),
        ("t_from_ns", c_uint64),
        ("t_to_ns", c_uint64),
        ("threads", c_uint32),
        ("method", c_int32),
        ("exact_max", c_uint64),
        ("refine_passes", c_uint32),
        ("dry_run", c_int32),
        ("next_id", c_uint64),
        ("id_fn", c_void_p),
        ("id_arg", c_void_p),
    ]


class FormConcept(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("first", c_size_t),
        ("count", c_uint32),
        ("coherence", c_float),
        ("norm", c_float),
    ]


class FormResult(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("n_selected", c_size_t),
        ("n_clusters", c_size_t),
        ("n_concepts", c_size_t),
        ("n_members", c_size_t),
        ("method", c_int32),
        ("selected", POINTER(c_uint64)),
        ("labels", POINTER(c_uint32)),
        ("concepts", POINTER(FormConcept)),
        ("members", POINTER(c_uint64)),
        ("contribution", POINTER(c_float)),
    ]


class ConsolidateResult(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("concept", c_uint64),
        ("score", c_float),
        ("strength", c_float),
        ("bound", c_int32),
    ]


class ForgetParams(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("max_episodes", c_uint64),
        ("now_ns", c_uint64),
        ("w_binding", c_float),
        ("consolidated_bonus", c_float),
        ("dry_run", c_int32),
    ]


class ForgetResult(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("examined", c_uint64),
        ("removed", c_uint64),
        ("unbound", c_uint64),
        ("max_retention", c_double),
    ]


class SnapshotReport(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("error", c_int),
        ("snapshot", ctypes.c_char * 96),
        ("begin_lsn", c_uint64),
        ("concepts", c_uint64),
        ("episodes", c_uint64),
        ("bindings", c_uint64),
        ("histories", c_uint64),
        ("bad_kind", c_int),
        ("bad_id", c_uint64),
        ("mapped_file", ctypes.c_char * 96),
        ("detail", ctypes.c_char * 128),
    ]


class OpenReport(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("error", c_int),
        ("snapshot", ctypes.c_char * 96),
        ("snapshot_lsn", c_uint64),
        ("concepts", c_uint64),
        ("episodes", c_uint64),
        ("bindings", c_uint64),
        ("segments", c_uint32),
        ("records_replayed", c_uint64),
        ("records_skipped", c_uint64),
        ("next_lsn", c_uint64),
        ("tail_bytes_dropped", c_uint64),
        ("temp_files_removed", c_uint32),
        ("bad_file", ctypes.c_char * 96),
        ("bad_section", ctypes.c_char * 32),
        ("bad_offset", c_uint64),
        ("detail", ctypes.c_char * 128),
    ]


class SnapshotSection(Structure):
    _fields_ = [
        ("name", ctypes.c_char * 16),
        ("offset", c_uint64),
        ("length", c_uint64),
        ("count", c_uint64),
        ("xxh3", c_uint64),
    ]


SNAPSHOT_MAX_SECTIONS = 8


class SnapshotSummary(Structure):
    _fields_ = [
        ("struct_size", c_size_t),
        ("format_major", c_uint32),
        ("format_minor", c_uint32),
        ("compat", c_uint64),
        ("ro_compat", c_uint64),
        ("incompat", c_uint64),
        ("dim", c_uint32),
        ("row_bytes", c_uint32),
        ("begin_lsn", c_uint64),
        ("created_ns", c_uint64),
        ("file_bytes", c_uint64),
        ("fan_mode", c_int32),
        ("actr_max_assoc", c_float),
        ("actr_decay", c_float),
        ("actr_latency_factor", c_float),
        ("actr_threshold", c_float),
        ("actr_noise", c_float),
        ("actr_history", c_uint32),
        ("concepts", c_uint64),
        ("episodes", c_uint64),
        ("bindings", c_uint64),
        ("histories", c_uint64),
        ("vector_chunks", c_uint64),
        ("nsections", c_uint32),
        ("sections", SnapshotSection * SNAPSHOT_MAX_SECTIONS),
        ("bad_section", ctypes.c_char * 32),
        ("bad_offset", c_uint64),
        ("detail", ctypes.c_char * 128),
    ]


# Every mirrored struct, by its C name (test_layout.py walks this).
STRUCTS = {
    "cogmem_config": Config,
    "struct cogmem_concept_info": ConceptInfo,
    "struct cogmem_episode_info": EpisodeInfo,
    "struct cogmem_binding_info": BindingInfo,
    "cogmem_recall_hit": RecallHit,
    "cogmem_hit": Hit,
    "cogmem_recall_params": RecallParams,
    "cogmem_decay_params": DecayParams,
    "cogmem_decay_result": DecayResult,
    "cogmem_source": Source,
    "cogmem_spread_params": SpreadParams,
    "struct cogmem_open_report": OpenReport,
    "struct cogmem_snapshot_report": SnapshotReport,
    "cogmem_form_params": FormParams,
    "cogmem_form_concept": FormConcept,
    "cogmem_form_result": FormResult,
    "cogmem_consolidate_result": ConsolidateResult,
    "cogmem_forget_params": ForgetParams,
    "cogmem_forget_result": ForgetResult,
    "cogmem_snapshot_section": SnapshotSection,
    "cogmem_snapshot_summary": SnapshotSummary,
}
# Structs the library writes as arrays or whole records: their size must be
# exactly the C size. The others are filled through `params` and need only
# be a prefix.
EXACT = {"struct cogmem_concept_info", "struct cogmem_episode_info",
         "struct cogmem_binding_info", "cogmem_recall_hit", "cogmem_hit",
         "cogmem_source", "cogmem_decay_result", "struct cogmem_open_report",
         "struct cogmem_snapshot_report",
         "cogmem_snapshot_section", "cogmem_snapshot_summary",
         "cogmem_form_concept", "cogmem_form_result",
         "cogmem_consolidate_result", "cogmem_forget_result"}

# Room for a parameter struct the library's *_init() may write: larger
# than any of today's (cogmem_config is < 128 bytes).
_PARAMS_ROOM = 4096

VISIT_FN = ctypes.CFUNCTYPE(c_int, c_uint64, c_int, c_void_p)

_SIGNATURES = {
    "cogmem_version": (c_char_p, []),
    "cogmem_strerror": (c_char_p, [c_int]),
    "cogmem_config_init": (None, [c_void_p]),
    "cogmem_open": (c_int, [c_void_p, POINTER(c_void_p)]),
    "cogmem_open_report": (c_int, [c_void_p, POINTER(c_void_p),
                                   POINTER(OpenReport)]),
    "cogmem_close": (c_int, [POINTER(c_void_p)]),
    "cogmem_snapshot": (c_int, [c_void_p]),
    "cogmem_snapshot_report": (c_int, [c_void_p, POINTER(SnapshotReport)]),
    # cogmem_bad_row_fn has cogmem_visit_fn's shape: (uint64, int, void *).
    "cogmem_check_mapped_rows": (c_int, [c_void_p, VISIT_FN, c_void_p,
                                         POINTER(c_uint64)]),
    "cogmem_sync": (c_int, [c_void_p]),
    "cogmem_snapshot_verify": (c_int, [c_char_p, POINTER(SnapshotSummary)]),
    "cogmem_dim": (c_uint32, [c_void_p]),
    "cogmem_reserve": (c_int, [c_void_p, c_uint, c_uint64]),
    "cogmem_kind_of": (c_int, [c_void_p, c_uint64]),
    "cogmem_count": (c_int, [c_void_p, c_uint, POINTER(c_uint64)]),
    "cogmem_foreach": (c_int, [c_void_p, c_uint, VISIT_FN, c_void_p]),
    "cogmem_concept_add": (c_int, [c_void_p, c_uint64, c_void_p]),
    "cogmem_concept_set_centroid": (c_int, [c_void_p, c_uint64, c_void_p]),
    "cogmem_concept_blend": (c_int, [c_void_p, c_uint64, c_void_p, c_float]),
    "cogmem_concept_info": (c_int, [c_void_p, c_uint64, POINTER(ConceptInfo)]),
    "cogmem_concept_remove": (c_int, [c_void_p, c_uint64]),
    "cogmem_episode_add": (c_int, [c_void_p, c_uint64, c_void_p, c_uint64]),
    "cogmem_episode_info": (c_int, [c_void_p, c_uint64, POINTER(EpisodeInfo)]),
    "cogmem_episode_remove": (c_int, [c_void_p, c_uint64]),
    "cogmem_vec_get": (c_int, [c_void_p, c_uint64, POINTER(c_void_p)]),
    "cogmem_vec_data": (c_void_p, [c_void_p]),
    "cogmem_vec_dim": (c_uint32, [c_void_p]),
    "cogmem_vec_put": (None, [c_void_p]),
    "cogmem_bind": (c_int, [c_void_p, c_uint64, c_uint64, c_float]),
    "cogmem_binding_adjust": (c_int, [c_void_p, c_uint64, c_uint64, c_float,
                                      POINTER(c_float)]),
    "cogmem_binding_get": (c_int, [c_void_p, c_uint64, c_uint64,
                                   POINTER(c_float)]),
    "cogmem_binding_info": (c_int, [c_void_p, c_uint64, c_uint64,
                                    POINTER(BindingInfo)]),
    "cogmem_unbind": (c_int, [c_void_p, c_uint64, c_uint64]),
    "cogmem_fan_out": (c_int, [c_void_p, c_uint64, POINTER(c_uint32)]),
    "cogmem_fan_in": (c_int, [c_void_p, c_uint64, POINTER(c_uint32)]),
    "cogmem_concept_episodes": (c_int, [c_void_p, c_uint64, c_void_p, c_void_p,
                                        c_size_t, POINTER(c_size_t)]),
    "cogmem_episode_concepts": (c_int, [c_void_p, c_uint64, c_void_p, c_void_p,
                                        c_size_t, POINTER(c_size_t)]),
    "cogmem_binding_count": (c_int, [c_void_p, POINTER(c_uint64)]),
    "cogmem_decay_params_init": (None, [c_void_p]),
    "cogmem_decay": (c_int, [c_void_p, c_void_p, c_uint64,
                             POINTER(DecayResult)]),
    "cogmem_spread_params_init": (None, [c_void_p]),
    "cogmem_spread": (c_int, [c_void_p, c_void_p, c_size_t, c_void_p, c_void_p,
                              c_size_t, POINTER(c_size_t)]),
    "cogmem_touch": (c_int, [c_void_p, c_uint64, c_uint64]),
    "cogmem_recall_params_init": (None, [c_void_p]),
    "cogmem_recall": (c_int, [c_void_p, c_void_p, c_uint, c_size_t, c_void_p,
                              c_void_p, POINTER(c_size_t)]),
    "cogmem_recall_batch": (c_int, [c_void_p, c_void_p, c_size_t, c_uint,
                                    c_size_t, c_void_p, c_void_p, c_void_p]),
    "cogmem_stats_format": (c_int, [c_void_p, c_int, c_char_p, c_size_t,
                                    POINTER(c_size_t)]),
    "cogmem_stats_reset": (c_int, [c_void_p]),
    "cogmem_form_params_init": (None, [c_void_p]),
    "cogmem_form_concepts": (c_int, [c_void_p, c_void_p, POINTER(FormResult)]),
    "cogmem_form_result_free": (None, [POINTER(FormResult)]),
    "cogmem_consolidate": (c_int, [c_void_p, c_uint64, c_void_p,
                                   POINTER(ConsolidateResult)]),
    "cogmem_forget_params_init": (None, [c_void_p]),
    "cogmem_forget": (c_int, [c_void_p, c_void_p, POINTER(ForgetResult)]),
}

_HINT = ("cogmem needs a libcogmem.so built with -Djemalloc=disabled (a "
         "library linked to libjemalloc cannot be dlopen()ed: 'cannot "
         "allocate memory in static TLS block'): "
         "meson setup build-py -Djemalloc=disabled -Dtests=false "
         "-Dbenchmarks=false && meson compile -C build-py, then "
         "COGMEM_LIBRARY=$PWD/build-py/src/libcogmem.so")


def _candidates():
    env = os.environ.get("COGMEM_LIBRARY")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [os.path.join(here, "libcogmem.so")]
    found = ctypes.util.find_library("cogmem")
    if found:
        out.append(found)
    return out


def load():
    """Open libcogmem.so: $COGMEM_LIBRARY, else one next to the package,
    else the system's. Raises ImportError naming the jemalloc fix."""
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            errors.append("%s: no such file" % path)
            continue
        try:
            lib = ctypes.CDLL(path)  # CDLL: calls release the GIL
        except OSError as e:
            errors.append(str(e))
            continue
        for name, (res, args) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        return lib
    raise ImportError("cannot load libcogmem.so (%s). %s"
                      % ("; ".join(errors) or "not found", _HINT))


def params(init_fn, cls):
    """A `cls` filled by the library's init_fn, inside a zeroed buffer big
    enough for whatever size the library's own struct has (the object keeps
    the buffer alive)."""
    buf = (ctypes.c_char * _PARAMS_ROOM)()
    init_fn(buf)
    return cls.from_buffer(buf)
