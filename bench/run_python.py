#!/usr/bin/env python3
"""Python-side benchmark: one group lookup, epindex against its peers.

    python3 bench/run_python.py [--python PY] [--sizes 100,1000,10000]
                                [--rounds N] [--out FILE]

For each size, a venv of PY (default: the newest pyenv CPython) gets N
generated distributions in its site-packages (bench/gen_site.py), indexed by
`epindex update`, and the venv's whole default sys.path is searched. In
alternating rounds, each in a new process:

  * in-process: the first call (after the module is imported) and the median
    of 50 repeated calls, for epindex.entry_points, importlib.metadata,
    importlib_metadata (Debian's backport), pkg_resources and stevedore's
    cache (cold: empty cache directory; warm: second process);
  * whole process: `python -c 'import epindex; epindex.entry_points(group=G)'`
    and its peers, against a bare `python -c pass`.

Medians and ratios in Markdown on stdout and in --out.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_site  # noqa: E402

GROUP = "bench.g40"

# One measurement per process: (first call µs, median repeated µs).
INPROC = r"""
import sys, time, statistics
kind, group = sys.argv[1], sys.argv[2]
if kind == "epindex":
    import epindex
    f = lambda: epindex.entry_points(group=group)
elif kind == "importlib.metadata":
    import importlib.metadata as md
    f = lambda: md.entry_points(group=group)
elif kind == "importlib_metadata":
    import importlib_metadata as md
    f = lambda: md.entry_points(group=group)
elif kind == "pkg_resources":
    import pkg_resources
    f = lambda: list(pkg_resources.iter_entry_points(group))
elif kind == "stevedore":
    from stevedore import _cache
    f = lambda: _cache.get_group_all(group)
elif kind == "accelerated":
    import epindex, importlib.metadata as md
    epindex.accelerate()
    f = lambda: md.entry_points(group=group)
t = time.perf_counter(); n = len(f()); first = time.perf_counter() - t
rep = []
for _ in range(50):
    t = time.perf_counter(); f(); rep.append(time.perf_counter() - t)
print(first * 1e6, statistics.median(rep) * 1e6, n)
"""

WHOLE = {
    "python -c pass": "pass",
    "epindex": "import epindex; epindex.entry_points(group=%r)" % GROUP,
    "importlib.metadata": "import importlib.metadata as m; m.entry_points(group=%r)" % GROUP,
}

KINDS = ["epindex", "accelerated", "importlib.metadata", "importlib_metadata",
         "pkg_resources", "stevedore"]


def newest_python():
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[123].*/bin/python3.1?")))
    return found[-1] if found else sys.executable


def peers_dir(work):
    """importlib_metadata (with zipp, more_itertools) and stevedore from Debian's
    dist-packages, as plain packages (no metadata, so the search path's
    distributions do not change)."""
    d = os.path.join(work, "peers")
    os.makedirs(d)
    for pkg in ("importlib_metadata", "zipp", "more_itertools", "stevedore"):
        src = os.path.join("/usr/lib/python3/dist-packages", pkg)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(d, pkg))
        elif os.path.isfile(src + ".py"):  # Debian's zipp is one module
            shutil.copy(src + ".py", d)
    return d


def make_env(work, py, n):
    venv = os.path.join(work, "venv%d" % n)
    subprocess.run([py, "-m", "venv", venv], check=True, capture_output=True)
    vpy = os.path.join(venv, "bin", "python")
    subprocess.run([vpy, "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", ROOT], check=True, capture_output=True)
    subprocess.run([vpy, "-m", "pip", "install", "-q", "--no-index", "--find-links",
                    "/usr/share/python-wheels", "setuptools"], check=True,
                   capture_output=True)
    site = subprocess.run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    gen_site.make(site, n)
    subprocess.run([os.path.join(ROOT, "build", "epindex"), "update", site],
                   check=True, capture_output=True)
    return vpy


def inproc(vpy, kind, env):
    out = subprocess.run([vpy, "-c", INPROC, kind, GROUP], capture_output=True,
                         text=True, env=env)
    if out.returncode != 0:
        return None
    first, rep, _ = out.stdout.split()
    return float(first), float(rep)


def whole(vpy, code, env):
    t = time.perf_counter()
    subprocess.run([vpy, "-c", code], check=True, env=env)
    return (time.perf_counter() - t) * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=newest_python())
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "python.md"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = tempfile.mkdtemp(prefix="epindex-pybench-")
    env = dict(os.environ, PYTHONPATH=peers_dir(work))
    env.pop("EPINDEX_ACCELERATE", None)
    venvs = {n: make_env(work, args.python, n) for n in sizes}
    s = {}
    for _ in range(args.rounds):
        for n, vpy in venvs.items():
            for kind in KINDS:
                cache = os.path.join(work, "cache-%d" % n)
                shutil.rmtree(cache, ignore_errors=True)
                kenv = dict(env, XDG_CACHE_HOME=cache)
                r = inproc(vpy, kind, kenv)
                if r:
                    s.setdefault((n, kind, "first"), []).append(r[0])
                    s.setdefault((n, kind, "repeat"), []).append(r[1])
                if kind == "stevedore":  # warm: the cache now exists
                    r = inproc(vpy, kind, kenv)
                    if r:
                        s.setdefault((n, "stevedore (warm)", "first"), []).append(r[0])
                        s.setdefault((n, "stevedore (warm)", "repeat"), []).append(r[1])
            for label, code in WHOLE.items():
                s.setdefault((n, label, "process"), []).append(whole(vpy, code, env))
    med = {k: statistics.median(v) for k, v in s.items()}
    kinds = KINDS[:5] + ["stevedore", "stevedore (warm)"]
    lines = ["# epindex Python benchmark", "",
             "Interpreter: `%s` (%s). Command: `python3 bench/run_python.py "
             "--sizes %s --rounds %d`. Medians of alternating rounds, one new "
             "process per measurement. The search path is the venv's whole "
             "default sys.path; group `%s` has 40 entries." % (
                 args.python, subprocess.run([args.python, "--version"],
                                             capture_output=True, text=True).stdout.strip(),
                 args.sizes, args.rounds, GROUP), "",
             "## In-process, one group lookup (µs): first call / repeated call", "",
             "| contender | " + " | ".join("%d dists" % n for n in sizes) + " |",
             "| --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for kind in kinds:
        cells = []
        for n in sizes:
            f, r = med.get((n, kind, "first")), med.get((n, kind, "repeat"))
            cells.append("%.0f / %.1f" % (f, r) if f is not None else "n/a")
        lines.append("| %s | %s |" % (kind, " | ".join(cells)))
    lines += ["", "## Ratios: importlib.metadata over epindex", "",
              "| | " + " | ".join("%d dists" % n for n in sizes) + " |",
              "| --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for which in ("first", "repeat"):
        lines.append("| %s call | %s |" % (which, " | ".join(
            "%.0f×" % (med[(n, "importlib.metadata", which)] / med[(n, "epindex", which)])
            for n in sizes)))
    lines += ["", "## Whole process (ms)", "",
              "| command | " + " | ".join("%d dists" % n for n in sizes) + " |",
              "| --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for label in WHOLE:
        lines.append("| `%s` | %s |" % (label, " | ".join(
            "%.1f" % (med[(n, label, "process")] / 1e3) for n in sizes)))
    lines.append("| epindex minus bare python | %s |" % " | ".join(
        "%+.1f" % ((med[(n, "epindex", "process")] - med[(n, "python -c pass", "process")]) / 1e3)
        for n in sizes))
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
