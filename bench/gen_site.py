#!/usr/bin/env python3
"""Generate a synthetic site-packages directory with N distributions.

    gen_site.py DIR N [--seed S]

A realistic mix: every distribution has METADATA (with a description body)
and RECORD; about a third have entry_points.txt, mostly console_scripts plus
plugin groups. Two groups have fixed sizes for benchmarks, spread evenly over
the distributions: "bench.g40" has exactly 40 entries and "bench.g400"
exactly 400 (when N >= 400). Deterministic for a given seed.
"""
import os
import random
import sys

PLUGIN_GROUPS = ["pytest11", "flake8.extension", "sphinx.builders",
                 "babel.extractors", "paste.app_factory", "gui_scripts"]


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def make_one(root, name, version="1.0", group="console_scripts"):
    """Add one distribution with one entry point (an install, for benchmarks
    of incremental updates)."""
    mod = name.replace("-", "_")
    d = os.path.join(root, "%s-%s.dist-info" % (mod, version))
    os.mkdir(d)
    write(os.path.join(d, "METADATA"),
          "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n" % (name, version))
    write(os.path.join(d, "entry_points.txt"), "[%s]\n%s = %s:main\n" % (group, name, mod))


def make(root, n, seed=1, plugin_groups=PLUGIN_GROUPS):
    """plugin_groups: the groups a third of the entry point files add one
    entry to (pass fewer where real programs load them: their values name
    modules that do not exist)."""
    rnd = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    g40 = set(range(0, n, max(1, n // 40))[:40]) if n >= 40 else set()
    g400 = set(range(0, n, max(1, n // 400))[:400]) if n >= 400 else set()
    for i in range(n):
        name = "pkg%05d-%s" % (i, rnd.choice(["core", "utils", "plugin", "x"]))
        ver = "%d.%d.%d" % (rnd.randrange(5), rnd.randrange(20), rnd.randrange(9))
        d = os.path.join(root, "%s-%s.dist-info" % (name.replace("-", "_"), ver))
        os.mkdir(d)
        write(os.path.join(d, "METADATA"),
              "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: demo\n"
              "Requires-Python: >=3.8\n\n%s\n" % (name, ver, "Lorem ipsum. " * 40))
        write(os.path.join(d, "RECORD"), "%s/__init__.py,,\n" % name)
        lines = []
        if i in g40:
            lines += ["[bench.g40]", "e%05d = %s.mod:func" % (i, name.replace("-", "_"))]
        if i in g400:
            lines += ["[bench.g400]", "e%05d = %s.mod:func" % (i, name.replace("-", "_"))]
        if rnd.random() < 0.33:
            lines += ["[console_scripts]",
                      "%s = %s.cli:main" % (name, name.replace("-", "_"))]
            if rnd.random() < 0.3:
                lines += ["[%s]" % rnd.choice(plugin_groups),
                          "%s = %s.plugin" % (name, name.replace("-", "_"))]
        if lines:
            write(os.path.join(d, "entry_points.txt"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    seed = 1
    if "--seed" in args:
        k = args.index("--seed")
        seed = int(args[k + 1])
        del args[k:k + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    make(args[0], int(args[1]), seed)
