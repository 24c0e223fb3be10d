"""python -m epindex: the installer wrapper and the hook.

    python -m epindex install WHEEL... [--python PY]
        install wheels with pypa/installer into PY's environment (default:
        this interpreter), then update the indexes of its purelib and
        platlib directories: "installer, then hook" in one step.
    python -m epindex update DIR... [--full]
        the hook alone.

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
    args = ap.parse_args(argv)
    if args.command == "install":
        return install(args.wheels, args.python)
    return max(run_update(d, args.full) for d in args.dirs)


if __name__ == "__main__":
    sys.exit(main())
