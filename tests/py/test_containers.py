"""The container / archive life cycle, without Docker (issue 4, part 3).

A venv with real wheels is indexed by the container-build step
(`epindex update --python`, as an unprivileged owner so that the stdlib
directories it may not write are reported as skipped), archived with tar and
unpacked at another path, and copied with `cp -r` (which keeps no mtimes).
Where the content is unchanged the reader serves the index after verifying
it (no full scan); where it changed, it scans; the answer is importlib's
either way.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import envgen
from test_differential import EPINDEX, KEYS, WHEELS, assert_same

PY = "/usr/bin/python3"


def explain(site):
    res = subprocess.run([EPINDEX, "query", "--explain", "--json", "--path", site],
                         capture_output=True, text=True, check=True)
    rows = [{k: r[k] for k in KEYS} for r in json.loads(res.stdout)]
    return rows, res.stderr


@pytest.fixture
def tmp_path():
    """A directory the unprivileged user can reach (pytest's is 0700)."""
    import pathlib
    d = tempfile.mkdtemp(prefix="epindex-image-", dir="/tmp")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d)


def test_image_life_cycle(tmp_path):
    root = tmp_path / "img"
    root.mkdir()
    venv = str(root / "venv")
    subprocess.run([PY, "-m", "venv", venv], check=True, capture_output=True)
    subprocess.run([venv + "/bin/python", "-m", "pip", "install", "-q", "--no-index",
                    "--find-links", WHEELS, "setuptools", "wheel"], check=True,
                   capture_output=True)
    site = subprocess.run([venv + "/bin/python", "-c", "import sysconfig; print("
                           "sysconfig.get_paths()['purelib'])"], capture_output=True,
                          text=True, check=True).stdout.strip()
    subprocess.run(["chown", "-R", "nobody", str(root)], check=True)
    step = subprocess.run(["runuser", "-u", "nobody", "--", EPINDEX, "update",
                           "--python", venv + "/bin/python"], capture_output=True,
                          text=True)
    assert step.returncode == 0, step.stderr
    assert site + ": " in step.stdout and "dists" in step.stdout.split(site + ": ")[1]
    assert "skipped: not writable by this user" in step.stdout  # stdlib dirs
    assert "skipped: No such file or directory" in step.stdout  # pythonXY.zip

    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run("tar -C '%s' -cf - venv | tar -C '%s' -xf -" % (root, unpacked),
                   shell=True, check=True)
    copied = tmp_path / "copied"
    subprocess.run(["cp", "-r", str(root), str(copied)], check=True)
    for place in (str(unpacked), str(copied)):
        new_site = place + site[len(str(root)):]
        rows, err = explain(new_site)
        assert "index (index verified against the directory)" in err, err
        assert rows
        assert_same(PY, [new_site], ("console_scripts", "distutils.commands"))
        # the image changed at its new place
        envgen.dist(new_site, "late-1.0.dist-info", "late",
                    eps="[console_scripts]\nlate = late:main\n")
        rows, err = explain(new_site)
        assert "scan (index was built for another directory and no longer matches)" in err, err
        assert any(r["name"] == "late" for r in rows)
        assert_same(PY, [new_site], ("console_scripts", "distutils.commands"))
