"""python -m epindex: the installer wrapper and the hook.

    python -m epindex install WHEEL... [--python PY]
        install wheels with pypa/installer into PY's environment (default:
        this interpreter), then update the indexes of its purelib and
        platlib directories: "installer, then hook" in one step.
    python -m epindex update DIR... [--full]
        the hook alone.
    python -m epindex enable [--python PY]
        accelerate PY's environment for good: a .pth file in its purelib
        makes every process answer importlib.metadata from the indexes,
        heal stale site directories it owns, and keep indexes of those it
        may not write in the user's cache (EPINDEX_ACCELERATE=0 turns it
        off for one process); then index the environment's site
        directories.
    python -m epindex disable [--python PY]
        remove that file (and index the site directories again).

pypa/installer must be importable by the interpreter running this module
(Debian: python3-installer); the target interpreter PY needs nothing.
"""
import argparse
import json
import os
import subprocess
import sys

from . import update


def scheme_of(python):
    """sysconfig's install paths of the target interpreter."""
    code = ("import json, sysconfig; p = sysconfig.get_paths(); "
            "print(json.dumps({k: p[k] for k in ('purelib', 'platlib', "
            "'headers', 'scripts', 'data') if k in p}))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def installer_advice():
    """Why pypa/installer cannot be imported here, and what to do."""
    here = sys.executable
    if sys.prefix != sys.base_prefix:
        # a venv: the system's copy, if any, is invisible to it
        return ("pypa/installer cannot be imported by %s (a virtual "
                "environment, which does not see the system's packages): "
                "install it into the venv, or run a python3 that has both "
                "installer and epindex: python3 -m epindex install WHEEL... "
                "--python %s" % (here, here))
    return ("pypa/installer cannot be imported by %s: install it "
            "(Debian: apt-get install python3-installer)" % here)


def install(wheels, python):
    try:
        from installer import install as install_wheel
        from installer.destinations import SchemeDictionaryDestination
        from installer.sources import WheelFile
    except ImportError:
        sys.exit("epindex: " + installer_advice())
    scheme = scheme_of(python)
    scheme.setdefault("headers", os.path.join(scheme["data"], "include"))
    destination = SchemeDictionaryDestination(
        scheme, interpreter=python, script_kind="posix")
    for wheel in wheels:
        with WheelFile.open(wheel) as source:
            install_wheel(source, destination, additional_metadata={
                "INSTALLER": b"epindex\n"})
        print("installed %s" % os.path.basename(wheel))
    status = 0
    for d in sorted({scheme["purelib"], scheme["platlib"]}):
        status |= run_update(d, False)
    return status


def run_update(directory, full):
    try:
        st = update(directory, full)
    except OSError as e:
        print(e, file=sys.stderr)
        return 3
    print("%s: %s" % (directory, "unchanged" if st["unchanged"] else
                      "%(dists)d dists, %(entries)d entry points, "
                      "%(reread)d read" % st))
    return 0


ENABLED_PTH = "epindex-enabled.pth"
ENABLED_LINE = ('import os; os.environ.get("EPINDEX_ACCELERATE") != "0" and '
                '__import__("_epindex_boot").start(True)\n')


def enable(python):
    """Write the .pth (atomically) where PY's site module reads it."""
    probe = subprocess.run([python, "-c", "import epindex"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        sys.exit("epindex: %s cannot import epindex, so enabling it there "
                 "would break nothing but do nothing: install it into that "
                 "environment first (pip install --no-index "
                 "--no-build-isolation /path/to/epindex)" % python)
    scheme = scheme_of(python)
    target = os.path.join(scheme["purelib"], ENABLED_PTH)
    tmp = "%s.tmp-%d" % (target, os.getpid())
    try:
        # "x": O_CREAT|O_EXCL, which refuses a file or symlink planted at
        # the temporary name by whoever else may write purelib
        with open(tmp, "x") as f:
            f.write(ENABLED_LINE)
        os.replace(tmp, target)
    except OSError as e:
        with_tmp_removed(tmp)
        sys.exit("epindex: cannot enable %s: %s" % (python, e))
    print("enabled: %s" % target)
    return update_writable(scheme)


def with_tmp_removed(tmp):
    try:
        os.unlink(tmp)
    except OSError:
        pass


def disable(python):
    scheme = scheme_of(python)
    target = os.path.join(scheme["purelib"], ENABLED_PTH)
    try:
        os.unlink(target)
    except FileNotFoundError:
        print("not enabled: %s does not exist" % target)
        return 0
    except OSError as e:
        sys.exit("epindex: cannot disable %s: %s" % (python, e))
    print("disabled: removed %s" % target)
    return update_writable(scheme)


def update_writable(scheme):
    """The site directories just changed (a .pth came or went, no
    distribution did): index them again, so that readers need one stat."""
    status = 0
    for d in sorted({scheme["purelib"], scheme["platlib"]}):
        if os.access(d, os.W_OK):
            status |= run_update(d, False)
    return status


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m epindex",
                                 description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install", help="install wheels, then update the indexes")
    p.add_argument("wheels", nargs="+", metavar="WHEEL")
    p.add_argument("--python", default=sys.executable,
                   help="target interpreter (default: this one)")
    u = sub.add_parser("update", help="update the indexes of directories")
    u.add_argument("dirs", nargs="+", metavar="DIR")
    u.add_argument("--full", action="store_true", help="re-read everything")
    for command, what in (("enable", "accelerate an environment for good"),
                          ("disable", "stop accelerating an environment")):
        e = sub.add_parser(command, help=what)
        e.add_argument("--python", default=sys.executable,
                       help="the environment's interpreter (default: this "
                       "one)")
    args = ap.parse_args(argv)
    if args.command == "install":
        return install(args.wheels, args.python)
    if args.command == "enable":
        return enable(args.python)
    if args.command == "disable":
        return disable(args.python)
    return max(run_update(d, args.full) for d in args.dirs)


if __name__ == "__main__":
    sys.exit(main())
