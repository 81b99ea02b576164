"""`cogmem load wordnet` and `cogmem query` on the committed fixture, and
on Debian's real WordNet files when wordnet-base is installed."""
import json
import math
import os
import subprocess

import pytest

from conftest import COGMEM_EXE, FIXTURE

REAL = "/usr/share/wordnet"


def run(*args):
    out = subprocess.run([COGMEM_EXE, *args], check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def strength(c, cmax):
    return 0.1 + 0.9 * math.log1p(c) / math.log1p(cmax)


def test_fixture_counts():
    r = run("load", "wordnet", "--dir", FIXTURE, "--json")
    assert (r["synsets"], r["lemmas"], r["senses"], r["bindings"]) == (9, 10, 13, 13)
    assert (r["concepts"], r["episodes"], r["store_bindings"]) == (9, 10, 13)
    assert r["missing"] == 0 and r["tagged"] == 6 and r["tag_max"] == 100
    assert r["most_senses"] == "bank" and r["most_senses_count"] == 3
    assert r["senses_per_lemma"]["1"] == 8 and r["senses_per_lemma"]["3-4"] == 1


def test_fixture_bindings_and_strengths():
    bank = run("query", "--wordnet", FIXTURE, "--json", "info", "bank")
    assert bank["kind"] == "lemma" and bank["text"] == "bank"
    got = {b["id"]: b["strength"] for b in bank["bindings"]}
    # noun senses 1 and 2 (offsets 300, 400), verb sense 1 (offset 200)
    assert got.keys() == {100000300, 100000400, 200000200}
    assert got[100000300] == pytest.approx(strength(25, 100), rel=1e-5)
    assert got[100000400] == pytest.approx(strength(20, 100), rel=1e-5)
    assert got[200000200] == pytest.approx(strength(3, 100), rel=1e-5)
    # the satellite "fine" (ss_type 5) lives in data.adj: POS 3
    fine = run("query", "--wordnet", FIXTURE, "--json", "info", "300000200")
    assert fine["text"] == "a. fine: minutely precise"
    assert [b["strength"] for b in fine["bindings"]] == [pytest.approx(strength(7, 100), rel=1e-5)]
    # a synset lists its lemmas; untagged senses bind at 0.1
    chase = run("query", "--wordnet", FIXTURE, "--json", "info", "200000100")
    assert sorted(b["text"] for b in chase["bindings"]) == ["chase", "dog", "go_after"]
    assert all(b["strength"] == pytest.approx(0.1) for b in chase["bindings"])
    assert chase["text"].startswith("v. chase, dog, go_after: go after")
    good = run("query", "--wordnet", FIXTURE, "--json", "info", "good")
    assert good["bindings"][0]["text"].startswith("a. good:")  # "(a)" marker dropped


def test_fixture_recall_and_spread():
    r = run("query", "--wordnet", FIXTURE, "--json", "-k", "3", "recall", "dog")
    # "dog" is a noun and a verb: its embedding is nearest its own senses
    assert {h["id"] for h in r["recall"][:2]} == {100000100, 200000100}
    s = run("query", "--wordnet", FIXTURE, "--json", "--depth", "1", "spread", "bank")
    ids = [h["id"] for h in s["spread"]]
    assert ids[0] == 1000000001 and set(ids[1:]) == {100000300, 100000400, 200000200}


@pytest.mark.skipif(not os.path.exists(os.path.join(REAL, "data.noun")),
                    reason="wordnet-base is not installed")
def test_real_wordnet_counts():
    r = run("load", "wordnet", "--dir", REAL, "--json")
    # WordNet 3.0: 117,659 synsets, 147,306 lemmas, 206,941 senses
    assert (r["synsets"], r["lemmas"], r["senses"]) == (117659, 147306, 206941)
    assert r["bindings"] == r["store_bindings"] == 206941 and r["missing"] == 0
    assert r["most_senses"] == "break" and r["most_senses_count"] == 75
