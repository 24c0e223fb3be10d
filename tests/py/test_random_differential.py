"""Seeded random differential tests: many small search paths of colliding
distribution names (case, separators, Unicode), odd suffixes and entry point
files with stray whitespace, comments, duplicate keys and extras, compared
with importlib.metadata, without an index and with a fresh one.

A search path on which importlib.metadata itself raises is not compared here
(test_differential.py covers skip-and-report). EPINDEX_RANDOM_SEEDS sets how
many seeds run per interpreter (default 25); a failure names its seed, and
build(root, seed) recreates that search path.
"""
import os
import random
import shutil

import pytest

from envgen import write
from test_differential import PYTHONS, index_dirs, oracle, ours

SEEDS = int(os.environ.get("EPINDEX_RANDOM_SEEDS", "25"))
NAMES = ["foo", "Foo", "foo_bar", "foo-bar", "foo.bar", "FOO__bar", "a", "x",
         "café", "foo bar", "-foo", "foo_"]
VERSIONS = ["1.0", "2", "1.0.post1", "", "1_0", "1-0"]
SUFFIXES = [".dist-info", ".egg-info", ".DIST-INFO", ".dist-info.bak",
            ".Egg-Info"]
HEADERS = ["[g]", "[console_scripts]", "[ g ]", "[pytest11]", "[g ]", "[]",
           "[g.sub]"]
KEYS = ["a", "b", "a ", " c", "d=e", "x", "y", "#z", ";q", "v", "w.x", "ü"]
VALUES = ["m:f", "m.n:f", "m", " m : f ", "m:f [x]", "m:f[x,y]", "", "m:f # c",
          "=", "m:f ; x"]
LAYOUTS = ["%s = %s", "%s=%s", "%s  =  %s", "%s\t=%s"]


def entry_points_txt(r):
    lines = []
    for _ in range(r.randint(0, 4)):
        lines.append(r.choice(HEADERS))
        lines += [r.choice(LAYOUTS) % (r.choice(KEYS), r.choice(VALUES))
                  for _ in range(r.randint(0, 3))]
        if r.random() < 0.2:  # blank and comment lines; rarely, broken ones
            lines.append(r.choice(["", "# comment", "  "] +
                                  (["junk", "; c"] if r.random() < 0.1 else [])))
    return "\n".join(lines) + r.choice(["\n", "", "\r\n"])


def build(root, seed):
    """One to three site directories of up to six distributions each."""
    r = random.Random(seed)
    shutil.rmtree(root, ignore_errors=True)
    paths = []
    for i in range(r.randint(1, 3)):
        site = os.path.join(root, "s%d" % i)
        os.makedirs(site)
        paths.append(site)
        for _ in range(r.randint(0, 6)):
            name, version = r.choice(NAMES), r.choice(VERSIONS)
            meta = os.path.join(site, name + ("-" + version if version else "")
                                + r.choice(SUFFIXES))
            if os.path.exists(meta):
                continue
            os.makedirs(meta)
            if r.random() < 0.98:
                text = "Metadata-Version: 2.1\n"
                if r.random() < 0.98:
                    text += "Name: %s\n" % r.choice(NAMES + [name])
                if r.random() < 0.8:
                    text += "Version: %s\n" % (r.choice(VERSIONS) or "0")
                egg = "egg" in meta.lower() and r.random() < 0.7
                write(os.path.join(meta, "PKG-INFO" if egg else "METADATA"), text)
            if r.random() < 0.9:
                write(os.path.join(meta, "entry_points.txt"), entry_points_txt(r))
    return paths


@pytest.mark.parametrize("py", PYTHONS)
def test_random_search_paths(py, tmp_path):
    compared = 0
    for seed in range(SEEDS):
        paths = build(str(tmp_path / "env"), seed)
        for state in ("no index", "fresh index"):
            if state == "fresh index":
                index_dirs(paths)
            try:
                sorted_by_group, want = oracle(py, paths)
            except RuntimeError:
                break  # importlib.metadata raises on this one
            got, _ = ours(paths)
            if sorted_by_group:  # 3.11's SelectableGroups
                got = sorted(got, key=lambda row: row["group"])
            assert got == want, "seed %d, %s" % (seed, state)
            compared += 1
    assert compared >= SEEDS  # most seeds must be comparable
