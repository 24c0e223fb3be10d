"""The Python binding, in a fresh venv of every available CPython 3.11-3.13.

* `pip install --no-index --no-build-isolation .` works (in-tree PEP 517
  backend, no setuptools or wheel needed);
* epindex.entry_points() equals importlib.metadata's answer (3.12+ order),
  and accelerate()d importlib.metadata.entry_points() equals the original for
  every call shape (and accelerated distributions() gives the same
  distributions with the same entry points, metadata and errors), on tricky, large and real search paths, with no index, a
  fresh one and a damaged one (tests/py/api_driver.py does the comparing);
* real plugin hosts run accelerated: pytest with a pytest11 plugin and
  stevedore loading an extension, switched on by EPINDEX_ACCELERATE=1;
* `python -m epindex install WHEEL` installs a wheel and indexes it.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import envgen  # noqa: E402
from test_differential import (EPINDEX, PYTHONS, WHEELS,  # noqa: E402
                               damage_indexes as damage, index_dirs as index)


from conftest import venv_python  # noqa: E402  (venvs, venv: fixtures)


def drive(venv, paths, groups):
    res = subprocess.run([venv_python(venv), os.path.join(HERE, "api_driver.py"),
                          json.dumps(paths), json.dumps(groups)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["checked"] > 5 and report["accelerated"] and report["restored"]
    return report


def test_installed_without_setuptools(venv):
    py = venv_python(venv)
    out = subprocess.run([py, "-c", "import epindex, sys; print(epindex.__version__,"
                          " 'importlib.metadata' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0.1.0", "False"]  # importing epindex does not import it


@pytest.mark.parametrize("interp", PYTHONS)
def test_pip_wheel_installs_in_a_fresh_venv(interp, tmp_path):
    """`pip wheel .` builds a wheel (no setuptools, no wheel package), which
    installs with no network into a new venv and answers there."""
    build = str(tmp_path / "build")
    subprocess.run([interp, "-m", "venv", build], check=True, capture_output=True)
    out = str(tmp_path / "wheels")
    res = subprocess.run([venv_python(build), "-m", "pip", "wheel", "-q", "--no-index",
                          "--no-build-isolation", "-w", out, ROOT],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    wheels = os.listdir(out)
    assert len(wheels) == 1 and wheels[0].startswith("epindex-0.1.0-cp3")
    with zipfile.ZipFile(os.path.join(out, wheels[0])) as z:
        names = z.namelist()
    assert "epindex-accelerate.pth" in names and any(
        n.startswith("epindex/_epindex.") and n.endswith(".so") for n in names)
    fresh = str(tmp_path / "fresh")
    subprocess.run([interp, "-m", "venv", fresh], check=True, capture_output=True)
    subprocess.run([venv_python(fresh), "-m", "pip", "install", "-q", "--no-index",
                    os.path.join(out, wheels[0])], check=True, capture_output=True)
    site = str(tmp_path / "site")
    envgen.dist(site, "w-1.0.dist-info", "w", eps="[console_scripts]\nw = w:main\n")
    got = subprocess.run([venv_python(fresh), "-c",
                          "import epindex, sys; print([e.value for e in "
                          "epindex.entry_points(group='console_scripts', path=[sys.argv[1]])])",
                          site], capture_output=True, text=True, check=True).stdout
    assert got.strip() == "['w:main']"


def test_argument_types_as_importlib_takes_them(venv, tmp_path):
    code = r"""
import importlib.metadata as im, epindex, json
out = {}
out["group5"] = [len(epindex.entry_points(group=5)), len(im.entry_points(group=5))]
out["name5"] = [len(epindex.entry_points(name=5)), len(im.entry_points(name=5))]
for bad in ("/tmp", b"/tmp", [5]):
    try:
        epindex.entry_points(path=bad)
        out[repr(bad)] = "no error"
    except TypeError as e:
        out[repr(bad)] = str(e)
try:
    epindex.explain(policy="fast")
except ValueError as e:
    out["policy"] = str(e)
print(json.dumps(out))
"""
    out = json.loads(subprocess.run([venv_python(venv), "-c", code], check=True,
                                    capture_output=True, text=True).stdout)
    assert out["group5"] == [0, 0] and out["name5"] == [0, 0]
    assert out["'/tmp'"].startswith("path must be a list of path entries")
    assert out["b'/tmp'"].startswith("path must be a list of path entries")
    assert out["[5]"].startswith("expected str, bytes or os.PathLike")
    assert "stat" in out["policy"]
    # the venv cannot see Debian's python3-installer: the advice says so
    whl = tmp_path / "x-1.0-py3-none-any.whl"
    whl.write_bytes(b"")
    res = subprocess.run([venv_python(venv), "-m", "epindex", "install", str(whl)],
                         capture_output=True, text=True)
    assert res.returncode != 0
    assert "a virtual environment, which does not see the system's" in res.stderr


STAMPS = r"""
import epindex, json, os, sys
from epindex import _epindex
site, zip_file, changed = sys.argv[1:4]
os.chdir(site)
paths = ["", site, zip_file, os.path.join(site, "gone"), "."]
h = _epindex.open(paths, 0, 0)
out = {"same": list(h.stamps) == list(_epindex.stamps(paths))}
opened = []
real_open = _epindex.open
def counting_open(*args):
    opened.append(args[0])
    return real_open(*args)
_epindex.open = counting_open
ask = lambda: [e.name for e in epindex.entry_points(group="g", path=[changed])]
first, again = ask(), ask()
# a new distribution, and the directory's mtime moved on: opened again
os.makedirs(os.path.join(changed, "late-1.dist-info"))
with open(os.path.join(changed, "late-1.dist-info", "METADATA"), "w") as f:
    f.write("Name: late\nVersion: 1\n")
with open(os.path.join(changed, "late-1.dist-info", "entry_points.txt"), "w") as f:
    f.write("[g]\nlate = late:main\n")
st = os.stat(changed)
os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1000000000))
out["answers"] = [first, again, ask()]
out["opened"] = len(opened)
print(json.dumps(out))
"""


def test_handle_stamps_and_the_reuse_they_decide(venv, tmp_path):
    """Handle.stamps is stamps(paths) as open() saw it ('' and '.', a file,
    an absent entry), and the per-process cache that keys on it reuses a
    handle while no entry changed and opens again when one did."""
    site, changed = str(tmp_path / "site"), str(tmp_path / "changed")
    envgen.dist(site, "a-1.dist-info", "a", "1", eps="[g]\na = a:main\n")
    envgen.dist(changed, "b-1.dist-info", "b", "1", eps="[g]\nb = b:main\n")
    zip_file = str(tmp_path / "x.zip")
    with zipfile.ZipFile(zip_file, "w") as z:
        z.writestr("c-1.dist-info/METADATA", "Name: c\nVersion: 1\n")
    index([changed])
    res = subprocess.run([venv_python(venv), "-c", STAMPS, site, zip_file, changed],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["same"]
    assert out["answers"] == [["b"], ["b"], ["b", "late"]]
    assert out["opened"] == 2


def test_tricky_paths_all_index_states(venv, tmp_path):
    """missing, fresh, stale, relocated (cp -r) and damaged indexes."""
    root = str(tmp_path / "t")
    paths = envgen.make_tricky(root)
    groups = ["g", "console_scripts", "h", "pytest11", "g\x00x"]
    drive(venv, paths, groups)
    index(paths)
    drive(venv, paths, groups)
    envgen.dist(paths[0], "late-1.0.dist-info", "late",
                eps="[g]\nlate = late:g\n[console_scripts]\nlate = late:main\n")
    drive(venv, paths, groups)  # stale: scanned
    moved = str(tmp_path / "moved")
    shutil.copytree(root, moved)
    drive(venv, [moved + p[len(root):] if p.startswith(root) else p for p in paths],
          groups)  # relocated
    damage(paths)
    drive(venv, paths, groups)


def test_thousand_distributions(venv, tmp_path):
    paths = envgen.make_many(str(tmp_path / "site"), 1000)
    index(paths)
    report = drive(venv, paths, ["console_scripts", "g", "flake8.extension"])
    # accelerated distributions() answered entry_points from the index
    assert report["dists_from_index"] >= 100, report


def test_venv_sys_path_with_editable_install(venv, tmp_path):
    proj = tmp_path / "proj"
    (proj / "edpkg").mkdir(parents=True)
    (proj / "edpkg" / "__init__.py").write_text("def main():\n    return 42\n")
    (proj / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "edpkg"\nversion = "0.1"\n'
        '[project.entry-points."epindex.test"]\nanswer = "edpkg:main"\n')
    py = venv_python(venv)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", "-e", str(proj)], check=True,
                   capture_output=True)
    paths = json.loads(subprocess.run(
        [py, "-c", "import sys, json; print(json.dumps(sys.path[1:]))"],
        capture_output=True, text=True, check=True).stdout)
    site = next(p for p in paths if p.startswith(venv) and p.endswith("site-packages"))
    index([site])
    drive(venv, paths, ["epindex.test", "console_scripts"])
    out = subprocess.run([py, "-c", "import epindex; ep, = epindex.entry_points("
                          "group='epindex.test'); print(ep.load()())"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "42"


def test_debian_dist_packages(venv, tmp_path):
    site = str(tmp_path / "dist-packages")
    shutil.copytree("/usr/lib/python3/dist-packages", site, symlinks=True)
    index([site])
    drive(venv, [site], ["console_scripts", "pytest11", "distutils.commands"])


def test_warning_not_exception_for_broken_metadata(venv, tmp_path):
    paths, broken = envgen.make_broken(str(tmp_path / "b"))
    code = ("import warnings, epindex, json, sys\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    eps = epindex.entry_points(path=json.loads(sys.argv[1]), group='g')\n"
            "print(json.dumps([[e.name for e in eps], [str(x.message) for x in w "
            "if issubclass(x.category, epindex.EpindexWarning)]]))\n")
    out = subprocess.run([venv_python(venv), "-c", code, json.dumps(paths)],
                         capture_output=True, text=True, check=True).stdout
    names, messages = json.loads(out)
    assert names == ["good"]
    for b in broken:
        assert any(b in m for m in messages), (b, messages)


PLUGIN = """
import pytest

@pytest.fixture
def from_plugin():
    return "plugin loaded"

class Hello:
    def greet(self):
        return "hello from stevedore"
"""

HOST = """
import os, sys, importlib.metadata as md
import epindex
calls = []  # searches in which an index answered (the venv's own site)
real = epindex._opened
def counting(*a, **k):
    h, r = real(*a, **k)
    calls.extend(s for s, _ in h.sources if s == "index")
    return h, r
epindex._opened = counting
assert "importlib.metadata" in epindex._patched, "not accelerated"
import pytest
rc = pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[1]])
from stevedore import ExtensionManager
mgr = ExtensionManager(namespace="epindex.hosts", invoke_on_load=True)
print("stevedore:", [e.obj.greet() for e in mgr], "calls:", len(calls) > 0)
sys.exit(rc)
"""


def test_pytest_and_stevedore_run_accelerated(tmp_path):
    """Debian's pytest and stevedore (python3-pytest, python3-stevedore) in a
    venv that sees the system site-packages, accelerated from start-up by
    EPINDEX_ACCELERATE=1 through epindex-accelerate.pth."""
    venv = str(tmp_path / "hostvenv")
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages",
                    venv], check=True, capture_output=True)
    py = venv_python(venv)
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", ROOT], check=True, capture_output=True)
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    with open(os.path.join(site, "hostplug.py"), "w") as f:
        f.write(PLUGIN)
    envgen.dist(site, "hostplug-1.0.dist-info", "hostplug",
                eps="[pytest11]\nhostplug = hostplug\n"
                    "[epindex.hosts]\nhello = hostplug:Hello\n")
    for d in (site, "/usr/lib/python3/dist-packages"):
        if os.access(d, os.W_OK) and d == site:
            subprocess.run([EPINDEX, "update", d], check=True, capture_output=True)
    test = tmp_path / "test_host.py"
    test.write_text("def test_fixture_from_plugin(from_plugin):\n"
                    "    assert from_plugin == 'plugin loaded'\n")
    env = dict(os.environ, EPINDEX_ACCELERATE="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    res = subprocess.run([py, "-c", HOST, str(test)], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed" in res.stdout
    assert "stevedore: ['hello from stevedore'] calls: True" in res.stdout


def make_wheel(directory, name="wheelpkg", version="1.0"):
    """A wheel is a zip file: build one with an entry point."""
    path = os.path.join(directory, "%s-%s-py3-none-any.whl" % (name, version))
    info = "%s-%s.dist-info" % (name, version)
    files = {
        "%s/__init__.py" % name: "def main():\n    return 'ok'\n",
        info + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version),
        info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        info + "/entry_points.txt": "[console_scripts]\n%s = %s:main\n" % (name, name),
    }
    import base64
    import hashlib
    record = []
    with zipfile.ZipFile(path, "w") as z:
        for arc, text in files.items():
            z.writestr(arc, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
            record.append("%s,sha256=%s,%d" % (arc, digest.rstrip(b"=").decode(), len(text)))
        record.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return path


def test_python_m_epindex_install(tmp_path, venvs):
    """Installs with Debian's pypa/installer (system python3) into another
    interpreter's venv, then updates its index: fresh right away."""
    target = venvs[PYTHONS[-1]]
    wheel = make_wheel(str(tmp_path))
    sysvenv = str(tmp_path / "sysvenv")  # system python3: has pypa/installer
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", sysvenv],
                   check=True, capture_output=True)
    subprocess.run([venv_python(sysvenv), "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", ROOT], check=True, capture_output=True)
    res = subprocess.run([venv_python(sysvenv), "-m", "epindex", "install", wheel,
                          "--python", venv_python(target)], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "installed wheelpkg-1.0-py3-none-any.whl" in res.stdout
    site = subprocess.run([venv_python(target), "-c", "import sysconfig; print(sysconfig"
                           ".get_paths()['purelib'])"], capture_output=True, text=True,
                          check=True).stdout.strip()
    verify = subprocess.run([EPINDEX, "verify", site], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout  # fresh right after install
    out = subprocess.run([venv_python(target), "-c", "import epindex, json; "
                          "s = {p: r for p, src, r in epindex.explain()[0] if src == 'index'}; "
                          "ep = epindex.entry_points(group='console_scripts')['wheelpkg']; "
                          "print(json.dumps([s, ep.load()()]))"],
                         capture_output=True, text=True, check=True).stdout
    sources, result = json.loads(out)
    assert sources.get(site) == "fresh" and result == "ok", out


def test_heal_environment_variable(venv, tmp_path):
    """EPINDEX_HEAL=1: a lookup rebuilds the index pip left stale."""
    site = str(tmp_path / "site")
    envgen.make_many(site, 50)
    index([site])
    envgen.dist(site, "pipped-1.0.dist-info", "pipped", eps="[g]\npipped = p:f\n")
    code = ("import epindex, sys; eps = epindex.entry_points(path=[sys.argv[1]], "
            "group='g'); print('pipped' in eps.names, epindex.explain([sys.argv[1]])[0][0][2])")
    for heal, want_verdict in (("0", "stale"), ("1", "fresh")):
        env = dict(os.environ, EPINDEX_HEAL=heal)
        out = subprocess.run([venv_python(venv), "-c", code, site], capture_output=True,
                             text=True, env=env, check=True).stdout.split()
        assert out[0] == "True"  # the answer is right either way
        verify = subprocess.run([EPINDEX, "verify", site], capture_output=True, text=True)
        assert verify.stdout.split(":")[1].split()[0] == want_verdict, verify.stdout


SQLITE_PROBE = """
import sys, epindex
def sqlite_mapped():
    with open("/proc/self/maps") as f:
        return "libsqlite3" in f.read()
print(sqlite_mapped())
names = epindex.entry_points(path=[sys.argv[1]], group="g").names
print(sqlite_mapped(), "late" in names, epindex.explain([sys.argv[1]])[0][0][1])
"""


def test_sqlite_loaded_only_for_an_index_database(venv, tmp_path):
    """A lookup served by the lookup table never opens SQLite, so the
    library does not load it (reader/sqlapi.h); one that needs index.db
    (the table gone) loads it then, and answers the same."""
    site = str(tmp_path / "site")
    envgen.make_many(site, 20)
    envgen.dist(site, "late-1.0.dist-info", "late", eps="[g]\nlate = late:g\n")
    index([site])

    def probe(d=site):
        return subprocess.run([venv_python(venv), "-c", SQLITE_PROBE, d],
                              capture_output=True, text=True,
                              check=True).stdout.split()
    assert probe() == ["False", "False", "True", "index"]
    os.unlink(os.path.join(site, ".epindex", "lookup.tbl"))
    assert probe() == ["False", "True", "True", "index"]
    # A directory of at most 16 distributions is checked file by file, with
    # the stamps its table keeps: no SQLite either -- also when an update
    # (a patch of a table that had no stamps) has just made it small.
    small = str(tmp_path / "small")
    envgen.make_many(small, 16)
    envgen.dist(small, "late-1.0.dist-info", "late", eps="[g]\nlate = late:g\n")
    index([small])
    assert probe(small) == ["False", "False", "True", "index"]
    gone = [d for d in os.listdir(small) if d.startswith("Many0000")]
    subprocess.run(["rm", "-r", os.path.join(small, gone[0])], check=True)
    index([small])
    assert probe(small) == ["False", "False", "True", "index"]
