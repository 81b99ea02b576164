"""The ctypes mirrors match the C headers (sizes and every field offset)."""
import ctypes
import subprocess

import pytest

from conftest import LAYOUT
from cogmem import _lib, HIT_DTYPE


def c_layout():
    out = subprocess.run([LAYOUT], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return dict((k, int(v)) for k, v in
                (line.rsplit(" ", 1) for line in out.splitlines()))


@pytest.mark.parametrize("cname", sorted(_lib.STRUCTS))
def test_struct_matches_c(cname):
    c = c_layout()
    cls = _lib.STRUCTS[cname]
    fields = [f for f, _ in cls._fields_]
    # cogmem_hit's union member is mirrored as an anonymous union "u".
    fields = ["activation" if f == "u" else f for f in fields]
    for f in fields:
        assert getattr(cls, f).offset == c["%s.%s" % (cname, f)], f
    mirrored = {k.split(".", 1)[1] for k in c if k.startswith(cname + ".")}
    assert mirrored == set(fields)
    if cname in _lib.EXACT:
        assert ctypes.sizeof(cls) == c[cname]
    else:
        # Filled by the library's init into a larger buffer: a prefix.
        assert ctypes.sizeof(cls) <= c[cname] <= _lib._PARAMS_ROOM


def test_hit_dtype_is_the_c_record():
    c = c_layout()
    assert HIT_DTYPE.itemsize == c["cogmem_recall_hit"] == c["cogmem_hit"]
    assert HIT_DTYPE.fields["kind"][1] == c["cogmem_recall_hit.kind"]
    assert HIT_DTYPE.fields["score"][1] == c["cogmem_recall_hit.score"]


def test_init_writes_the_library_size():
    buf = (ctypes.c_char * _lib._PARAMS_ROOM)()
    _lib.load().cogmem_recall_params_init(buf)
    size = ctypes.c_size_t.from_buffer(buf).value
    assert size == c_layout()["cogmem_recall_params"]
