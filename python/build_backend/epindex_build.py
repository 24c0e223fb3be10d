"""In-tree PEP 517 backend for the epindex Python binding.

No build requirements (the pyenv interpreters have neither setuptools nor
wheel): libepindex's sources and the binding are compiled with the
interpreter's own compiler settings (sysconfig), and the wheel is written
with zipfile. The extension links libepindex statically and SQLite
dynamically; libarchive is loaded at run time (reader/zipapi.c).
"""
import base64
import hashlib
import os
import re
import shlex
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


def lib_sources():
    """reader/*.c of the library, as CMakeLists.txt's EPINDEX_SOURCES lists
    them (one list for both builds)."""
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        block = re.search(r"set\(EPINDEX_SOURCES([^)]*)\)", f.read()).group(1)
    return re.findall(r"reader/[\w]+\.c", block)


def version():
    with open(os.path.join(ROOT, "reader", "epindex.h"), encoding="utf-8") as f:
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


def schema_c(path):
    """schema/index.sql as a C string, minified as schema/embed.cmake does."""
    with open(os.path.join(ROOT, "schema", "index.sql"), encoding="utf-8") as f:
        sql = f.read()
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"[ \t\n]+", " ", sql)
    sql = re.sub(r" ?([(),;]) ?", r"\1", sql).strip()
    with open(path, "w", encoding="utf-8") as f:
        f.write('extern const char ep_schema_sql[];\nconst char ep_schema_sql[] = "%s";\n'
                % sql.replace("\\", "\\\\").replace('"', '\\"'))


def compile_extension(build_dir):
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    ldshared = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")
    include = sysconfig.get_paths()["include"]
    flags = ["-O2", "-g", "-fPIC", "-std=c11", "-fvisibility=hidden", "-Wall",
             "-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE", "-DEPINDEX_BUILDING",
             '-DEPINDEX_LIBARCHIVE_SONAME="libarchive.so.13"',
             "-I" + os.path.join(ROOT, "reader"), "-I" + include]
    schema = os.path.join(build_dir, "schema_sql.c")
    schema_c(schema)
    sources = [os.path.join(ROOT, s) for s in lib_sources()]
    sources += [schema, os.path.join(ROOT, "python", "epindex", "_epindex.c")]
    objects = []
    for src in sources:
        obj = os.path.join(build_dir, os.path.basename(src) + ".o")
        subprocess.run(cc + flags + ["-c", src, "-o", obj], check=True)
        objects.append(obj)
    out = os.path.join(build_dir, "_epindex" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(ldshared + objects + ["-o", out, "-lsqlite3", "-ldl", "-lpthread"],
                   check=True)
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
        with open(os.path.join(ROOT, "python", PTH), "rb") as f:
            files.append((PTH, f.read()))
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
    keep = ("reader", "schema", "python", "pyproject.toml", "README.md")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for top in keep:
            t.add(os.path.join(ROOT, top), arcname=os.path.join(base, top),
                  filter=lambda ti: None if "__pycache__" in ti.name else ti)
    return name
