"""Fixtures shared by the Python-side tests: a fresh venv of every
interpreter with epindex installed from this tree (pip, no index, no build
isolation: the in-tree PEP 517 backend needs nothing from PyPI)."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from test_differential import EPINDEX, PYTHONS, WHEELS  # noqa: E402


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


@pytest.fixture(scope="session")
def venvs(tmp_path_factory):
    made = {}
    for interp in PYTHONS:
        d = str(tmp_path_factory.mktemp("apivenv"))
        subprocess.run([interp, "-m", "venv", d], check=True, capture_output=True)
        py = venv_python(d)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-index",
                        "--no-build-isolation", ROOT], check=True,
                       capture_output=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-index",
                        "--find-links", WHEELS, "setuptools", "wheel"], check=True,
                       capture_output=True)  # for the editable install test
        # indexed, as an installer with the hook leaves it: then every path
        # entry with distributions is served, and accelerate()'s direct
        # entry_points() answer is what the tests meet
        site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig."
                               "get_paths()['purelib'])"], capture_output=True,
                              text=True, check=True).stdout.strip()
        subprocess.run([EPINDEX, "update", site], check=True, capture_output=True)
        made[interp] = d
    return made


@pytest.fixture(params=PYTHONS)
def venv(request, venvs):
    return venvs[request.param]


SYSTEM_SITE = "/usr/lib/python3/dist-packages"


@pytest.fixture(scope="session", autouse=True)
def system_site_left_as_found():
    """Tests that heal as root (EPINDEX_HEAL=1 in a venv that sees the
    system's site-packages) index Debian's dist-packages, as they should:
    root owns it. The machine is left as it was found."""
    index = os.path.join(SYSTEM_SITE, ".epindex")
    had = os.path.exists(index)
    yield
    if not had and os.path.isdir(index):
        subprocess.run(["rm", "-rf", index], check=True)
