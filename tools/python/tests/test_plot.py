"""bench/plot.py: the tables it finds in benchmark output, and the PNG."""
import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "plot", os.path.join(HERE, "..", "..", "..", "bench", "plot.py"))
plot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot)

SAMPLE = """cogmem recall benchmark: ISA avx512
| n | dim | recall q/s | recall/sgemv+heap | top-k overhead |
|---|---|---|---|---|
| 1000 | 256 | 52,000 | 1.25 | +3.1% |
| 100000 | 256 | 610 | 0.97 | -0.5% |

### dot kernels

| kernel | shape | time | ratio |
|---|---|---|---|
| dot_f32 | 1000x256 L1 | 2.50 us | 3.10 |
| dot_f32 | 1M DRAM | 1.20 ms | 1.05 |
"""

STATS = """bench_stats: 100000 concepts, 2 threads
  stats off            41.0 ns/lookup  1.000 x stats off (+0.0%)  [ratio quartiles 1 1]
  counters             43.5 ns/lookup  1.061 x stats off (+6.1%)  [ratio quartiles 1 1]
"""


def test_numbers():
    assert plot.number("52,000") == 52000
    assert plot.number("+3.1%") == pytest.approx(3.1)
    assert plot.number("2.50 us") == pytest.approx(2.5e-6)
    assert plot.number("1.20 ms") == pytest.approx(1.2e-3)
    assert plot.number("dot_f32") is None and plot.number("-") is None


def test_tables_found():
    t = plot.markdown_tables(SAMPLE.splitlines())
    assert [x[0] for x in t] == ["cogmem recall benchmark: ISA avx512", "dot kernels"]
    assert t[0][1][3] == "recall/sgemv+heap" and len(t[0][2]) == 2
    assert plot.is_ratio("recall/sgemv+heap") and plot.is_ratio("ratio")
    assert not plot.is_ratio("recall q/s") and not plot.is_ratio("read GB/s")
    assert not plot.is_ratio("time") and plot.is_ratio("ratio to lookup")
    s = plot.stats_tables(STATS.splitlines())
    assert s[0][2] == [["stats off", "41.0", "1.000"], ["counters", "43.5", "1.061"]]


@pytest.mark.parametrize("text", [SAMPLE, STATS])
def test_png_written(tmp_path, text):
    out = tmp_path / "t.png"
    assert plot.draw(text, str(out), "test") == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_table_no_png(tmp_path):
    out = tmp_path / "t.png"
    assert plot.draw("nothing here\n", str(out), "") == 1
    assert not out.exists()
