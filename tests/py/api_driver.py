"""Run inside a venv with epindex installed: compare the Python API with
importlib.metadata on one search path. Prints a JSON report; exits 1 on a
difference.

    python api_driver.py PATHS_JSON GROUPS_JSON
"""
import json
import sys
import warnings

import importlib.metadata as md  # before sys.path changes

import epindex

# Modules imported lazily on the way (email's, re, zipfile, csv) must be
# loaded while the real sys.path is in place.
import csv, functools, pathlib, re, zipfile  # noqa: E401,F401
for _d in md.distributions():
    _d.metadata["Name"], _d.entry_points
    break
paths, groups = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.path[:] = paths


def rows(eps):
    out = []
    for ep in eps:
        try:
            d = (ep.dist.name, ep.dist.version)
        except Exception:
            d = (None, None)
        out.append((ep.group, ep.name, ep.value) + d)
    return out


def shapes():
    yield {}
    for g in groups:
        yield {"group": g}
    names = sorted({ep.name for ep in md.entry_points().select()} if sys.version_info >= (3, 12)
                   else {ep.name for g in md.entry_points().values() for ep in g})[:5]
    for n in names:
        yield {"name": n}
        for g in groups[:2]:
            yield {"group": g, "name": n}
    yield {"group": groups[0], "value": "nothing:here"}


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):  # 3.11 SelectableGroups
        return list(a) == list(b) and all(rows(a[k]) == rows(b[k]) for k in a)
    return rows(a) == rows(b)


def discovery_order():
    """What importlib.metadata.entry_points() builds before selecting: the
    3.12+ result, which epindex.entry_points() returns on every version."""
    return md.EntryPoints(ep for d in md._unique(md.distributions())
                          for ep in d.entry_points)


def dist_rows(dists):
    """Each distribution as pluggy and flake8 use it: where, name, version,
    its entry points (or the exception reading them raises)."""
    return [(str(getattr(d, "_path", "")), attempt(lambda: d.metadata["Name"]),
             attempt(lambda: d.version),
             attempt(lambda: [(ep.group, ep.name, ep.value, ep.dist.name)
                              for ep in d.entry_points]))
            for d in dists]


def attempt(f):
    try:
        return f()
    except Exception as e:
        return ["raises", type(e).__name__, str(e)]


def variants(name):
    """A name as programs spell it: as is, upper, with -, _ and . swapped."""
    out = [name, name.upper()]
    for a, b in (("-", "_"), ("_", "."), (".", "-")):
        out.append(name.replace(a, b))
    return out


def by_name():
    """Every name-based call of importlib.metadata, for every name found
    (and a few that are not there)."""
    names = {"no-such-dist", "", "a"}
    found = [attempt(lambda: d.metadata["Name"]) for d in md.distributions()]
    found = [n for n in found if isinstance(n, str)]
    # every name of a small tree; a spread of 25 of a large one (each call
    # of plain importlib lists every path entry)
    for n in found[::max(1, len(found) // 25)]:
        names.update(variants(n))
    out = []
    for n in sorted(names):
        out.append((n, attempt(lambda: md.version(n)),
                    attempt(lambda: str(md.distribution(n)._path)),
                    attempt(lambda: md.metadata(n)["Name"]),
                    attempt(lambda: [str(f) for f in (md.files(n) or [])][:3]),
                    attempt(lambda: md.requires(n)),
                    attempt(lambda: [str(d._path) for d in
                                     md.distributions(name=n)])))
    out.append(attempt(lambda: sorted(md.packages_distributions().items())))
    return out


failures = []
warnings.simplefilter("ignore")
dists_before = dist_rows(md.distributions())
names_before = by_name()
baseline = [(s, md.entry_points(**s)) for s in list(shapes())]
for s, _ in baseline:
    if rows(epindex.entry_points(path=paths, **s)) != rows(discovery_order().select(**s)):
        failures.append(("entry_points", s))
original = md.entry_points
epindex.accelerate()
for s, want in baseline:
    got = md.entry_points(**s)
    if not same(got, want):
        failures.append(("accelerated", s))
accelerated_dists = list(md.distributions())
if dist_rows(accelerated_dists) != dists_before:
    failures.append(("distributions", None))
names_after = by_name()
for want, got in zip(names_before, names_after):
    if want != got:
        failures.append(("by name", want, got))
def from_an_index(d):
    return getattr(d, "_epindex_root", None) is not None
from_index = sum(map(from_an_index, accelerated_dists))
accelerated = md.entry_points is not original
epindex.restore()
restored = md.entry_points is original and not any(
    map(from_an_index, md.distributions()))
print(json.dumps({"checked": len(baseline), "failures": failures,
                  "accelerated": accelerated, "restored": restored,
                  "dists_from_index": from_index}))
sys.exit(1 if failures or not accelerated or not restored else 0)
