"""In-tree PEP 517 backend for the epindex Python binding.

No Python build requirements (the pyenv interpreters have neither setuptools
nor wheel): the extension is built by the project's own CMakeLists.txt
(option EPINDEX_PYTHON_MODULE, CMake's FindPython for this interpreter), so
its sources, flags, the embedded schema and libarchive's SONAME are written
down once, there; the wheel is written with zipfile. Needs cmake,
pkg-config, a C compiler and the -dev packages the library needs. The
extension holds libepindex, which loads SQLite and libarchive at run time
(reader/sqlapi.h, reader/zipapi.c): only their headers are needed here.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "epindex"
PURE = ["__init__.py", "__main__.py"]
PTH = "epindex-accelerate.pth"
BOOT = "_epindex_boot.py"  # top level: what the .pth files import


def version():
    with open(os.path.join(ROOT, "include", "epindex.h"), encoding="utf-8") as f:
        return re.search(r'#define EPINDEX_VERSION_STRING "([^"]+)"', f.read()).group(1)


def tag():
    impl = "cp%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s%s-%s" % (impl, impl, getattr(sys, "abiflags", ""), plat)


def metadata_text():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: importlib.metadata entry points from per-directory indexes\n"
            "Requires-Python: >=3.8\nLicense: MIT\n" % (NAME, version()))


def wheel_text():
    return ("Wheel-Version: 1.0\nGenerator: epindex_build\nRoot-Is-Purelib: false\n"
            "Tag: %s\n" % tag())


def compile_extension(build_dir):
    """Configure the project for this interpreter and build _epindex only."""
    cmake = os.environ.get("CMAKE", "cmake")
    subprocess.run([cmake, "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                    "-DEPINDEX_PYTHON_MODULE=ON", "-DEPINDEX_TESTS=OFF",
                    "-DEPINDEX_BENCH=OFF", "-DPython_EXECUTABLE=" + sys.executable],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", build_dir, "--target", "_epindex", "-j",
                    str(os.cpu_count() or 1)], check=True, stdout=subprocess.DEVNULL)
    out = os.path.join(build_dir, "_epindex" + sysconfig.get_config_var("EXT_SUFFIX"))
    if not os.path.exists(out):
        raise RuntimeError("cmake built no %s" % out)
    return out


def record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d" % (arcname, digest.decode(), len(data))


def dist_info():
    return "%s-%s.dist-info" % (NAME, version())


# ---- PEP 517 hooks -------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    d = os.path.join(metadata_directory, dist_info())
    os.makedirs(d, exist_ok=True)
    for name, text in (("METADATA", metadata_text()), ("WHEEL", wheel_text())):
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            f.write(text)
    return dist_info()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "%s-%s-%s.whl" % (NAME, version(), tag())
    with tempfile.TemporaryDirectory() as build_dir:
        ext = compile_extension(build_dir)
        files = [("epindex/" + os.path.basename(ext), open(ext, "rb").read())]
        for p in PURE:
            with open(os.path.join(ROOT, "python", "epindex", p), "rb") as f:
                files.append(("epindex/" + p, f.read()))
        for p in (PTH, BOOT):
            with open(os.path.join(ROOT, "python", p), "rb") as f:
                files.append((p, f.read()))
        files.append((dist_info() + "/METADATA", metadata_text().encode()))
        files.append((dist_info() + "/WHEEL", wheel_text().encode()))
        record = [record_line(a, d) for a, d in files]
        record.append(dist_info() + "/RECORD,,")
        files.append((dist_info() + "/RECORD", ("\n".join(record) + "\n").encode()))
        with zipfile.ZipFile(os.path.join(wheel_directory, name), "w",
                             zipfile.ZIP_DEFLATED) as z:
            for arcname, data in files:
                z.writestr(arcname, data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, version())
    name = base + ".tar.gz"
    keep = ("CMakeLists.txt", "include", "reader", "schema", "hook", "packaging",
            "python", "pyproject.toml", "README.md")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for top in keep:
            t.add(os.path.join(ROOT, top), arcname=os.path.join(base, top),
                  filter=lambda ti: None if "__pycache__" in ti.name else ti)
    return name
