"""Differential tests: `epindex query --json` against importlib.metadata.

For every available CPython 3.11-3.13 (pyenv's and Debian's), and for real
and generated environments, epindex's answer must equal
importlib.metadata.entry_points()'s -- entries, values, ep.dist.name,
ep.dist.version and order -- with no index, a fresh one, a stale one, a
relocated one (cp -r) and a damaged one.

Environment: EPINDEX_BIN (the CLI; default build/epindex), EPINDEX_PYTHONS
(colon-separated interpreters; default: every pyenv 3.11-3.13 and
/usr/bin/python3).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import envgen  # noqa: E402

EPINDEX = os.environ.get("EPINDEX_BIN", os.path.join(ROOT, "build", "epindex"))
WHEELS = "/usr/share/python-wheels"
KEYS = ("group", "name", "value", "dist", "version")


def discover_pythons():
    env = os.environ.get("EPINDEX_PYTHONS")
    if env:
        return [p for p in env.split(":") if p]
    found = []
    for minor in ("11", "12", "13"):
        found += sorted(glob.glob(os.path.expanduser(
            "~/.pyenv/versions/3.%s.*/bin/python3.%s" % (minor, minor))))[-1:]
    if os.path.exists("/usr/bin/python3"):
        found.append("/usr/bin/python3")
    return found


PYTHONS = discover_pythons()


def test_at_least_three_interpreters():
    versions = set()
    for py in PYTHONS:
        out = subprocess.run([py, "-c", "import sys; print(sys.version_info[1])"],
                             capture_output=True, text=True, check=True)
        versions.add(out.stdout.strip())
    assert {"11", "12", "13"} <= versions, PYTHONS


def ours(paths, group=None, policy=None, rules=None):
    """(rows, stderr); stderr has --explain's line per path entry."""
    cmd = [EPINDEX, "query", "--json", "--explain"]
    if rules:
        cmd += ["--rules", rules]
    if policy:
        cmd += ["--policy", policy]
    for p in paths:
        cmd += ["--path", p]
    if group is not None:
        cmd.append(group)
    res = subprocess.run(cmd, capture_output=True, check=True)
    rows = json.loads(res.stdout.decode("utf-8", "surrogateescape"))
    return [{k: r[k] for k in KEYS} for r in rows], res.stderr.decode()


def oracle(py, paths, group=None):
    cmd = [py, os.path.join(HERE, "oracle.py")]
    if group is not None:
        cmd += ["--group", group]
    res = subprocess.run(cmd + list(paths), capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip().splitlines()[-1])
    out = json.loads(res.stdout)
    return out["sorted_by_group"], out["eps"]


def assert_same(py, paths, groups=("console_scripts", "g", "pytest11")):
    sorted_by_group, want = oracle(py, paths)
    got, _ = ours(paths)
    if sorted_by_group:  # Python 3.11: SelectableGroups is sorted by group
        got = sorted(got, key=lambda r: r["group"])
    assert got == want
    for g in groups:
        assert ours(paths, g)[0] == oracle(py, paths, g)[1], g


def served(err, paths):
    """The directories of paths whose answer came from their index."""
    return {p for p in paths if "epindex: %s: index (" % p in err}


def warnings(err):
    """stderr lines that are not --explain's."""
    return [line for line in err.splitlines() if not re.match(
        r"epindex: .*: (index|scan|cache|none) \(", line)]


def index_dirs(paths):
    for p in paths:
        if os.path.isdir(p):
            subprocess.run([EPINDEX, "update", p], check=True, capture_output=True)


def drop_indexes(paths):
    for p in paths:
        shutil.rmtree(os.path.join(p, ".epindex"), ignore_errors=True)


def damage_indexes(paths):
    for p in paths:
        db = os.path.join(p, ".epindex", "index.db")
        if os.path.exists(db):
            with open(db, "r+b") as f:
                f.seek(4096)
                f.write(os.urandom(8192))


def relocate(root, paths, dest):
    shutil.rmtree(dest, ignore_errors=True)
    subprocess.run(["cp", "-r", root, dest], check=True)
    return [dest + p[len(root):] if p.startswith(root) else p for p in paths]


def run_states(py, root, paths, groups=("console_scripts", "g", "pytest11")):
    """no index, fresh, relocated (cp -r), damaged, stale."""
    drop_indexes(paths)
    assert_same(py, paths, groups)
    dirs = {p for p in paths if os.path.isdir(p)}
    assert not served(ours(paths, "g")[1], paths)
    index_dirs(paths)
    # an index that is never served would pass every comparison below
    assert served(ours(paths, "g")[1], paths) == dirs
    assert_same(py, paths, groups)
    moved = relocate(root, paths, root + "-moved")
    assert served(ours(moved, "g")[1], moved) == {
        p for p in moved if os.path.isdir(p)}  # relocated, verified
    assert_same(py, moved, groups)
    damage_indexes(moved)
    assert_same(py, moved, groups)
    first_dir = next(p for p in paths if os.path.isdir(p))
    envgen.dist(first_dir, "zz_late-1.0.dist-info", "zz-late",
                eps="[console_scripts]\nlate = late:main\n[g]\nlate = late:g\n")
    assert_same(py, paths, groups)
    shutil.rmtree(os.path.join(first_dir, "zz_late-1.0.dist-info"))
    shutil.rmtree(root + "-moved")


@pytest.fixture(params=PYTHONS)
def py(request):
    return request.param


def test_tricky_search_path(py, tmp_path):
    root = str(tmp_path / "tricky")
    paths = envgen.make_tricky(root)
    run_states(py, root, paths, ("console_scripts", "g", "h", "pytest11", " sp ", ""))


def test_hundreds_of_distributions(py, tmp_path):
    root = str(tmp_path / "many")
    paths = envgen.make_many(os.path.join(root, "site"), 600)
    run_states(py, root, paths, ("console_scripts", "g", "flake8.extension"))


def test_large_files_and_odd_headers(py, tmp_path):
    root = str(tmp_path / "large")
    paths = envgen.make_large(root)
    run_states(py, root, paths, ("g", "s1999", "big"))


def test_broken_metadata_is_skipped_and_reported(py, tmp_path):
    root = str(tmp_path / "broken")
    paths, broken = envgen.make_broken(root)
    with pytest.raises(RuntimeError):
        oracle(py, paths)  # importlib.metadata gives no answer at all
    clean = str(tmp_path / "clean")
    shutil.copytree(root, clean)
    for b in broken:
        shutil.rmtree(os.path.join(clean, "site-broken", b))
    _, want = oracle(py, [os.path.join(clean, "site-broken")])
    for state in ("scan", "index"):
        if state == "index":
            index_dirs(paths)
        got, err = ours(paths)
        assert got == want
        assert bool(served(err, paths)) == (state == "index")
        for b in broken:
            assert b in err


@pytest.fixture(scope="module")
def venvs(tmp_path_factory):
    made = {}
    for interp in PYTHONS:
        d = str(tmp_path_factory.mktemp("venv"))
        subprocess.run([interp, "-m", "venv", d], check=True, capture_output=True)
        wheels = glob.glob(os.path.join(WHEELS, "setuptools-*.whl"))
        if wheels:
            subprocess.run([os.path.join(d, "bin", "python"), "-m", "pip", "install",
                            "-q", "--no-index", "--find-links", WHEELS, "setuptools"],
                           check=True, capture_output=True)
        made[interp] = d
    return made


def venv_paths(venv):
    out = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                          "import sys, json; print(json.dumps(sys.path[1:]))"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_real_venv_with_pip_installed_wheels(py, venvs):
    venv = venvs[py]
    paths = venv_paths(venv)
    site = next(p for p in paths if p.endswith("site-packages") and p.startswith(venv))
    drop_indexes([site])
    assert_same(py, paths, ("console_scripts", "distutils.commands"))
    subprocess.run([EPINDEX, "update", site], check=True, capture_output=True)
    got, err = ours(paths, "console_scripts")
    assert got and served(err, paths) == {site}
    assert not warnings(err)
    assert_same(py, paths, ("console_scripts", "distutils.commands"))
    # the CLI's own --python must agree with the venv's interpreter
    res = subprocess.run([EPINDEX, "query", "--json", "--python",
                          os.path.join(venv, "bin", "python"), "console_scripts"],
                         capture_output=True, check=True)
    assert [{k: r[k] for k in KEYS} for r in json.loads(res.stdout)] == got


def test_debian_dist_packages(py, tmp_path):
    src = "/usr/lib/python3/dist-packages"
    if not os.path.isdir(src):
        pytest.fail("Debian's dist-packages is missing: .ci/run installs python3-* packages")
    root = str(tmp_path / "deb")
    os.makedirs(root)
    site = os.path.join(root, "dist-packages")
    subprocess.run(["cp", "-r", src, site], check=True)
    run_states(py, root, [site], ("console_scripts", "pytest11", "distutils.commands"))
