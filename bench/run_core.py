#!/usr/bin/env python3
"""Core benchmark: the speed targets of epindex's reader and hook.

    python3 bench/run_core.py [--build DIR] [--rounds N] [--out FILE]

Builds synthetic site-packages of 1,000 and 10,000 distributions
(bench/gen_site.py), indexes them, then runs in alternating rounds, so that
machine drift hits every contender alike:

  * open + lookup + close through the C API (bench/lookup_bench), groups of
    40 and 400 entries;
  * importlib.metadata.entry_points(group=G), first call in a new process,
    for each CPython 3.11-3.13 found;
  * `epindex query --path SITE G` as a whole process;
  * `epindex update --full` at 10,000, and `epindex update` right after one
    distribution was added.

Reports medians and ratios in Markdown (stdout, and --out).
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

IMPORTLIB = r"""
import sys, time
import importlib.metadata as md
sys.path[:] = [sys.argv[1]]
t = time.perf_counter()
eps = md.entry_points(group=sys.argv[2])
print((time.perf_counter() - t) * 1e6, len(eps))
"""


def pythons():
    found = []
    for minor in ("11", "12", "13"):
        found += sorted(glob.glob(os.path.expanduser(
            "~/.pyenv/versions/3.%s.*/bin/python3.%s" % (minor, minor))))[-1:]
    return found or [sys.executable]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def c_api_us(build, site, group, repeat=300):
    out = run([os.path.join(build, "bench", "lookup_bench"), "--repeat",
               str(repeat), site, group])
    return float(out.split()[1])


def importlib_us(py, site, group):
    return float(run([py, "-c", IMPORTLIB, site, group]).split()[0])


def process_us(cmd):  # from Python: includes its spawn cost
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1e6


def hyperfine_us(cmd, runs=200):
    """Median wall time of a whole process, by hyperfine (no shell, warm)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        run(["hyperfine", "-N", "--warmup", "20", "--runs", str(runs),
             "--export-json", out.name, " ".join(cmd)])
        return json.load(open(out.name))["results"][0]["median"] * 1e6


def update_ms(epindex, site, full):
    cmd = [epindex, "update"] + (["--full"] if full else []) + [site]
    out = run(cmd)
    return float(out.rsplit(",", 1)[1].split()[0])


def add_one(site, i):
    gen_site.make_one(site, "zz-added-%d" % i)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "core.md"))
    args = ap.parse_args()
    epindex = os.path.join(args.build, "epindex")
    work = tempfile.mkdtemp(prefix="epindex-bench-")
    sites = {}
    for n in (1000, 10000):
        sites[n] = os.path.join(work, "site%d" % n)
        gen_site.make(sites[n], n)
        run([epindex, "update", "--full", sites[n]])
    pys = pythons()
    samples = {}

    def add(key, value):
        samples.setdefault(key, []).append(value)

    for r in range(args.rounds):
        for n, site in sites.items():
            for g in ("bench.g40", "bench.g400"):
                add(("capi", n, g), c_api_us(args.build, site, g))
            for py in pys:
                add(("importlib", n, os.path.basename(py)),
                    importlib_us(py, site, "bench.g40"))
        add(("true",), process_us(["true"]))
        add(("update_full",), update_ms(epindex, sites[10000], True))
        add_one(sites[10000], r)
        add(("update_one",), update_ms(epindex, sites[10000], False))

    med = {k: statistics.median(v) for k, v in samples.items()}
    for n, site in sites.items():  # whole processes, by hyperfine, after the rounds
        med[("cli", n)] = hyperfine_us([epindex, "query", "--path", site, "bench.g40"])
    med[("true-hyperfine",)] = hyperfine_us(["true"])
    lines = ["# epindex core benchmark", "",
             "Machine: %s, %s, %d cores; %s." % (
                 platform.node(), platform.processor() or platform.machine(),
                 os.cpu_count(), platform.platform()),
             "Command: `python3 bench/run_core.py --rounds %d` (medians of %d "
             "alternating rounds; C API rows are each the median of 300 "
             "open+lookup+close cycles)." % (args.rounds, args.rounds), "",
             "## Lookup of one group (µs)", "",
             "| distributions | C API, 40 entries | C API, 400 entries | "
             "importlib.metadata, 40 entries | ratio to the C API, 40 entries | "
             "`epindex query` process |",
             "| ---: | ---: | ---: | --- | --- | ---: |"]
    for n in sites:
        capi = med[("capi", n, "bench.g40")]
        names = [os.path.basename(py) for py in pys]
        imp = ", ".join("%s: %.0f" % (py.replace("python", ""), med[("importlib", n, py)])
                        for py in names)
        ratios = ", ".join("%s: %.0f×" % (py.replace("python", ""),
                                          med[("importlib", n, py)] / capi)
                           for py in names)
        lines.append("| %d | %.1f | %.1f | %s | %s | %.0f |" % (
            n, capi, med[("capi", n, "bench.g400")], imp, ratios, med[("cli", n)]))
    lines += ["", "importlib.metadata: first call in a new process, search path = "
              "the site directory only. `epindex query` process: hyperfine median; "
              "a bare `true` costs %.0f µs by hyperfine." % med[("true-hyperfine",)],
              "", "## The hook (ms, 10,000 distributions)", "",
              "| full build | after one added distribution |", "| ---: | ---: |",
              "| %.1f | %.1f |" % (med[("update_full",)], med[("update_one",)]),
              "", "Raw medians: `%s`" % json.dumps(
                  {"|".join(map(str, k)): round(v, 1) for k, v in med.items()})]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
