"""accelerate()'s contract is importlib.metadata's behaviour: the same
snippet prints the same with EPINDEX_ACCELERATE=0 and =1, on every
interpreter -- monkeypatched discovery, removed finders, pyfakefs, broken
metadata that raises, caches and their invalidation, the current
directory, the backport's types, the module's loader, fresh objects -- and
the index is what answers where it can (the snippets count the path
entries served from an index, which must not be 0 where a tree is
indexed).

Also: `python -m epindex enable/disable`, healing and the user cache in an
enabled environment, and CPython's own importlib.metadata tests with
acceleration on, with every fixture's directory indexed on the way.
"""
import glob
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import envgen  # noqa: E402
from conftest import ROOT, venv_python  # noqa: E402
from test_differential import EPINDEX, PYTHONS  # noqa: E402

# Run before each snippet: counts the path entries answered from an index
# (reported on stderr, so that stdout compares plain and accelerated).
PROLOGUE = """
import atexit, sys, epindex
_served = [0]
_real = epindex._opened
def _counting(paths, *a, **k):
    h, r = _real(paths, *a, **k)
    _served[0] += sum(s in ("index", "cache") for s, _ in h.sources)
    return h, r
epindex._opened = _counting
atexit.register(lambda: print("served", _served[0], file=sys.stderr))
SITE = sys.argv[1]
def attempt(f):
    try:
        return f()
    except Exception as e:
        return ["raises", type(e).__name__, str(e)]
"""


def make_site(root, name="site"):
    """A site directory: entry points in two groups, a distribution
    without any, one shadowed on a second directory, then indexed."""
    site = os.path.join(root, name)
    envgen.dist(site, "alpha-1.0.dist-info", "alpha", "1.0",
                eps="[console_scripts]\nalpha = alpha:main\n"
                    "[pytest11]\nalpha = alpha.plugin\n")
    envgen.dist(site, "Beta_Pkg-2.0.dist-info", "Beta.Pkg", "2.0")
    envgen.dist(site, "gamma-3.0.dist-info", "gamma", "3.0",
                eps="[console_scripts]\ngamma = gamma:main\n")
    index_when_settled(site)
    return site


def sites(tmp_path, then=None):
    """A factory of fresh make_site() trees, changed by then(site)."""
    def make(name):
        # the same path each time (snippets print paths): a new tree there
        subprocess.run(["rm", "-rf", str(tmp_path / "t")], check=True)
        site = make_site(str(tmp_path / "t"))
        if then:
            then(site)
            index_when_settled(site)
        return site
    return make


def index_when_settled(*dirs):
    time.sleep(0.05)  # past the clock tick of the last change: not racy
    for d in dirs:
        subprocess.run([EPINDEX, "update", d], check=True, capture_output=True)


def run(py, code, site, accelerate, extra_env=None, args=()):
    env = dict(os.environ, EPINDEX_ACCELERATE="1" if accelerate else "0",
               **(extra_env or {}))
    env.pop("PYTHONPATH", None)
    res = subprocess.run([py, "-c", PROLOGUE + textwrap.dedent(code), site,
                          *args], capture_output=True, text=True, env=env,
                         cwd=os.path.dirname(site))
    served = [int(line.split()[1]) for line in res.stderr.splitlines()
              if line.startswith("served ")]
    if res.returncode:  # say why, once
        print(res.stderr[-2000:])
    return res.returncode, res.stdout, served[0] if served else None


def same_both_ways(py, code, make, served=True, **kw):
    """Plain and accelerated print the same, each on a tree of its own that
    make(name) builds (snippets change their trees); accelerated used an
    index."""
    plain = run(py, code, make("plain"), False, **kw)
    fast = run(py, code, make("fast"), True, **kw)
    assert plain[:2] == fast[:2], (plain, fast)
    assert plain[1].strip(), "the snippet printed nothing"
    if served:
        assert fast[2], "no path entry was answered from an index"
    return fast[1]


# ---- the snippets ----------------------------------------------------------------

SHAPES = """
import importlib.metadata as md, inspect, json
sys.path.insert(0, SITE)
out = {
  "eps": [(e.name, e.value, e.group, e.dist.name, e.dist.version)
          for e in md.entry_points(group="console_scripts")],
  "by_name": [e.value for e in md.entry_points(group="console_scripts",
                                               name="gamma")],
  "select": [e.name for e in md.entry_points(group="pytest11",
                                             value="alpha.plugin")],
  "versions": [attempt(lambda: md.version(n)) for n in
               ("alpha", "ALPHA", "beta-pkg", "Beta.Pkg", "beta__pkg", "nope")],
  "empty": attempt(lambda: md.distribution("")),
  "dist": str(md.distribution("gamma")._path),
  "metadata": md.metadata("beta_pkg")["Name"],
  "files": attempt(lambda: md.files("alpha")),
  "requires": md.requires("alpha"),
  "named": [str(d._path) for d in md.distributions(name="Alpha")],
  "all": [d.metadata["Name"] for d in md.distributions()
          if str(d._path).startswith(SITE)],
  "entry_points_of": [(e.group, e.name) for e in
                      md.distribution("alpha").entry_points],
  # as pluggy reads them: every distribution's, built by the binding
  "ep_objects": [(list(vars(e)), repr(e), e.dist.name, e == e)
                 for d in md.distributions() if d.name in ("alpha", "gamma")
                 for e in d.entry_points],
  # a read-only property, whoever implements it
  "ep_property": [(type(inspect.getattr_static(d, "entry_points")).__name__,
                   attempt(lambda: setattr(d, "entry_points", ())),
                   type(d.entry_points).__name__)
                  for d in md.distributions() if d.name == "alpha"],
  "pd": sorted((k, v) for k, v in md.packages_distributions().items()
               if k in ("alpha", "gamma")),
  "isinstance": all(isinstance(d, md.PathDistribution)
                    for d in md.distributions()),
  "types": sorted({type(d).__qualname__ for d in md.distributions()}),
  "names": [md.entry_points.__name__, md.entry_points.__qualname__,
            md.entry_points.__module__,
            md.MetadataPathFinder.find_distributions.__name__],
}
print(json.dumps(out, sort_keys=True, default=str))
"""


def test_every_call_shape(venv, tmp_path):
    out = same_both_ways(venv_python(venv), SHAPES, sites(tmp_path))
    got = json.loads(out)
    assert got["versions"][:5] == ["1.0", "1.0", "2.0", "2.0", "2.0"]
    assert got["types"] == ["PathDistribution"]
    assert got["ep_property"][0][0] == "property"


GETTER = """
import importlib.metadata as md
sys.path.insert(0, SITE)
d = next(d for d in md.distributions() if d.name == "alpha")
print(type(type(d).__dict__["entry_points"].fget).__name__)
"""


def test_entry_points_getter_has_no_python_frame(venv, tmp_path):
    """Where the binding builds EntryPoint objects (3.11-3.14), the
    property's getter is C: pluggy's pattern asks every distribution, and
    a Python frame each was a tenth of its time at 10,000."""
    py = venv_python(venv)
    ver = subprocess.run([py, "-c", "import sys; print(sys.version_info[1])"],
                         capture_output=True, text=True).stdout
    code, out, served = run(py, GETTER, sites(tmp_path)("fast"), True)
    assert code == 0 and served
    want = "builtin_function_or_method" if int(ver) < 15 else "function"
    assert out.split() == [want]


FRESH_OBJECTS = """
import importlib.metadata as md
sys.path.insert(0, SITE)
a = list(md.entry_points(group="console_scripts"))
b = list(md.entry_points(group="console_scripts"))
a[0].dist.marker = 1
print(a == b, a[0] is b[0], a[0].dist is b[0].dist,
      hasattr(b[0].dist, "marker"),
      hasattr(list(md.entry_points(group="console_scripts"))[0].dist,
              "marker"))
d1, d2 = md.distribution("alpha"), md.distribution("alpha")
d1.marker = 1
print(d1 is d2, hasattr(d2, "marker"))
"""


def test_fresh_objects_every_call(venv, tmp_path):
    out = same_both_ways(venv_python(venv), FRESH_OBJECTS,
                         sites(tmp_path))
    assert out.split() == ["True", "False", "False", "False", "False",
                           "False", "False"]


CONTAINERS = """
import importlib.metadata as md, warnings
warnings.simplefilter("ignore")  # 3.11: mutating EntryPoints is deprecated
sys.path.insert(0, SITE)
alpha, beta = md.distribution("alpha"), md.distribution("Beta.Pkg")
e1, e2, none = alpha.entry_points, alpha.entry_points, beta.entry_points
print(type(e1) is type(none) is md.EntryPoints, e1 == e2, e1 is e2,
      len(none), none is beta.entry_points, [e.name for e in e1])
if isinstance(e1, list):  # 3.11's DeprecatedList: each call its own
    e1.append(e1[0])
    none.append(e1[0])
print(len(alpha.entry_points), len(beta.entry_points),
      getattr(e1, "__dict__", "no dict"), getattr(none, "__dict__", "no dict"))
"""


def test_entry_points_containers_are_importlibs(venv, tmp_path):
    """dist.entry_points is the module's EntryPoints, a new one each call,
    also for a distribution without any, where the binding makes them
    without calling the class."""
    out = same_both_ways(venv_python(venv), CONTAINERS, sites(tmp_path))
    assert out.splitlines()[0] == "True True False 0 False ['alpha', 'alpha']"
    assert out.splitlines()[1] == "2 0 no dict no dict"


ESCAPED_NAMES = """
import importlib.metadata as md
sys.path.insert(0, SITE)
# os.listdir() gives 'caf\\udce9-1.0.dist-info' for the bytes b'caf\\xe9...'
names = ["caf\\udce9", "CAF\\udce9", "caf\\udcc3\\udca9", "\\ud800", "caf"]
print([attempt(lambda: md.version(n)) for n in names],
      [attempt(lambda: epindex.version(n)) for n in names],
      ascii([str(d._path) for d in md.distributions(name="caf\\udce9")]),
      attempt(lambda: md.metadata("caf\\udce9")["Name"]),
      [e.dist.name for e in md.entry_points(group="esc")])
"""


def add_undecodable_dist(site):
    """A distribution whose directory name is not UTF-8."""
    d = os.path.join(os.fsencode(site), b"caf\xe9-1.0.dist-info")
    os.mkdir(d)
    with open(os.path.join(d, b"METADATA"), "wb") as f:
        f.write(b"Name: cafe\nVersion: 1.5\n")
    with open(os.path.join(d, b"entry_points.txt"), "wb") as f:
        f.write(b"[esc]\ncafe = cafe:main\n")


def test_names_of_undecodable_file_names(venv, tmp_path):
    out = same_both_ways(venv_python(venv), ESCAPED_NAMES,
                         sites(tmp_path, then=add_undecodable_dist))
    assert out.startswith("['1.5', '1.5', ['raises', 'PackageNotFoundError'")
    assert out.count("'1.5'") == 4, out


NUL_IN_PATH = """
import importlib.metadata as md
sys.path.insert(0, SITE)
ok = md.version("alpha")
sys.path.insert(0, SITE + "\\x00x")  # os.stat() raises ValueError on it
print(ok, attempt(lambda: md.version("alpha")),
      attempt(lambda: len(md.entry_points(group="console_scripts"))),
      attempt(lambda: len(list(md.distributions()))))
"""


def test_nul_in_a_path_entry_raises_as_importlib_does(venv, tmp_path):
    out = same_both_ways(venv_python(venv), NUL_IN_PATH, sites(tmp_path))
    assert out.startswith("1.0 ['raises', 'ValueError'"), out


FAKE = """
import importlib.metadata as md
sys.path.insert(0, SITE)
class Fake(md.Distribution):
    def read_text(self, filename):
        return {"METADATA": "Name: fake\\nVersion: 9\\n",
                "entry_points.txt": "[pytest11]\\nfake = fake.plugin\\n"
                }.get(filename)
    def locate_file(self, path):
        return path
"""

PATCHED_DISTRIBUTIONS = FAKE + """
md.distributions = lambda **kw: iter([Fake()])
print([(e.name, e.value) for e in md.entry_points(group="pytest11")])
"""

PATCHED_DISCOVER = FAKE + """
md.Distribution.discover = classmethod(lambda cls, **kw: iter([Fake()]))
print([(e.name, e.value) for e in md.entry_points(group="pytest11")],
      md.version("fake"), md.version("alpha"),
      [d.metadata["Name"] for d in md.distributions()])
"""

EXTRA_FINDER = FAKE + """
class Finder:
    @staticmethod
    def find_distributions(context=None):
        return iter([Fake()])
sys.meta_path.append(Finder)
print(sorted((e.name, e.value) for e in md.entry_points(group="pytest11")))
"""

NO_PATH_FINDER = """
import importlib.machinery, importlib.metadata as md
sys.path.insert(0, SITE)
sys.meta_path[:] = [f for f in sys.meta_path
                    if f is not importlib.machinery.PathFinder]
print(len(md.entry_points(group="console_scripts")),
      len(list(md.distributions())))
"""

REPLACED_FIND = """
import importlib.machinery, importlib.metadata as md
sys.path.insert(0, SITE)
importlib.machinery.PathFinder.find_distributions = staticmethod(
    lambda *a, **k: iter([]))
print(len(md.entry_points(group="console_scripts")),
      len(list(md.distributions())))
"""


@pytest.mark.parametrize("code", [PATCHED_DISTRIBUTIONS, PATCHED_DISCOVER,
                                  EXTRA_FINDER, NO_PATH_FINDER, REPLACED_FIND],
                         ids=["distributions", "discover", "extra-finder",
                              "no-path-finder", "replaced-find"])
def test_patched_discovery_is_respected(venv, tmp_path, code):
    """Whatever replaces importlib's discovery decides the answer."""
    out = same_both_ways(venv_python(venv), code, sites(tmp_path),
                         served=False)
    if code is PATCHED_DISTRIBUTIONS:
        assert "fake.plugin" in out and "alpha" not in out
    if code in (NO_PATH_FINDER, REPLACED_FIND):
        assert out.split() == ["0", "0"]


BROKEN = """
import importlib.metadata as md, warnings
warnings.simplefilter("error")
sys.path.insert(0, SITE)
print(attempt(lambda: [e.name for e in md.entry_points(group="console_scripts")]))
print(attempt(lambda: len(list(md.distributions()))))
print(attempt(lambda: md.version("alpha")))
print(attempt(lambda: [(d.metadata["Name"], attempt(lambda: d.entry_points))
                       for d in md.distributions()
                       if str(d._path).startswith(SITE)]))
"""


@pytest.mark.parametrize("broken", ["no-equals", "no-name", "bad-value"])
def test_broken_metadata_raises_as_importlib_does(venv, tmp_path, broken):
    """importlib raises: so does the accelerated call, with the same
    exception; nothing warns (warnings are errors here)."""
    def spoil(site):
        if broken == "no-equals":
            envgen.dist(site, "broken-1.0.dist-info", "broken", "1.0",
                        eps="[console_scripts]\nno equals sign\n")
        elif broken == "no-name":
            # no name from the stem, none in METADATA: _normalized_name
            # raises TypeError
            envgen.dist(site, "-1.0.dist-info", metadata="Version: 1.0\n")
        else:
            envgen.dist(site, "odd-1.0.dist-info", "odd", "1.0",
                        eps="[console_scripts]\nodd = not a reference!\n")
    out = same_both_ways(venv_python(venv), BROKEN, sites(tmp_path, spoil))
    if broken != "bad-value":  # valid before 3.15
        assert "raises" in out.splitlines()[0]


def test_damaged_index_warns_nothing(venv, tmp_path):
    """A damaged index.db under `-W error`: plain succeeds, so must this."""
    def damage(site):
        with open(os.path.join(site, ".epindex", "index.db"), "r+b") as f:
            f.write(b"garbage" * 10)
        os.unlink(os.path.join(site, ".epindex", "lookup.tbl"))

    def make(name):
        site = make_site(str(tmp_path / name))
        damage(site)
        return site
    same_both_ways(venv_python(venv), BROKEN, make, served=False)


INVALIDATE = """
import importlib, importlib.metadata as md, os
sys.path.insert(0, SITE)
def names():
    return sorted(e.name for e in md.entry_points(group="console_scripts"))
before = names()
st = os.stat(SITE)
new = os.path.join(SITE, "late-1.0.dist-info")
os.mkdir(new)
with open(os.path.join(new, "METADATA"), "w") as f:
    f.write("Name: late\\nVersion: 1.0\\n")
with open(os.path.join(new, "entry_points.txt"), "w") as f:
    f.write("[console_scripts]\\nlate = late:main\\n")
os.utime(SITE, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same mtime tick
cached = names()
importlib.invalidate_caches()
print(before, cached, names())
"""


def test_invalidate_caches(venv, tmp_path):
    """importlib.invalidate_caches() makes importlib.metadata list again
    (3.13 and later; earlier ones keep their listings): so must epindex."""
    py = venv_python(venv)
    out = same_both_ways(py, INVALIDATE, sites(tmp_path))
    assert ("'late'" in out.split("] [")[-1]) == (minor_of(py) >= (3, 13))


def minor_of(py):
    out = subprocess.run([py, "-c", "import sys; print(*sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout
    return tuple(int(x) for x in out.split())


ADD_REMOVE = """
import importlib.metadata as md, os, shutil
sys.path.insert(0, SITE)
def state():
    return (sorted(e.name for e in md.entry_points(group="console_scripts")
                   if e.name in ("alpha", "gamma", "added")),
            [d.metadata["Name"] for d in md.distributions(name="added")],
            [str(d._path) for d in md.distributions()
             if str(d._path).startswith(SITE)].__len__())
print(state())
new = os.path.join(SITE, "added-1.0.dist-info")
os.mkdir(new)
with open(os.path.join(new, "METADATA"), "w") as f:
    f.write("Name: added\\nVersion: 1.0\\n")
with open(os.path.join(new, "entry_points.txt"), "w") as f:
    f.write("[console_scripts]\\nadded = added:main\\n")
print(state())
shutil.rmtree(os.path.join(SITE, "gamma-3.0.dist-info"))
print(state(), md.version("added"))
shutil.rmtree(new)
print(state())
"""


def test_distribution_added_and_removed_in_the_process(venv, tmp_path):
    """Installed and uninstalled while the process runs: seen as importlib
    sees them (the directory's mtime changes)."""
    out = same_both_ways(venv_python(venv), ADD_REMOVE, sites(tmp_path))
    assert "'added'" in out.splitlines()[1]


WARNS = """
import warnings, epindex
sys.path.insert(0, SITE)
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    epindex.entry_points(group="console_scripts")
    epindex.invalidate_caches()
    epindex.version("alpha")
    epindex.invalidate_caches()
    [d.entry_points for d in epindex.distributions()]
print(sorted({(x.category.__name__, x.filename, x.lineno) for x in w}))
"""


def test_own_api_warns_at_the_callers_line(venv, tmp_path):
    """epindex's own API says what it skipped, at the caller's line."""
    def spoil(site):
        envgen.dist(site, "broken-1.0.dist-info", "broken", "1.0",
                    eps="[console_scripts]\nno equals sign\n")
    code = "import sys; SITE = sys.argv[1]" + WARNS  # no PROLOGUE: no wrapper
    res = subprocess.run([venv_python(venv), "-c", code,
                          sites(tmp_path, spoil)("t")], capture_output=True,
                         text=True)
    lines = [n for n, line in enumerate(code.splitlines(), 1)
             if line.lstrip().startswith(("epindex.", "[d.entry_points"))]
    assert res.stdout.strip() == str(sorted(
        ("EpindexWarning", "<string>", n) for n in lines
        if "invalidate" not in code.splitlines()[n - 1])), res.stdout + res.stderr


CHDIR = """
import importlib.metadata as md, os
sys.path.insert(0, "")
os.chdir(os.path.join(SITE, "a"))
first = [e.name for e in md.entry_points(group="console_scripts")]
os.chdir(os.path.join(SITE, "b"))
print(first[:1], [e.name for e in md.entry_points(group="console_scripts")][:1])
"""


def test_current_directory_follows_chdir(venv, tmp_path):
    """'' on sys.path, two directories with the same mtime: the cache must
    tell them apart (by device and inode)."""
    def make(name):
        root = str(tmp_path / name)
        a, b = os.path.join(root, "a"), os.path.join(root, "b")
        envgen.dist(a, "one-1.dist-info", "one", "1",
                    eps="[console_scripts]\none = one:main\n")
        envgen.dist(b, "two-1.dist-info", "two", "1",
                    eps="[console_scripts]\ntwo = two:main\n")
        st = os.stat(a)
        os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))
        return root
    out = same_both_ways(venv_python(venv), CHDIR, make, served=False)
    assert out.split() == ["['one']", "['two']"]


UNIMPORTABLE = """
import sys, _epindex_boot
asked = []
class Next:  # the finder after the hook's: it must still be asked
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        asked.append(name)
sys.meta_path.insert(0, Next)
_epindex_boot.start(True)
sys.modules["epindex"] = None  # as an install that cannot be imported
import importlib.metadata as md
print(md.version("pip"), "importlib.metadata" in asked)
"""


def test_a_broken_epindex_leaves_importlib_metadata_working(venv):
    """The start-up hook imports epindex when importlib.metadata is
    imported: if that fails, importlib.metadata still loads, unaccelerated,
    and stderr says why (as site.py reports a failing .pth line)."""
    py = venv_python(venv)
    env = dict(os.environ, EPINDEX_ACCELERATE="0")  # the test starts it
    res = subprocess.run([py, "-c", UNIMPORTABLE], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[1:] == ["True"], res.stdout
    assert "epindex: not accelerating" in res.stderr


# The directories importlib.metadata's own search lists, in `searched`.
RECORD_SEARCHES = """
import importlib.metadata as md
searched = []
class Recording(md.Lookup):  # importlib lists a directory to search it
    def __init__(self, path):
        searched.append(path.root)
        super().__init__(path)
md.Lookup = Recording
"""

LISTED = RECORD_SEARCHES + """
import json, sys, sysconfig
print(json.dumps([md.version("pip"), len(list(md.distributions())),
                  sysconfig.get_paths()["stdlib"] in searched]))
"""


def test_directories_without_metadata_are_not_searched(venv):
    """Accelerated, importlib's own search is skipped for a directory whose
    listing (taken by the library) holds no *.dist-info or *.egg-info: the
    standard library's directory is not listed a second time; the answers
    are plain's."""
    py = venv_python(venv)

    def run(acc):
        env = dict(os.environ, EPINDEX_ACCELERATE=acc)
        return json.loads(subprocess.run([py, "-c", LISTED], env=env,
                                         capture_output=True, text=True,
                                         check=True).stdout)
    plain, fast = run("0"), run("1")
    assert plain[2] is True  # the probe sees importlib's listing
    assert fast[:2] == plain[:2] and fast[2] is False


MISSING = RECORD_SEARCHES + """
import json, os, shutil, sys
later = os.path.join(os.path.dirname(SITE), "later")
sys.path[:0] = [later, SITE]
before = [md.version("alpha"), len(list(md.distributions()))]
was_searched = later in searched
shutil.copytree(SITE, later)  # then it appears, with alpha 9.0
meta = os.path.join(later, "alpha-1.0.dist-info", "METADATA")
with open(meta, "w") as f:
    f.write("Name: alpha\\nVersion: 9.0\\n")
print(json.dumps([before, [md.version("alpha"), len(list(md.distributions()))],
                  was_searched]))
"""


def test_missing_path_entries_are_not_searched(venv, tmp_path):
    """Accelerated, importlib's own search is skipped for a path entry that
    does not exist (most interpreters' standard library zip), which finds
    nothing there; the entry is watched all the same: a directory created
    there later in the process is found, as plain finds it."""
    py = venv_python(venv)
    results = []
    for acc in (False, True):
        site = sites(tmp_path)("site")
        rc, out, served = run(py, MISSING, site, acc)
        assert rc == 0
        results.append(json.loads(out))
    plain, fast = results
    assert plain[0][0] == "1.0" and plain[1][0] == "9.0"
    assert plain[2] is True  # the probe sees importlib's search of it
    assert fast[:2] == plain[:2] and fast[2] is False


REWRITE = """
import importlib.metadata as md, os
sys.path.insert(0, SITE)
first = [e.value for e in md.entry_points(group="console_scripts")]
path = os.path.join(SITE, "alpha-1.0.dist-info", "entry_points.txt")
st = os.stat(SITE)
with open(path, "w") as f:
    f.write("[console_scripts]\\nalpha = alpha:other\\n")
os.utime(SITE, ns=(st.st_atime_ns, st.st_mtime_ns))
print(first, [e.value for e in md.entry_points(group="console_scripts")])
"""


def test_file_rewritten_in_place_without_index(venv, tmp_path):
    """importlib caches listings, not files: with no index, a rewritten
    entry_points.txt is read again."""
    def make(name):
        site = make_site(str(tmp_path / name))
        subprocess.run(["rm", "-rf", os.path.join(site, ".epindex")],
                       check=True)
        return site
    out = same_both_ways(venv_python(venv), REWRITE, make, served=False)
    assert "alpha:other" in out


REWRITE_INDEXED = REWRITE + """
meta = os.path.join(SITE, "alpha-1.0.dist-info", "METADATA")
before = md.version("alpha")
with open(meta) as f:
    text = f.read()
with open(meta, "w") as f:
    f.write(text.replace("Version: 1.0", "Version: 1.5"))
os.utime(SITE, ns=(st.st_atime_ns, st.st_mtime_ns))
print(before, md.version("alpha"),
      [e.value for e in epindex.entry_points(group="console_scripts")])
"""


def test_file_rewritten_in_place_in_a_small_indexed_directory(venv, tmp_path):
    """In a directory of at most 16 distributions the stat check compares
    each one's files, in a later process and in this one (the handle kept
    between calls is checked the same way): a rewritten entry_points.txt
    or METADATA is read again, as importlib.metadata reads it."""
    out = same_both_ways(venv_python(venv), REWRITE_INDEXED, sites(tmp_path))
    assert "alpha:other" in out and "1.0 1.5" in out, out


LOADER = """
import importlib.metadata as md, importlib.resources, pkgutil
sys.path.insert(0, SITE)
print(type(md.__loader__).__name__, md.__spec__.loader is md.__loader__,
      md.__loader__.get_filename("importlib.metadata").endswith("__init__.py"),
      md.__loader__.is_package("importlib.metadata"),
      pkgutil.get_data("importlib.metadata", "__init__.py")[:10],
      importlib.resources.files("importlib.metadata").joinpath(
          "__init__.py").is_file())
"""


def test_loader_is_importlibs(venv, tmp_path):
    same_both_ways(venv_python(venv), LOADER, sites(tmp_path),
                   served=False)


# ---- Debian's python3 with its own packages: the backport, pyfakefs ---------------

@pytest.fixture(scope="module")
def debian_venv(tmp_path_factory):
    """A --system-site-packages venv of Debian's python3: it sees
    python3-importlib-metadata (4.x) and python3-pyfakefs."""
    if not os.path.exists("/usr/bin/python3"):
        pytest.fail("Debian's python3 is missing")
    d = str(tmp_path_factory.mktemp("debvenv"))
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                    d], check=True, capture_output=True)
    subprocess.run([venv_python(d), "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", ROOT], check=True,
                   capture_output=True)
    return venv_python(d)


BACKPORT = """
import importlib.metadata as md
sys.path.insert(0, SITE)
import importlib_metadata
ep = list(md.entry_points(group="console_scripts"))[0]
print(type(ep).__module__, type(ep.dist).__module__,
      sorted({type(d).__module__ for d in md.distributions()}),
      md.version("alpha"), importlib_metadata.version("alpha"),
      [e.name for e in importlib_metadata.entry_points(group="console_scripts")
       if e.name in ("alpha", "gamma")])
"""


def test_backport_types_with_the_stdlib(debian_venv, tmp_path):
    out = same_both_ways(debian_venv, BACKPORT, sites(tmp_path))
    assert out.startswith("importlib_metadata importlib_metadata")


PYFAKEFS = """
import importlib.metadata as md
from pyfakefs.fake_filesystem_unittest import Patcher
with Patcher() as p:
    p.fs.create_file("/fake/site/fake-1.0.dist-info/METADATA",
                     contents="Name: fake\\nVersion: 1.0\\n")
    p.fs.create_file("/fake/site/fake-1.0.dist-info/entry_points.txt",
                     contents="[g]\\nx = fake:x\\n")
    sys.path.insert(0, "/fake/site")
    print(md.version("fake"), [e.value for e in md.entry_points(group="g")],
          [d.metadata["Name"] for d in md.distributions(path=["/fake/site"])])
"""


def test_pyfakefs_is_respected(debian_venv, tmp_path):
    out = same_both_ways(debian_venv, PYFAKEFS, sites(tmp_path),
                         served=False)
    assert out.startswith("1.0 ['fake:x'] ['fake']")


# ---- enabled environments ------------------------------------------------------------

def site_of(py):
    return subprocess.run([py, "-c", "import sysconfig; print(sysconfig."
                           "get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()


LAZY_PROBE = """
import sys
def ours():
    return ",".join(sorted(m for m in sys.modules if "epindex" in m))
print(ours())
import importlib.metadata as md
print(ours().replace("_epindex_boot,", ""))
print("epindex:" + ("loaded" if "epindex._epindex" in sys.modules else "lazy"))
md.version("pip")
print(ours().replace("_epindex_boot,", "").replace("epindex,", ""))
"""


def test_enable_disable(venvs, tmp_path):
    """enable writes a .pth that accelerates every process (unless
    EPINDEX_ACCELERATE=0) and indexes the site directory; disable removes
    it; a pip-installed distribution (no hook) is healed by the first
    process. (A venv without the system's site-packages: an enabled
    environment heals every site directory its user owns, and the system's
    are not this test's to write.)"""
    py = venv_python(venvs[PYTHONS[-1]])
    site = site_of(py)
    pth = os.path.join(site, "epindex-enabled.pth")
    probe = ("import importlib.metadata as md, epindex; md.version('pip'); "
             "print(md.MetadataPathFinder.find_distributions.__func__."
             "__module__)")
    env = dict(os.environ)
    for name in ("EPINDEX_ACCELERATE", "EPINDEX_HEAL", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    res = subprocess.run([py, "-m", "epindex", "enable"], capture_output=True,
                         text=True, env=env)
    try:
        assert res.returncode == 0, res.stderr
        assert os.path.exists(pth) and "enabled: " + pth in res.stdout
        assert os.path.exists(os.path.join(site, ".epindex", "index.db"))
        out = subprocess.run([py, "-c", probe], capture_output=True,
                             text=True, env=env, check=True).stdout
        assert out.strip() == "epindex"
        off = subprocess.run([py, "-c", probe], capture_output=True, text=True,
                             env=dict(env, EPINDEX_ACCELERATE="0"),
                             check=True).stdout
        assert off.strip() == "importlib.metadata"
        # start-up imports the small hook alone; importlib.metadata's import
        # brings epindex in, and the C library waits for a question
        lazy = subprocess.run([py, "-c", LAZY_PROBE], capture_output=True,
                              text=True, env=env, check=True).stdout
        assert lazy.split() == ["_epindex_boot", "epindex", "epindex:lazy",
                                "epindex._epindex"], lazy
        # pip runs no hook: a new distribution makes the index stale, and
        # the first process that owns the directory rebuilds it
        time.sleep(0.05)
        envgen.dist(site, "pipped-1.0.dist-info", "pipped", "1.0")
        time.sleep(0.05)
        ask = ("import importlib.metadata as md, epindex; "
               "print(md.version('pipped')); "
               "print([s for p, *s in epindex.explain()[0] if p == %r])" % site)
        for no_bytecode, want in (("-B", "'scan', 'stale'"),
                                  (None, "'index'")):
            # as CPython writes __pycache__: not under -B
            heal = subprocess.run([py] + [no_bytecode] * bool(no_bytecode) +
                                  ["-c", ask], capture_output=True, text=True,
                                  env=env, check=True).stdout
            assert heal.splitlines()[0] == "1.0"
            assert want in heal.splitlines()[1], heal
        assert os.stat(os.path.join(site, ".epindex", "index.db")).st_mtime > \
            os.stat(os.path.join(site, "pipped-1.0.dist-info")).st_mtime
    finally:
        res = subprocess.run([py, "-m", "epindex", "disable"],
                             capture_output=True, text=True, env=env)
    assert res.returncode == 0 and "disabled: removed " + pth in res.stdout
    assert not os.path.exists(pth)
    verify = subprocess.run([EPINDEX, "verify", site], capture_output=True,
                            text=True)
    assert verify.returncode == 0 and "fresh" in verify.stdout, verify.stdout
    again = subprocess.run([py, "-m", "epindex", "disable"],
                           capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "not enabled" in again.stdout


def test_enable_refuses_an_interpreter_without_epindex(debian_venv, tmp_path):
    bare = str(tmp_path / "bare")
    subprocess.run(["/usr/bin/python3", "-m", "venv", bare], check=True,
                   capture_output=True)
    res = subprocess.run([debian_venv, "-m", "epindex", "enable", "--python",
                          venv_python(bare)], capture_output=True, text=True)
    assert res.returncode == 1
    assert "cannot import epindex" in res.stderr
    assert not glob.glob(os.path.join(bare, "lib", "*", "site-packages",
                                      "epindex-enabled.pth"))


# ---- CPython's own tests, accelerated ---------------------------------------------

SUITES = {
    "3.11": ["test.test_importlib.test_main", "test.test_importlib.test_metadata_api",
             "test.test_importlib.test_zip"],
    "3.12": ["test.test_importlib.test_main", "test.test_importlib.test_metadata_api",
             "test.test_importlib.test_zip"],
    "3.13": ["test.test_importlib.metadata.test_main",
             "test.test_importlib.metadata.test_api",
             "test.test_importlib.metadata.test_zip"],
}

SUITE_RUNNER = """
import unittest
suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[2:])
result = unittest.TextTestRunner(verbosity=1).run(suite)
print("ran", result.testsRun, "ok" if result.wasSuccessful() else "FAILED")
"""


@pytest.mark.parametrize("heal", ["0", "1"], ids=["fallback", "indexed"])
def test_cpython_suite_accelerated(venvs, heal):
    """importlib.metadata's tests as CPython ships them, run accelerated;
    with EPINDEX_HEAL=1 every fixture's directory is indexed when first
    read, so that the index answers, not only the fallback."""
    pyenv = [p for p in PYTHONS if "/.pyenv/" in p]
    assert len(pyenv) >= 3, "pyenv's 3.11, 3.12 and 3.13 are needed"
    for interp in pyenv:
        py = venv_python(venvs[interp])
        minor = "%d.%d" % minor_of(py)
        env = dict(os.environ, EPINDEX_ACCELERATE="1", EPINDEX_HEAL=heal)
        res = subprocess.run([py, "-c", PROLOGUE + SUITE_RUNNER, "-",
                              *SUITES[minor]], capture_output=True, text=True,
                             env=env, cwd="/tmp")
        assert res.returncode == 0 and " ok" in res.stdout, \
            res.stdout[-3000:] + res.stderr[-3000:]
        ran = int(res.stdout.split("ran ")[-1].split()[0])
        assert ran >= 80, res.stdout
        served = int(res.stderr.split("served ")[-1].split()[0])
        if heal == "1":
            assert served >= 50, (minor, served)


# ---- real programs: identical output ----------------------------------------------

PLUGGY = """
import pluggy, importlib.metadata as md
sys.path.insert(0, SITE)
pm = pluggy.PluginManager("demo")
n = pm.load_setuptools_entrypoints("console_scripts", name="no-such-plugin")
print(n, sorted((d.project_name, d.version) for _, d in pm.list_plugin_distinfo()))
dists = [(d.metadata["Name"], len(d.entry_points)) for d in md.distributions()]
print(len(dists), sorted(dists)[:20])
"""

STEVEDORE = """
from stevedore import ExtensionManager
sys.path.insert(0, SITE)
mgr = ExtensionManager(namespace="pytest11")
print(sorted(mgr.names()), [type(e.plugin).__name__ for e in mgr])
"""


@pytest.mark.parametrize("program", ["pytest --version", "flake8 --version",
                                     "pytest --co -qq -p no:cacheprovider", "pluggy",
                                     "stevedore"])
def test_real_programs_same_output(debian_venv, tmp_path, program):
    """Debian's pytest, flake8, pluggy and stevedore print the same
    accelerated, with the index answering."""
    def make(name):
        site = make_site(str(tmp_path / "t"))
        for rel, text in (("alpha/__init__.py", "def main():\n    pass\n"),
                          ("alpha/plugin.py", "ALPHA = 1\n"),
                          ("../test_x.py", "def test_one():\n    pass\n")):
            envgen.write(os.path.join(site, rel), text)
        index_when_settled(site)
        return site
    if program in ("pluggy", "stevedore"):
        same_both_ways(debian_venv, PLUGGY if program == "pluggy" else STEVEDORE,
                       make)
        return
    args = program.split()
    code = ("import runpy; sys.path.insert(0, SITE); sys.argv = %r; "
            "runpy.run_module(%r, run_name='__main__')" % (args, args[0]))
    out = same_both_ways(debian_venv, code, make)
    assert out.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="acts as root and as nobody")
def test_enabled_environment_caches_what_its_user_may_not_write():
    """A site directory nobody indexed and this user may not write (as
    Debian's dist-packages is to a user's --system-site-packages venv):
    the first process of an enabled environment keeps its index in the
    user's cache, the next ones answer from it."""
    import tempfile
    top = tempfile.mkdtemp(prefix="epindex-enabled-")
    try:
        os.chmod(top, 0o755)
        venv = os.path.join(top, "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True,
                       capture_output=True)
        py = venv_python(venv)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-index",
                        "--no-build-isolation", ROOT], check=True,
                       capture_output=True)
        subprocess.run([py, "-m", "epindex", "enable"], check=True,
                       capture_output=True)
        site = site_of(py)
        time.sleep(0.05)
        envgen.dist(site, "late-1.0.dist-info", "late", "1.0",
                    eps="[console_scripts]\nlate = late:main\n")
        subprocess.run(["chmod", "-R", "a+rX", top], check=True)
        cache = os.path.join(top, "cache")
        os.mkdir(cache)
        os.chown(cache, 65534, 65534)
        env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent",
               "XDG_CACHE_HOME": cache}
        code = ("import epindex; eps = epindex.entry_points(group="
                "'console_scripts'); print('late' in eps.names, "
                "[s for p, *s in epindex.explain()[0] if p == %r])" % site)
        outs = [subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                                "--clear-groups", py, "-c", code],
                               capture_output=True, text=True, env=env,
                               cwd="/", check=True).stdout.strip()
                for _ in range(2)]
        assert outs[0].startswith("True") and outs[1].startswith("True"), outs
        assert "['cache'," in outs[1], outs
        assert os.listdir(os.path.join(cache, "epindex"))
        # the directory itself was not written: its index is still stale
        verify = subprocess.run([EPINDEX, "verify", site], capture_output=True,
                                text=True)
        assert verify.returncode == 1 and "stale" in verify.stdout
    finally:
        subprocess.run(["rm", "-rf", top], check=True)
