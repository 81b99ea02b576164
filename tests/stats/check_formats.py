"""Parse stats_dump's JSON with json and its Prometheus text with
prometheus_client's parser, and check both against the known history
(see stats_dump.c) and against each other.

Usage: /usr/bin/python3 check_formats.py STATS_DUMP_EXE WORKDIR
"""
import json
import os
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

exe, workdir = sys.argv[1], sys.argv[2]
os.makedirs(workdir, exist_ok=True)
jpath = os.path.join(workdir, "stats.json")
ppath = os.path.join(workdir, "stats.prom")
subprocess.run([exe, jpath, ppath], check=True)

with open(jpath) as f:
    j = json.load(f)
with open(ppath) as f:
    text = f.read()

# --- the exposition format's rules the parser is lenient about
helped, typed = set(), {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        name, doc = line[7:].split(" ", 1)
        assert doc.strip(), "empty HELP for " + name
        helped.add(name)
    elif line.startswith("# TYPE "):
        name, typ = line[7:].split(" ")
        assert name in helped, "TYPE before HELP for " + name
        assert name not in typed, "two TYPE lines for " + name
        typed[name] = typ
    else:
        assert line and not line.startswith("#"), "stray line: %r" % line
        sample = line.split("{")[0].split(" ")[0]
        assert sample.startswith("cogmem_"), sample
        base = sample
        for suffix in ("_bucket", "_sum", "_count"):
            if typed.get(sample[: -len(suffix)] if sample.endswith(suffix) else None) == "histogram":
                base = sample[: -len(suffix)]
        assert base in typed, "sample without TYPE: " + sample

# --- the real parser
fam = {}
for mf in text_string_to_metric_families(text):
    assert mf.documentation, mf.name
    fam[mf.name] = mf

def samples(name, suffix=""):
    return [s for s in fam[name].samples if s.name == name + suffix]

def total(name, **labels):
    return sum(s.value for s in samples(name, "_total" if fam[name].type == "counter" else "")
               if all(s.labels.get(k) == v for k, v in labels.items()))

assert fam["cogmem_lookups"].type == "counter"
assert fam["cogmem_nodes"].type == "gauge"
assert fam["cogmem_latency_seconds"].type == "histogram"

want = {
    ("concept", "adds"): 40, ("episode", "adds"): 30,
    ("concept", "hits"): 40 + 1920, ("concept", "misses"): 24, ("concept", "lookups"): 64 + 1920,
    ("episode", "hits"): 30, ("episode", "misses"): 34, ("episode", "lookups"): 64,
    ("concept", "removes"): 10, ("episode", "removes"): 0,
    ("concept", "replacements"): 2, ("concept", "nodes"): 30, ("episode", "nodes"): 30,
}
for (kind, what), n in want.items():
    got = total("cogmem_" + what, kind=kind)
    assert got == n, "prometheus %s %s: %s != %s" % (kind, what, got, n)
    assert j["kinds"][kind][what] == n, "json %s %s: %s != %s" % (kind, what, j["kinds"][kind][what], n)

# Labels: every kind has shards 0..15, and JSON and Prometheus agree per shard.
for kind in ("concept", "episode"):
    shards = j["kinds"][kind]["shards"]
    assert len(shards) == 16
    for what in ("lookups", "hits", "misses", "adds", "removes", "replacements", "nodes"):
        assert sum(s[what] for s in shards) == j["kinds"][kind][what], (kind, what)
        for i, s in enumerate(shards):
            assert total("cogmem_" + what, kind=kind, shard=str(i)) == s[what], (kind, what, i)
    assert j["kinds"][kind]["deferred_frees_pending"] == 0
    assert total("cogmem_deferred_frees_pending", kind=kind) == 0
    assert j["kinds"][kind]["vectors_referenced"] == 0

# Histograms: cumulative, +Inf == count, known sample sets.
def hist(op):
    b = [(float(s.labels["le"]), s.value) for s in samples("cogmem_latency_seconds", "_bucket")
         if s.labels["op"] == op]
    cnt = [s.value for s in samples("cogmem_latency_seconds", "_count") if s.labels["op"] == op][0]
    sm = [s.value for s in samples("cogmem_latency_seconds", "_sum") if s.labels["op"] == op][0]
    return b, cnt, sm

for op in ("lookup", "recall", "spread", "decay"):
    b, cnt, _ = hist(op)
    assert b[-1][0] == float("inf") and b[-1][1] == cnt, op
    assert all(b[i][0] < b[i + 1][0] and b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), op
    assert j["latency"][op]["samples"] == cnt, op

b, cnt, sm = hist("lookup")
assert j["sample_every"] in (64, 128, 256, 512, 1024, 2048), j["sample_every"]
assert cnt == 2048 // j["sample_every"], cnt  # 2048 lookups in a row
b, cnt, sm = hist("recall")
assert cnt == 3 and abs(sm - 1.003e-3) < 1e-12, (cnt, sm)
def le(ns):  # the bucket at (ns) nanoseconds; le values are printed with 9 digits
    return [v for bound, v in b if abs(bound - ns * 1e-9) <= ns * 1e-18][0]

assert le(511) == 0 and le(1023) == 1 and le(2047) == 2, b
assert le(2 ** 19 - 1) == 2 and le(2 ** 20 - 1) == 3, b
rq = j["latency"]["recall"]
assert rq["sum_ns"] == 1003000 and 1000000 < rq["p999_ns"] <= 1125000, rq
assert total("cogmem_queries", query="recall") == 3 and j["events"]["queries_recall"] == 3
assert total("cogmem_queries", query="spread") == 0

info = samples("cogmem_info")[0].labels
assert info["allocator"] == j["allocator"] and info["numa_fallback"] == j["numa_fallback"]
print("formats OK: %d metric families" % len(fam))
