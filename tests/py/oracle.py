"""Print importlib.metadata's answer as JSON, for differential tests.

Usage: python oracle.py [--group G] [--name N] PATH...
EPINDEX_ORACLE=importlib_metadata asks the backport instead (it must be on
PYTHONPATH: ../shared/oracles/importlib_metadata-9.0.0).
The search path is exactly PATH... Output: {"sorted_by_group": bool,
"eps": [{group, name, value, dist, version}, ...]} in the order
importlib.metadata returns them. Without --group/--name, Python 3.11 returns
SelectableGroups, sorted by group: "sorted_by_group" is then true.
"""
import json
import sys


def warm_up(md):
    """Run the code paths once on a throwaway distribution, so that modules
    importlib.metadata imports lazily (email's, on 3.13) are loaded while the
    real sys.path is still in place."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        info = os.path.join(d, "w-1.dist-info")
        os.mkdir(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write("Name: w\nVersion: 1\n\nbody\n")
        with open(os.path.join(info, "entry_points.txt"), "w") as f:
            f.write("[g]\nw = w:f\n")
        # and a zip path entry: zipfile (or the backport's zipp) is
        # imported on first use
        import zipfile
        zpath = os.path.join(d, "w.zip")
        with zipfile.ZipFile(zpath, "w") as z:
            z.writestr("z-1.dist-info/METADATA", "Name: z\nVersion: 1\n")
            z.writestr("z-1.dist-info/entry_points.txt", "[g]\nz = z:f\n")
        for dist in md.distributions(path=[d, zpath]):
            for ep in dist.entry_points:
                ep.dist.name, ep.dist.version, ep.module, ep.attr


def main(argv):
    group = name = None
    paths = []
    it = iter(argv)
    for a in it:
        if a == "--group":
            group = next(it)
        elif a == "--name":
            name = next(it)
        else:
            paths.append(a)
    import importlib
    import os
    # before sys.path changes: it needs it
    md = importlib.import_module(os.environ.get("EPINDEX_ORACLE", "importlib.metadata"))

    warm_up(md)
    sys.path[:] = paths

    params = {}
    if group is not None:
        params["group"] = group
    if name is not None:
        params["name"] = name
    sorted_by_group = False
    if params:
        eps = list(md.entry_points(**params))
    else:
        res = md.entry_points()
        if isinstance(res, dict):  # 3.11 SelectableGroups, sorted by group
            sorted_by_group = True
            eps = [ep for g in res for ep in res[g]]
        else:
            eps = list(res)
    out = []
    for ep in eps:
        # broken METADATA: importlib raises on access (the backport 8.0+
        # also for a missing Version: Message.__getitem__ raises KeyError)
        try:
            dist = ep.dist.name
        except Exception:
            dist = None
        try:
            version = ep.dist.version
        except Exception:
            version = None
        out.append(dict(group=ep.group, name=ep.name, value=ep.value,
                        dist=dist, version=version))
    json.dump({"sorted_by_group": sorted_by_group, "eps": out}, sys.stdout)


if __name__ == "__main__":
    import warnings
    warnings.simplefilter("ignore")
    main(sys.argv[1:])
