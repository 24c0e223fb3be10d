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
from test_differential import PYTHONS, WHEELS  # noqa: E402


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
        made[interp] = d
    return made


@pytest.fixture(params=PYTHONS)
def venv(request, venvs):
    return venvs[request.param]
