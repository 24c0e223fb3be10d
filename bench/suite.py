#!/usr/bin/env python3
"""epindex against every peer, in one run: bench/results/latest.md + plots.

    bash bench/run [--sizes 100,1000,10000,50000] [--rounds 5] [--quick]

(bench/run installs what is missing, builds, then runs this file.)

Environments
  * synthetic: a venv of the newest CPython (3.13) per size N, with N
    generated distributions in its site-packages (bench/gen_site.py; a
    realistic mix of groups), indexed by `epindex update`;
  * Debian: /usr/lib/python3/dist-packages with the python3-* packages this
    machine has (bench/run installs a large set), indexed for the run and
    left as it was found;
  * a venv whose sys.path has several entries: each synthetic venv's whole
    default sys.path (cwd, the stdlib zip, stdlib, lib-dynload,
    site-packages) -- the case of the Python targets.

Contenders, each measured in a new process (first call after the module is
imported, and the median of repeated calls in that process):
  importlib.metadata of CPython 3.11, 3.12 and 3.13; importlib_metadata,
  pkg_resources, the `entrypoints` package and stevedore's cache (cold: an
  empty cache directory; warm: the next process), all Debian's, run by
  Debian's python3; epindex through the C API (bench/lookup_bench, first
  call in a new process and warm median), the Python module, accelerate()d
  importlib.metadata, and the `epindex query` CLI as a whole process.

Rounds alternate the contenders (in a rotating order) so that machine drift
hits all of them alike; the report gives medians and ratios. After the warm
rounds: cold page cache (every file evicted before each measurement, where
/proc/sys/vm/drop_caches is writable), the hook's own cost (full and
incremental update, index size, peak memory), and real programs' start-up
(flake8 --version, pytest --version) with and without EPINDEX_ACCELERATE=1.
"""
import argparse
import glob
import json
import os
import platform
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

G40, G400 = "bench.g40", "bench.g400"
DEBIAN_SITE = "/usr/lib/python3/dist-packages"
DEBIAN_PY = "/usr/bin/python3"
DEBIAN_GROUP = "console_scripts"

# One contender, one process: imports first (not timed), then the first
# call and repeated calls. paths: a JSON list, or null for the default
# sys.path. Modules a peer may import lazily are imported before sys.path
# is narrowed to the search path.
CONTENDER = r"""
import sys, time, json, statistics
kind, group, paths, reps = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
if paths is not None:
    import email.parser, email.message, csv, zipfile, configparser, re, pathlib
    import textwrap, inspect, typing, warnings, functools, itertools, operator
def narrow():
    if paths is not None:
        sys.path[:] = paths
if kind == "importlib.metadata":
    import importlib.metadata as md
    narrow()
    f = lambda: md.entry_points(group=group)
elif kind == "importlib_metadata":
    import importlib_metadata as md
    narrow()
    f = lambda: md.entry_points(group=group)
elif kind == "pkg_resources":
    import pkg_resources
    ws = []
    def f():  # first call builds the working set; later calls reuse it
        if not ws:
            ws.append(pkg_resources.WorkingSet(paths if paths is not None else sys.path))
        return list(ws[0].iter_entry_points(group))
elif kind == "entrypoints":
    import entrypoints
    f = lambda: entrypoints.get_group_all(group, path=paths)
elif kind == "stevedore":
    from stevedore import _cache
    narrow()
    f = lambda: _cache.get_group_all(group)
elif kind == "epindex":
    import epindex
    f = lambda: epindex.entry_points(group=group, path=paths)
elif kind == "accelerated":
    import epindex, importlib.metadata as md
    epindex.accelerate()
    narrow()
    f = lambda: md.entry_points(group=group)
t = time.perf_counter(); n = len(f()); first = time.perf_counter() - t
rep = []
for _ in range(reps):
    t = time.perf_counter(); f(); rep.append(time.perf_counter() - t)
print(json.dumps({"first": first * 1e6, "n": n,
                  "repeat": statistics.median(rep) * 1e6 if rep else None}))
"""

# In one process, after importing importlib.metadata: pluggy's pattern
# (every distribution's entry points, as pytest and flake8 find plugins) and
# version()'s first call. Prints µs as JSON.
IN_PROCESS = r"""
import json, time, importlib.metadata as md
t = time.perf_counter()
found = [ep for d in list(md.distributions()) for ep in d.entry_points
         if ep.group == "pytest11"]
pluggy = time.perf_counter() - t
t = time.perf_counter()
md.version("pytest")
version = time.perf_counter() - t
print(json.dumps({"pluggy": pluggy * 1e6, "version()": version * 1e6}))
"""

# epindex.entry_points(group=...)'s first call over the default sys.path,
# for a group of 40 entries (console_scripts grows with N: its objects
# would be what is measured).
FIRST_CALL = r"""
import time
t0 = time.perf_counter()
import epindex  # with its C library: an import by a program loads it
t = time.perf_counter()
epindex.entry_points(group="bench.g40")
print((t - t0) * 1e6, (time.perf_counter() - t) * 1e6)
"""

WHOLE = {  # whole process, in a synthetic venv: label -> python -c code
    "python -c pass": "pass",
    "epindex": "import epindex; epindex.entry_points(group=%r)" % G40,
    "importlib.metadata": "import importlib.metadata as m; m.entry_points(group=%r)" % G40,
}


# ---- helpers -----------------------------------------------------------------

def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw).stdout


def pyenv(minor):
    found = sorted(glob.glob(os.path.expanduser(
        "~/.pyenv/versions/3.%d.*/bin/python3.%d" % (minor, minor))))
    return found[-1] if found else None


def wall(cmd, env=None):
    """(wall µs, stdout) of one process."""
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    us = (time.perf_counter() - t) * 1e6
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (cmd, p.returncode, p.stderr.decode()[-300:]))
    return us, p.stdout.decode()


def peak_rss_kib(cmd):
    """Peak RSS of one process, by GNU time: a child forked from this Python
    would carry Python's own high-water mark into its ru_maxrss."""
    with tempfile.NamedTemporaryFile("r") as f:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f.name] + cmd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return int(f.read().split()[-1])


def drop_caches():
    """Evict the page cache; False where this machine does not allow it."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def median(xs):
    return statistics.median(xs) if xs else None


class Samples(dict):
    def add(self, key, value):
        if value is not None:
            self.setdefault(key, []).append(value)

    def med(self, *key):
        return median(self.get(key, []))


# ---- environments ---------------------------------------------------------------

class Suite:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.cli = os.path.join(self.build, "epindex")
        self.lookup_bench = os.path.join(self.build, "bench", "lookup_bench")
        self.work = tempfile.mkdtemp(prefix="epindex-suite-")
        self.s = Samples()
        self.notes = []
        self.pys = {"3.%d" % m: pyenv(m) for m in (11, 12, 13)}
        self.pys = {k: v for k, v in self.pys.items() if v}
        self.main_py = self.pys.get("3.13") or max(self.pys.values())
        self.venvs, self.sites = {}, {}

    def make_venv(self, n):
        venv = os.path.join(self.work, "venv%d" % n)
        run([self.main_py, "-m", "venv", venv])
        vpy = os.path.join(venv, "bin", "python")
        run([vpy, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", ROOT])
        site = run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
        gen_site.make(site, n)
        run([self.cli, "update", site])
        self.venvs[n], self.sites[n] = vpy, site

    def venv_path(self, n):
        """The venv's whole default sys.path (as `python -c` has it)."""
        return json.loads(run([self.venvs[n], "-c", "import sys, json; print(json.dumps(sys.path))"]))

    def setup(self):
        for n in self.args.sizes:
            print("suite: environment of %d distributions" % n, flush=True)
            self.make_venv(n)
        self.debian_indexed_here = not os.path.exists(os.path.join(DEBIAN_SITE, ".epindex"))
        self.debian = os.access(DEBIAN_SITE, os.W_OK)
        if self.debian:
            run([self.cli, "update", DEBIAN_SITE])
            self.debian_n = len([e for e in os.listdir(DEBIAN_SITE)
                                 if e.endswith((".dist-info", ".egg-info"))])
        else:
            self.notes.append("%s is not writable here: the Debian environment was skipped." % DEBIAN_SITE)

    def cleanup(self):
        if self.debian and self.debian_indexed_here:
            shutil.rmtree(os.path.join(DEBIAN_SITE, ".epindex"), ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)

    # ---- one measurement each -----------------------------------------------------

    def contender(self, py, kind, group, paths, reps, env=None):
        try:
            out = run([py, "-c", CONTENDER, kind, group, json.dumps(paths), str(reps)], env=env)
        except subprocess.CalledProcessError as e:
            print("suite: %s failed: %s" % (kind, e.stderr.strip().splitlines()[-1:]), flush=True)
            return None
        return json.loads(out)

    def capi(self, paths, group, repeat):
        out = run([self.lookup_bench, "--repeat", str(repeat)] + paths + [group])
        return float(out.split()[1]), int(out.split()[8])

    def cli_us(self, paths):
        cmd = [self.cli, "query"] + sum((["--path", p] for p in paths), []) + [G40]
        times = [wall(cmd)[0] for _ in range(5)]
        return median(times)

    # ---- the warm rounds ------------------------------------------------------------

    def peers(self, env_key, paths, group, n):
        """Every contender on one search path; rotating order per round."""
        reps = 20 if n <= 1000 else 3 if n <= 10000 else 1
        cache = os.path.join(self.work, "stevedore-%s" % env_key)
        shutil.rmtree(cache, ignore_errors=True)
        senv = dict(os.environ, XDG_CACHE_HOME=cache)
        jobs = [("importlib.metadata " + v, py, "importlib.metadata", None)
                for v, py in sorted(self.pys.items())]
        jobs += [("importlib_metadata", DEBIAN_PY, "importlib_metadata", None),
                 ("pkg_resources", DEBIAN_PY, "pkg_resources", None),
                 ("entrypoints", DEBIAN_PY, "entrypoints", None),
                 ("stevedore cache, cold", DEBIAN_PY, "stevedore", senv),
                 ("stevedore cache, warm", DEBIAN_PY, "stevedore", senv),
                 ("epindex (Python)", self.venvs[self.args.sizes[0]], "epindex", None),
                 ("accelerate()d importlib.metadata", self.venvs[self.args.sizes[0]],
                  "accelerated", None)]
        k = self.round % len(jobs)
        for label, py, kind, env in jobs[k:] + jobs[:k]:
            if label == "stevedore cache, warm":
                continue  # right after the cold one, below
            # repeated calls of epindex cost microseconds: take many
            r = self.contender(py, kind, group, paths,
                               50 if kind in ("epindex", "accelerated") else reps, env)
            if r:
                self.s.add((env_key, label, "first"), r["first"])
                self.s.add((env_key, label, "repeat"), r["repeat"])
                self.s.add((env_key, label, "n"), r["n"])
            if label == "stevedore cache, cold":
                r = self.contender(py, kind, group, paths, reps, env)
                if r:
                    self.s.add((env_key, "stevedore cache, warm", "first"), r["first"])
                    self.s.add((env_key, "stevedore cache, warm", "repeat"), r["repeat"])
        first, count = self.capi(paths, group, 1)
        self.s.add((env_key, "epindex C API", "first"), first)
        warm, _ = self.capi(paths, group, 300)
        self.s.add((env_key, "epindex C API", "repeat"), warm)
        self.s.add((env_key, "epindex C API", "n"), count)
        self.s.add((env_key, "epindex query (process)", "first"), self.cli_us(paths))

    def python_targets(self, n):
        """The venv's default sys.path: epindex, accelerate(), importlib."""
        vpy = self.venvs[n]
        for label, kind in (("epindex (Python)", "epindex"),
                            ("accelerate()d importlib.metadata", "accelerated"),
                            ("importlib.metadata 3.13", "importlib.metadata")):
            reps = 50 if kind != "importlib.metadata" else 3 if n <= 10000 else 1
            r = self.contender(vpy, kind, G40, None, reps)
            if r:
                self.s.add(("venv%d" % n, label, "first"), r["first"])
                self.s.add(("venv%d" % n, label, "repeat"), r["repeat"])
        # whole processes, alternating, seven of each a round: a process
        # of 30-40 ms varies by 10 ms here, the target is 3 ms apart
        for k in range(7):
            for label, code in WHOLE.items():
                if k and label == "importlib.metadata" and n >= 10000:
                    continue  # seconds each, and not close to the others
                self.s.add(("venv%d" % n, label, "process"), wall([vpy, "-c", code])[0])
        self.s.add(("venv%d" % n, "C API 400", "repeat"),
                   self.capi([self.sites[n]], G400, 300)[0] if n >= 400 else None)

    def warm_rounds(self):
        for self.round in range(self.args.rounds):
            print("suite: round %d of %d" % (self.round + 1, self.args.rounds), flush=True)
            for n in self.args.sizes:
                self.peers("site%d" % n, [self.sites[n]], G40, n)
                self.python_targets(n)
            if self.debian:
                self.peers("debian", [DEBIAN_SITE], DEBIAN_GROUP, self.debian_n)

    # ---- cold page cache -------------------------------------------------------------

    def cold(self):
        sizes = [n for n in self.args.sizes if n in (1000, 10000)] or self.args.sizes[:1]
        if not drop_caches():
            self.cold_ok = False
            self.notes.append("Cold cache: /proc/sys/vm/drop_caches is not writable here, "
                              "so no cold-cache rows were measured.")
            return
        self.cold_ok = True
        print("suite: cold page cache", flush=True)
        for r in range(max(2, self.args.rounds // 2)):
            for n in sizes:
                paths = [self.sites[n]]
                for label, py, kind in (("importlib.metadata 3.13", self.main_py, "importlib.metadata"),
                                        ("pkg_resources", DEBIAN_PY, "pkg_resources"),
                                        ("epindex (Python)", self.venvs[n], "epindex")):
                    drop_caches()
                    res = self.contender(py, kind, G40, paths, 0)
                    if res:
                        self.s.add(("cold%d" % n, label, "first"), res["first"])
                drop_caches()
                self.s.add(("cold%d" % n, "epindex C API", "first"), self.capi(paths, G40, 1)[0])
                drop_caches()
                self.s.add(("cold%d" % n, "epindex query (process)", "first"),
                           wall([self.cli, "query", "--path", paths[0], G40])[0])

    # ---- the hook ---------------------------------------------------------------------

    def hook(self):
        print("suite: the hook", flush=True)
        for r in range(self.args.rounds):
            for n in self.args.sizes:
                site = self.sites[n]
                full = [self.cli, "update", "--full", site]
                out = wall(full)[1]
                self.s.add(("hook", n, "full_ms"), float(out.rsplit(",", 1)[1].split()[0]))
                self.s.add(("hook", n, "full_rss"), peak_rss_kib(full))
                gen_site.make_one(site, "zz-added-%d" % r)
                out = wall([self.cli, "update", site])[1]
                self.s.add(("hook", n, "one_ms"), float(out.rsplit(",", 1)[1].split()[0]))
                gen_site.make_one(site, "zz-again-%d" % r)
                self.s.add(("hook", n, "one_rss"), peak_rss_kib([self.cli, "update", site]))
                self.s.add(("hook", n, "lookup_rss"),
                           peak_rss_kib([self.lookup_bench, "--repeat", "1", site, G40]))
                self.s.add(("hook", n, "query_rss"),
                           peak_rss_kib([self.cli, "query", "--path", site, G40]))
        self.s.add(("hook", 0, "true_rss"), peak_rss_kib(["true"]))
        for n in self.args.sizes:
            idx = os.path.join(self.sites[n], ".epindex")
            self.s.add(("hook", n, "db_bytes"), os.path.getsize(os.path.join(idx, "index.db")))
            self.s.add(("hook", n, "tbl_bytes"), os.path.getsize(os.path.join(idx, "lookup.tbl")))

    # ---- real programs ---------------------------------------------------------------

    def programs(self):
        """Real programs in a `--system-site-packages` venv of Debian's
        python3 with N generated distributions (and Debian's own), plain and
        accelerated, at every size: what users feel."""
        print("suite: real programs", flush=True)
        self.prog_sizes = []
        base = dict(os.environ)
        for k in ("EPINDEX_ACCELERATE", "EPINDEX_HEAL", "EPINDEX_USER_CACHE"):
            base.pop(k, None)
        envs = {}
        for n in self.args.sizes:
            venv = os.path.join(self.work, "debvenv%d" % n)
            run([DEBIAN_PY, "-m", "venv", "--system-site-packages", venv])
            vpy = os.path.join(venv, "bin", "python")
            run([vpy, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", ROOT])
            site = run([vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
            # no pytest11 or flake8.extension entries: the programs would load them
            gen_site.make(site, n, plugin_groups=["sphinx.builders", "babel.extractors",
                                                  "paste.app_factory", "gui_scripts"])
            run([self.cli, "update", site])
            envs[n] = (vpy, site)
            self.prog_sizes.append(n)
        plain, fast = base, dict(base, EPINDEX_ACCELERATE="1")
        progs = {"pytest --version": (["-m", "pytest", "--version"], {}),
                 # what pytest costs when it does not list every distribution
                 # (twice: pluggy's plugins, then the files to rewrite)
                 "pytest --version, no autoload": (["-m", "pytest", "--version"],
                                                   {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
                 "flake8 --version": (["-m", "flake8", "--version"], {}),
                 # pkg_resources' working set: out of epindex's reach, shown
                 "openstack --version": (["-m", "openstackclient.shell", "--version"], {})}
        for r in range(self.args.rounds):
            print("suite: real programs, round %d of %d" % (r + 1, self.args.rounds), flush=True)
            for n, (vpy, site) in envs.items():
                # which goes first alternates: a start-up is ~10% noise here
                modes = (("off", plain), ("on", fast))
                for acc, env in modes if r % 2 == 0 else modes[::-1]:
                    for label, (args, extra) in progs.items():
                        self.s.add(("prog", n, label, acc),
                                   median([wall([vpy] + args, dict(env, **extra))[0]
                                           for _ in range(3)]))
                    for _ in range(3):
                        out = json.loads(wall([vpy, "-c", IN_PROCESS], env)[1])
                        for k, v in out.items():
                            self.s.add(("prog", n, k, acc), v)
                self.enabled_rounds(n, vpy, site, base)

    def enabled_rounds(self, n, vpy, site, env):
        """`python -c pass` with and without the enabled environment's .pth,
        and epindex.entry_points()'s first call from the second process of
        an enabled environment on (the first one heals or caches)."""
        pth = os.path.join(site, "epindex-enabled.pth")
        hidden = pth + ".off"  # not a .pth: site.py passes it by
        run([vpy, "-m", "epindex", "enable"], env=env)
        try:
            env = dict(env)
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # heal as CPython writes pycs
            # the difference is a fraction of a millisecond in starts that
            # vary by several: the two alternate, one process each
            def use(enabled):
                if enabled != os.path.exists(pth):
                    os.rename(*((hidden, pth) if enabled else (pth, hidden)))
            offs, ons = [], []
            for i in range(15):
                for enabled in ((False, True) if i % 2 else (True, False)):
                    use(enabled)
                    (ons if enabled else offs).append(wall([vpy, "-c", "pass"], env)[0])
            off, on = median(offs), median(ons)
            use(True)
            wall([vpy, "-c", FIRST_CALL], env)  # heals: the renames changed site
            both = [wall([vpy, "-c", FIRST_CALL], env)[1].split() for _ in range(3)]
            imported = median([float(b[0]) for b in both])
            first = median([float(b[1]) for b in both])
        finally:
            for f in (pth, hidden):
                if os.path.exists(f):
                    os.unlink(f)
            # as `disable` leaves it: the directory changed, no distribution
            # did; the next rounds measure an index as the hook leaves it
            run([self.cli, "update", site])
        self.s.add(("prog", n, "python -c pass", "off"), off)
        self.s.add(("prog", n, "python -c pass", "enabled"), on)
        self.s.add(("prog", n, "epindex.entry_points first", "enabled"), first)
        self.s.add(("prog", n, "import epindex", "enabled"), imported)


# ---- the report ---------------------------------------------------------------------

def fmt_us(v):
    if v is None:
        return "n/a"
    if v >= 100000:
        return "%.0f ms" % (v / 1000)
    if v >= 1000:
        return "%.1f ms" % (v / 1000)
    return "%.0f µs" % v if v >= 100 else "%.1f µs" % v


LOOKUP_ORDER = ["importlib.metadata 3.11", "importlib.metadata 3.12", "importlib.metadata 3.13",
                "importlib_metadata", "pkg_resources", "entrypoints",
                "stevedore cache, cold", "stevedore cache, warm",
                "epindex (Python)", "accelerate()d importlib.metadata",
                "epindex C API", "epindex query (process)"]


def lookup_table(suite, env_keys, headers):
    s = suite.s
    lines = ["| contender | " + " | ".join(headers) + " |",
             "| --- | " + " | ".join("---:" for _ in headers) + " |"]
    for label in LOOKUP_ORDER:
        cells = []
        for k in env_keys:
            f, r = s.med(k, label, "first"), s.med(k, label, "repeat")
            if label == "epindex query (process)":
                cells.append(fmt_us(f))
            else:
                cells.append("%s / %s" % (fmt_us(f), fmt_us(r)))
        if any(c not in ("n/a / n/a", "n/a") for c in cells):
            lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return lines


def ratio_lines(suite, env_keys, headers):
    s = suite.s
    lines = ["| first call of … over epindex's | " + " | ".join(headers) + " |",
             "| --- | " + " | ".join("---:" for _ in headers) + " |"]
    for base in ("epindex C API", "epindex (Python)"):
        for peer in LOOKUP_ORDER[:8]:
            cells = []
            for k in env_keys:
                p, e = s.med(k, peer, "first"), s.med(k, base, "repeat" if base == "epindex C API" else "first")
                cells.append("%.0f×" % (p / e) if p and e else "n/a")
            lines.append("| %s, vs %s%s | %s |" % (
                peer, base, " (warm)" if base == "epindex C API" else " (first call)", " | ".join(cells)))
    return lines


def target_rows(suite):
    s, sizes = suite.s, suite.args.sizes
    rows = []

    def row(what, value, ok, limit):
        verdict = "—" if ok is None else "met" if ok else "**missed**"
        rows.append("| %s | %s | %s | %s |" % (what, value, limit, verdict))

    for n in (1000, 10000):
        if n not in sizes:
            continue
        k = "site%d" % n
        capi = s.med(k, "epindex C API", "repeat")
        row("C API open+lookup+close, 40 entries, %d dists" % n, fmt_us(capi), capi <= 50, "≤ 50 µs")
        c400 = s.med("venv%d" % n, "C API 400", "repeat")
        row("C API, 400 entries, %d dists" % n, fmt_us(c400), c400 <= 300, "≤ 300 µs")
        want = 500 if n == 1000 else 5000
        for v in ("3.12", "3.13"):
            imp = s.med(k, "importlib.metadata " + v, "first")
            if imp:
                row("ratio to importlib.metadata %s, %d dists" % (v, n), "%.0f×" % (imp / capi),
                    imp / capi >= want, "≥ %d×" % want)
        cli = s.med(k, "epindex query (process)", "first")
        row("`epindex query` process, %d dists" % n, fmt_us(cli), cli <= 3000, "≤ 3 ms")
    if 10000 in sizes:
        full, one = s.med("hook", 10000, "full_ms"), s.med("hook", 10000, "one_ms")
        row("`update --full`, 10,000 dists", "%.1f ms" % full, full <= 150, "≤ 150 ms")
        row("`update` after one added, 10,000 dists", "%.1f ms" % one, one <= 30, "≤ 30 ms")
    if 1000 in sizes:
        k = "venv1000"
        first, rep = s.med(k, "epindex (Python)", "first"), s.med(k, "epindex (Python)", "repeat")
        imp_first = s.med(k, "importlib.metadata 3.13", "first")
        imp_rep = s.med(k, "importlib.metadata 3.13", "repeat")
        row("Python first call, venv sys.path, 1,000 dists", fmt_us(first), first <= 300, "≤ 300 µs")
        row("… ratio to importlib.metadata", "%.0f×" % (imp_first / first), imp_first / first >= 100, "≥ 100×")
        row("Python repeated call, 1,000 dists", fmt_us(rep), rep <= 30, "≤ 30 µs")
        row("… ratio to importlib.metadata", "%.0f×" % (imp_rep / rep), imp_rep / rep >= 1000, "≥ 1,000×")
    ps = getattr(suite, "prog_sizes", [])
    if 100 in ps:
        for label in ("pytest --version", "flake8 --version"):
            base = s.med("prog", 100, label, "on")
            for n, limit in ((10000, 1.25), (50000, 1.5)):
                if n in ps:
                    r = s.med("prog", n, label, "on") / base
                    row("`%s` accelerated, %d dists / 100" % (label, n), "%.2f×" % r,
                        r <= limit, "≤ %.2f×" % limit)
    if 10000 in ps:
        on, off = s.med("prog", 10000, "pluggy", "on"), s.med("prog", 10000, "pluggy", "off")
        row("pluggy's pattern accelerated, 10,000 dists", fmt_us(on), on <= 15000, "≤ 15 ms")
        row("… ratio to plain", "%.0f×" % (off / on), off / on >= 20, "≥ 20×")
    for n in (10000, 50000):
        if n in ps:
            v = s.med("prog", n, "version()", "on")
            row("`version()` first call accelerated, %d dists" % n, fmt_us(v), v <= 1000, "≤ 1 ms")
            if 100 in ps:  # flat in N: what the distributions add to it
                d = v - s.med("prog", 100, "version()", "on")
                row("… minus the same at 100 dists", "%+.0f µs" % d, d <= 250, "≤ 250 µs")
    for n in ps:
        d = s.med("prog", n, "python -c pass", "enabled") - s.med("prog", n, "python -c pass", "off")
        row("`python -c pass` enabled minus plain, %d dists" % n, "%+.2f ms" % (d / 1000),
            d <= 1000, "≤ 1 ms")
        f = s.med("prog", n, "epindex.entry_points first", "enabled")
        row("`epindex.entry_points()` first call, enabled venv, %d dists" % n, fmt_us(f),
            f <= 500, "≤ 500 µs")
        i = s.med("prog", n, "import epindex", "enabled")
        row("… and the `import epindex` before it (the C library with it)", fmt_us(i),
            None, "reported")
    for n in sizes:
        k = "venv%d" % n
        d = s.med(k, "epindex", "process") - s.med(k, "python -c pass", "process")
        row("`python -c 'import epindex; …'` minus `python -c pass`, %d dists" % n,
            "%+.1f ms" % (d / 1000), d <= 3000, "≤ 3 ms")
    return rows


def plots(suite, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        suite.notes.append("matplotlib is missing: no plots were drawn.")
        return []
    s, sizes = suite.s, suite.args.sizes
    fig, ax = plt.subplots(figsize=(9, 6))
    for label in LOOKUP_ORDER:
        xs = [n for n in sizes if s.med("site%d" % n, label, "first")]
        if not xs:
            continue
        ys = [s.med("site%d" % n, label, "first") / 1000 for n in xs]
        style = "-o" if label.startswith("epindex") or label.startswith("accel") else "--s"
        ax.plot(xs, ys, style, label=label, linewidth=2 if "epindex" in label else 1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("distributions in the search path entry")
    ax.set_ylabel("first lookup of one group in a new process (ms, log)")
    ax.set_title("One entry point group lookup, warm page cache (medians)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    lookup_png = os.path.join(out_dir, "lookup_vs_n.png")
    fig.savefig(lookup_png, dpi=110)
    plt.close(fig)
    made = [lookup_png]
    ns = getattr(suite, "prog_sizes", [])
    if ns:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for label in ("pytest --version", "flake8 --version"):
            for acc, style in (("off", "--"), ("on", "-")):
                ys = [s.med("prog", n, label, acc) for n in ns]
                if all(ys):
                    ax.plot(ns, [y / 1000 for y in ys], style, marker="o",
                            label="%s, %s" % (label, "plain" if acc == "off"
                                              else "EPINDEX_ACCELERATE=1"))
        ax.set_xscale("log")
        ax.set_xlabel("distributions installed (plus Debian's)")
        ax.set_ylabel("wall time of the whole process (ms)")
        ax.set_title("Real programs' start-up against N (medians)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        startup_png = os.path.join(out_dir, "startup.png")
        fig.savefig(startup_png, dpi=110)
        plt.close(fig)
        made.append(startup_png)
    return made


def programs_rows(suite):
    """The real programs' table: one row per program and mode, one column
    per size."""
    s, ns = suite.s, suite.prog_sizes
    L = ["| | " + " | ".join("%d dists" % n for n in ns) + " |",
         "| --- | " + " | ".join("---:" for _ in ns) + " |"]
    for label, what in (("pytest --version", "whole process"),
                        ("pytest --version, no autoload",
                         "`pytest --version` with `PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`: "
                         "no listing of every distribution"),
                        ("flake8 --version", "whole process"),
                        ("openstack --version", "whole process"),
                        ("pluggy", "pluggy's pattern: every distribution's entry points"),
                        ("version()", "`importlib.metadata.version()`, first call")):
        for acc, mode in (("off", "plain"), ("on", "accelerated")):
            L.append("| %s, %s | %s |" % (what if label in ("pluggy", "version()",
                                                          "pytest --version, no autoload")
                                          else "`%s`" % label, mode,
                                          " | ".join(fmt_us(s.med("prog", n, label, acc))
                                                     for n in ns)))
        if label in ("pytest --version", "flake8 --version"):
            first = s.med("prog", ns[0], label, "on")
            L.append("| `%s` accelerated, to %d dists | %s |" % (label, ns[0], " | ".join(
                "%.2f×" % (s.med("prog", n, label, "on") / first) for n in ns)))
            # the interpreter's own start-up grows with N too (site.py lists
            # and sorts the site directory): what is left is the program's
            beyond = [s.med("prog", n, label, "on") - s.med("prog", n, "python -c pass", "off")
                      for n in ns]
            L.append("| `%s` accelerated minus plain `python -c pass`, to %d dists | %s |" % (
                label, ns[0], " | ".join("%s (%.2f×)" % (fmt_us(b), b / beyond[0])
                                         for b in beyond)))
    L.append("| `python -c pass`, plain / enabled | %s |" % " | ".join(
        "%s / %s" % (fmt_us(s.med("prog", n, "python -c pass", "off")),
                     fmt_us(s.med("prog", n, "python -c pass", "enabled"))) for n in ns))
    L.append("| `epindex.entry_points(group=…)` first call, enabled, second process | %s |" %
             " | ".join(fmt_us(s.med("prog", n, "epindex.entry_points first", "enabled"))
                        for n in ns))
    L.append("| `import epindex` before it (the package and its C library) | %s |" %
             " | ".join(fmt_us(s.med("prog", n, "import epindex", "enabled")) for n in ns))
    return L


def programs_section(suite):
    if not getattr(suite, "prog_sizes", None):
        return []
    return ["", "## Real programs", "",
            "Debian's python3 in a `--system-site-packages` venv with N generated "
            "wheel-style distributions (METADATA, RECORD; a third with entry points) "
            "and Debian's %d, the site directory indexed; *accelerated*: "
            "`EPINDEX_ACCELERATE=1`; *enabled*: after `python -m epindex enable` "
            "(whose processes heal what they own, so Debian's dist-packages is indexed "
            "by the first one: this suite runs as root). Medians of %d rounds, each the "
            "median of 3 processes, plain and accelerated alternating. `openstack` "
            "spends its start-up in pkg_resources' working set, which reads every "
            "distribution itself: out of epindex's reach, shown for scale. At 50,000 "
            "most of what grows is not importlib.metadata's discovery: the interpreter's "
            "own start-up (site.py lists and sorts the site directory, the first import "
            "from it lists it again) and pytest's two passes over every distribution "
            "(pluggy's plugins, then the files to rewrite), which make an object and an "
            "entry-point list for each of them however they are found; the "
            "no-autoload row is pytest without those passes." % (
                getattr(suite, "debian_n", 0), suite.args.rounds), ""] + \
        programs_rows(suite) + ["", "![start-up](startup.png)"]


def report(suite, out_dir, started):
    s, sizes, a = suite.s, suite.args.sizes, suite.args
    heads = ["%d dists" % n for n in sizes]
    keys = ["site%d" % n for n in sizes]
    if suite.debian:
        heads.append("Debian (%d)" % suite.debian_n)
        keys.append("debian")
    L = ["# epindex benchmark suite", "",
         "Produced by `bash bench/run%s` in %.0f minutes on %s." % (
             "" if a.argv == [] else " " + " ".join(a.argv), (time.time() - started) / 60,
             time.strftime("%Y-%m-%d")),
         "Machine: %s, %d cores, %s; %s." % (platform.machine(), os.cpu_count(),
                                              platform.platform(), open("/proc/meminfo").readline().split(":")[1].strip()),
         "Interpreters: %s; Debian's peers run by `%s` (%s; importlib_metadata %s)." % (
             ", ".join("%s `%s`" % (v, p) for v, p in sorted(suite.pys.items())), DEBIAN_PY,
             platform.python_version() if sys.executable == DEBIAN_PY else run([DEBIAN_PY, "--version"]).strip(),
             run([DEBIAN_PY, "-c", "import importlib.metadata as m; "
                  "print(m.version('importlib_metadata'))"]).strip()),
         "Every number is the median of %d rounds that alternate the contenders in a "
         "rotating order; each measurement is a new process." % a.rounds, "",
         "## Targets of the core and Python issues", "",
         "| target | measured | limit | |", "| --- | ---: | ---: | --- |"]
    L += target_rows(suite)
    L += ["", "## One group lookup, warm page cache: first call / repeated call", "",
          "Search path: the site directory alone (Debian: `%s`, group `%s`; synthetic: group "
          "`%s`, 40 entries). *first*: the first call in a new process, after imports; "
          "*repeated*: the median of later calls in that process. The C API's *first* is a "
          "whole `lookup_bench --repeat 1` (a new process) and its *repeated* the median of "
          "300 open+lookup+close cycles; `epindex query` is a whole process." % (
              DEBIAN_SITE, DEBIAN_GROUP, G40), ""]
    L += lookup_table(suite, keys, heads)
    L += ["", "![lookup time against N](lookup_vs_n.png)", "",
          "## Ratios", ""]
    L += ratio_lines(suite, keys, heads)
    vk = ["venv%d" % n for n in sizes]
    L += ["", "## A venv's whole default sys.path (5 entries), CPython 3.13", "",
          "| | " + " | ".join("%d dists" % n for n in sizes) + " |",
          "| --- | " + " | ".join("---:" for _ in sizes) + " |"]
    for label in ("epindex (Python)", "accelerate()d importlib.metadata", "importlib.metadata 3.13"):
        L.append("| %s, first / repeated | %s |" % (label, " | ".join(
            "%s / %s" % (fmt_us(s.med(k, label, "first")), fmt_us(s.med(k, label, "repeat")))
            for k in vk)))
    for label in WHOLE:
        L.append("| whole process `%s` | %s |" % (
            "python -c pass" if label == "python -c pass" else
            "python -c 'import %s …'" % ("epindex" if label == "epindex" else "importlib.metadata"),
            " | ".join(fmt_us(s.med(k, label, "process")) for k in vk)))
    L += ["", "The whole-process rows are medians of seven alternating processes a round "
          "(of one a round for `import importlib.metadata` from 10,000 on)."]
    L += ["", "## Cold page cache (every cache dropped before each measurement)", ""]
    if getattr(suite, "cold_ok", False):
        cs = [n for n in sizes if ("cold%d" % n, "epindex C API", "first") in s]
        L += ["| first call | " + " | ".join("%d dists" % n for n in cs) + " |",
              "| --- | " + " | ".join("---:" for _ in cs) + " |"]
        for label in ("importlib.metadata 3.13", "pkg_resources", "epindex (Python)",
                      "epindex C API", "epindex query (process)"):
            L.append("| %s | %s |" % (label, " | ".join(fmt_us(s.med("cold%d" % n, label, "first"))
                                                       for n in cs)))
        L += ["", "The C API and `epindex query` rows are whole processes (the library and "
              "the binary are read from disk too); the others time the call alone."]
    L += ["", "## The hook", "",
          "| distributions | `update --full` | `update` after one added | index.db | lookup.tbl "
          "| peak RSS: update --full | update (one added) | lookup (C) | `epindex query` |",
          "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for n in sizes:
        h = lambda f: s.med("hook", n, f)
        L.append("| %d | %.1f ms | %.1f ms | %.0f KiB | %.0f KiB | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB |" % (
            n, h("full_ms"), h("one_ms"), h("db_bytes") / 1024, h("tbl_bytes") / 1024,
            h("full_rss") / 1024, h("one_rss") / 1024, h("lookup_rss") / 1024, h("query_rss") / 1024))
    L += ["", "Peak RSS is the process's `ru_maxrss` (a bare `true` shows %.1f MiB)." % (
        s.med("hook", 0, "true_rss") / 1024)]
    L += programs_section(suite)
    if suite.notes:
        L += ["", "## Notes", ""] + ["* " + n for n in suite.notes]
    L += ["", "Raw medians (JSON): `%s`" % json.dumps(
        {"|".join(map(str, k)): round(median(v), 1) for k, v in sorted(s.items(), key=str)})]
    text = "\n".join(L) + "\n"
    with open(os.path.join(out_dir, "latest.md"), "w", encoding="utf-8") as f:
        f.write(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--sizes", default="100,1000,10000,50000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true",
                    help="sizes 100,1000 and 2 rounds: a smoke run of the whole suite")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    args.argv = sys.argv[1:]
    if args.quick:
        args.sizes, args.rounds = "100,1000", 2
    args.sizes = [int(x) for x in args.sizes.split(",")]
    started = time.time()
    suite = Suite(args)
    try:
        suite.setup()
        suite.warm_rounds()
        suite.cold()
        suite.hook()
        suite.programs()
        os.makedirs(args.out_dir, exist_ok=True)
        plots(suite, args.out_dir)
        print(report(suite, args.out_dir, started))
    finally:
        suite.cleanup()


if __name__ == "__main__":
    main()
