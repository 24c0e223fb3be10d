"""Seeded random differential tests: many small search paths of colliding
distribution names (case, separators, Unicode), odd suffixes and entry point
files with stray whitespace, comments, duplicate keys and extras, compared
with importlib.metadata, without an index and with a fresh one; and, indexed,
after random changes made with no update since (distributions added,
removed, renamed or linked, files added, removed or rewritten in place):
each directory here is small, so the default policy must see every change.

A search path on which importlib.metadata itself raises is not compared here
(test_differential.py covers skip-and-report). EPINDEX_RANDOM_SEEDS sets how
many seeds run per interpreter (default 25); a failure names its seed, and
build(root, seed) recreates that search path.
"""
import os
import random
import shutil
import time

import pytest

from envgen import write
from test_differential import PYTHONS, index_dirs, oracle, ours

SEEDS = int(os.environ.get("EPINDEX_RANDOM_SEEDS", "25"))
CHANGES = ["add", "remove", "rename", "link", "rewrite", "append", "new_file",
           "remove_file", "metadata"]
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


def metadata_dirs(paths):
    return sorted(os.path.join(p, c) for p in paths for c in os.listdir(p)
                  if c.lower().endswith((".dist-info", ".egg-info")))


def change(r, paths):
    """One random change to the tree, as a person or a tool makes it (no
    update follows). Returns what it did, for the failure message."""
    site, dists = r.choice(paths), metadata_dirs(paths)
    what = r.choice(CHANGES if dists else ["add"])
    d = r.choice(dists) if dists else None
    eps = os.path.join(d, "entry_points.txt") if d else None
    if what == "add":
        meta = os.path.join(site, r.choice(NAMES) + "-7.dist-info")
        if not os.path.exists(meta):
            write(os.path.join(meta, "METADATA"), "Name: new\nVersion: 7\n")
            write(os.path.join(meta, "entry_points.txt"), entry_points_txt(r))
    elif what == "remove":
        os.remove(d) if os.path.islink(d) else shutil.rmtree(d)
    elif what == "rename":
        new = os.path.join(site, r.choice(NAMES) + "-5.dist-info")
        if not os.path.exists(new):
            os.rename(d, new)
    elif what == "link":
        link = os.path.join(site, r.choice(NAMES) + "-6.dist-info")
        if not os.path.lexists(link):
            os.symlink(d, link)
    elif what in ("rewrite", "append", "new_file"):
        if what != "new_file" or not os.path.exists(eps):
            with open(eps, "a" if what == "append" else "w") as f:
                f.write("\n[g]\nchanged%d = c:f\n" % r.randrange(100))
    elif what == "remove_file" and os.path.exists(eps):
        os.remove(eps)
    elif what == "metadata":  # rewritten in place: a new Name (a key, where
        for name in ("METADATA", "PKG-INFO"):  # the stem gives none)
            md = os.path.join(d, name)
            if os.path.exists(md):
                with open(md) as f:
                    text = f.read()
                write(md, text.replace("Name: ", "Name: renamed", 1))
                break
    return "%s %s" % (what, d or site)


@pytest.mark.parametrize("py", PYTHONS)
def test_random_changes_after_indexing(py, tmp_path):
    compared = 0
    for seed in range(SEEDS):
        r = random.Random(seed + 1000)
        paths = build(str(tmp_path / "env"), seed)
        index_dirs(paths)
        if r.random() < 0.5:
            time.sleep(0.02)  # past the clock tick of the update, or in it
        done = [change(r, paths) for _ in range(r.randint(1, 3))]
        try:
            sorted_by_group, want = oracle(py, paths)
        except RuntimeError:
            continue  # importlib.metadata raises on this one
        got, _ = ours(paths)
        if sorted_by_group:
            got = sorted(got, key=lambda row: row["group"])
        assert got == want, "seed %d, after %s" % (seed, done)
        compared += 1
    assert compared >= SEEDS // 2
