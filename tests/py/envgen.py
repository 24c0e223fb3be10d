"""Build search paths full of importlib.metadata's edge cases.

make_tricky(root) returns a list of path entries (directories, an .egg
directory, a zip file) whose metadata exercises discovery order, name
normalisation, precedence across and within entries, legacy formats and
entry_points.txt text rules -- all *valid* for importlib.metadata (it does
not raise on any of it). make_broken(root) returns entries where
importlib.metadata raises, with the names of the broken distributions.
make_many(root, n) adds n ordinary distributions.
"""
import os
import random
import zipfile

TEXT_CASES = [
    "[console_scripts]\nfoo = foo.cli:main\nbar=bar:run\n",
    "# top\n\n[g]\n  # indented comment\n\na = b # not a comment\n",
    "orphan line without equals\nx = y\n[g]\nk = v\n",
    "[g]\na = b = c\n=novalue\nempty =\n",
    "[[g]]\na = 1\n[]\nb = 2\n[ sp ]\nc = 3\n[x]y]\nd = 4\n",
    "[g]\r\na = 1\rb = 2\r\n",
    "[g]\x0ba = 1\x0cb = 2\x1cc = 3\x1dd = 4\x1ee = 5\x85f = 6\u2028h = 7\u2029i = 8\n",
    "[g]\na = 1\x1fb\n",
    "[g]\n\u3000a\u00a0=\u2003b\u202f\n\x1fc = d\x1f\n",
    "\ufeff[g]\na = 1\n[h]\nb = 2\n",
    "[g]\na\x00b = c\x00d\n",
    "\t[g]\t\n\ta\t=\tb\t\n",
    "[g]\na = 1\n[h]\nb = 2\n[g]\nc = 3\n",
    "[pytest11]\nplug = pkg.plugin\n[console_scripts]\ntool = pkg:main [extra1, extra2]\n",
    "",
    "\n\n# only comments\n",
    "[g]\ncaf\u00e9 = m\u00f6d:f\u00fcnc\n",
]


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(text, bytes):
        with open(path, "wb") as f:
            f.write(text)
    else:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)


def dist(site, metadir, name=None, version="1.0", eps=None, metadata=None):
    d = os.path.join(site, metadir)
    os.makedirs(d, exist_ok=True)
    if metadata is None and name is not None:
        metadata = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nbody\n" % (name, version)
    if metadata is not None:
        write(os.path.join(d, "METADATA"), metadata)
    if eps is not None:
        write(os.path.join(d, "entry_points.txt"), eps)


def make_tricky(root):
    a = os.path.join(root, "site-a")
    b = os.path.join(root, "site-b")
    os.makedirs(a)
    os.makedirs(b)
    for i, text in enumerate(TEXT_CASES):
        dist(a, "text%02d-1.0.dist-info" % i, "text%02d" % i, eps=text)
    # precedence within a directory and across directories
    dist(a, "Foo.Bar-1.0.dist-info", "Foo.Bar", eps="[g]\nfoo = a:first\n")
    dist(a, "foo_bar-2.0.dist-info", "foo_bar", eps="[g]\nfoo = a:second\n")
    dist(b, "FOO-BAR-3.0.dist-info", "FOO-BAR", eps="[g]\nfoo = b:third\n")
    # a legacy egg-info *file* hides a later dist with entry points
    write(os.path.join(a, "legacy-0.1-py3.11.egg-info"), "Metadata-Version: 1.0\nName: legacy\nVersion: 0.1\n")
    dist(b, "legacy-9.0.dist-info", "legacy", "9.0", eps="[g]\nlegacy = b:legacy\n")
    # egg-info directory with PKG-INFO instead of METADATA
    d = os.path.join(a, "oldstyle-1.0-py3.11.egg-info")
    write(os.path.join(d, "PKG-INFO"), "Metadata-Version: 1.1\nName: oldstyle\nVersion: 1.0\n")
    write(os.path.join(d, "entry_points.txt"), "[g]\nold = oldstyle:f\n")
    # names that must come from METADATA (no usable stem)
    dist(a, "-5.0.dist-info", "Stemless", "5.0", eps="[g]\nstemless = s:f\n")
    dist(b, "stemless-6.0.dist-info", "stemless", "6.0", eps="[g]\nstemless = hidden:f\n")
    dist(a, "Upper-1.0.DIST-INFO", "Upper.Case", eps="[g]\nupper = u:f\n")
    # a NUL in a Name: "nul\0name" is not "nul", and hides nothing
    dist(a, "-8.0.dist-info", "nul\x00name", "8.0", eps="[g]\nnulname = n:f\n")
    dist(b, "nul-1.0.dist-info", "nul", eps="[g]\nnul = visible:f\n[g\x00x]\nn = m:f\n")
    # folded and odd METADATA headers
    dist(a, "folded-1.0.dist-info", metadata="Name: folded\n  continued\nVersion:  2.0  \n",
         eps="[g]\nfolded = f:f\n")
    dist(a, "noversion-1.0.dist-info", metadata="Name: noversion\n", eps="[g]\nnv = nv:f\n")
    dist(a, "nometa-1.0.dist-info", eps="[g]\nnometa = nm:f\n")
    dist(a, "crlf-1.0.dist-info", metadata="Name: crlf\r\nVersion: 3\r\n", eps="[g]\ncrlf = c:f\n")
    # non-ASCII names: Unicode lowercasing decides precedence
    dist(a, "\u00c4pfel-1.0.dist-info", "\u00c4pfel", eps="[g]\napfel = first:f\n")
    dist(b, "\u00e4pfel-2.0.dist-info", "\u00e4pfel", eps="[g]\napfel = second:f\n")
    # directories that look like metadata but are not, and noise
    os.makedirs(os.path.join(a, "package"))
    write(os.path.join(a, "module.py"), "x = 1\n")
    write(os.path.join(a, "something.pth"), "\n")
    # an .egg directory path entry
    egg = os.path.join(root, "Eggy_Pkg-1.0-py3.11.egg")
    write(os.path.join(egg, "EGG-INFO", "PKG-INFO"), "Metadata-Version: 1.1\nName: Eggy-Pkg\nVersion: 1.0\n")
    write(os.path.join(egg, "EGG-INFO", "entry_points.txt"), "[console_scripts]\neggy = eggy:main\n")
    # a zip path entry (like a wheel on sys.path)
    zpath = os.path.join(root, "bundle.zip")
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("zipped/__init__.py", "")
        z.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\nVersion: 1.0\n")
        z.writestr("zipped-1.0.dist-info/entry_points.txt", "[console_scripts]\nzipped = zipped:main\n[g]\nz = zipped:g\n")
        z.writestr("Foo_Bar-7.0.dist-info/METADATA", "Name: Foo-Bar\nVersion: 7.0\n")
        z.writestr("Foo_Bar-7.0.dist-info/entry_points.txt", "[g]\nfoo = zip:hidden\n")
    return [a, egg, zpath, b, os.path.join(root, "does-not-exist")]


def make_many(site, n, seed=7):
    rnd = random.Random(seed)
    os.makedirs(site, exist_ok=True)
    groups = ["console_scripts", "pytest11", "flake8.extension", "g"]
    for i in range(n):
        name = "Many%04d%s" % (i, rnd.choice(["", ".Sub", "-x", "_y"]))
        lines = []
        for _ in range(rnd.randrange(4)):
            lines.append("[%s]" % rnd.choice(groups))
            lines.append("e%d = m%d:f" % (rnd.randrange(1000), i))
        dist(site, "%s-%d.0.dist-info" % (name, i % 3), name, "%d.0" % (i % 3),
             eps="\n".join(lines) + "\n" if lines else None)
    return [site]


def make_large(root):
    """Files larger than any buffer a reader might assume, headers in odd
    places, thousands of sections, and one directory named three ways on the
    search path (importlib.metadata takes each as its own entry)."""
    site = os.path.join(root, "site")
    pad = "#" + "c" * 1023 + "\n"
    dist(site, "late-1.0.dist-info", "late",
         eps="[g]\nfirst = m:first\n" + pad * 1536 + "last = m:last\n")
    dist(site, "deep-1.0.dist-info", metadata="Metadata-Version: 2.1\n" +
         "".join("Classifier: c%d :: %s\n" % (i, "x" * 100) for i in range(6000)) +
         "Name: deep\nVersion: 7.0\n\nbody\n", eps="[g]\ndeep = m:deep\n")
    dist(site, "sections-1.0.dist-info", "sections",
         eps="".join("[s%d]\nk = m:v%d\n" % (i, i) for i in range(2000)))
    dist(site, "encoded-1.0.dist-info", "=?utf-8?q?caf=C3=A9?=",
         eps="[g]\nencoded = m:e\n")
    dist(site, "many-1.0.dist-info", "many",
         eps="[big]\n" + "".join("e%05d = m:f%d\n" % (i, i) for i in range(3000)))
    return [site, site + "/", site + "/."]


def make_broken(root):
    """Entries where importlib.metadata.entry_points() raises. Returns
    (paths, {metadir: reason}); each broken dist has a unique name."""
    s = os.path.join(root, "site-broken")
    os.makedirs(s)
    dist(s, "good-1.0.dist-info", "good", eps="[g]\ngood = good:f\n")
    dist(s, "badutf-1.0.dist-info", "badutf")
    write(os.path.join(s, "badutf-1.0.dist-info", "entry_points.txt"), b"[g]\nx = \xff\n")
    dist(s, "noequals-1.0.dist-info", "noequals", eps="[g]\nfine = f:f\nno equals sign\n")
    dist(s, "-0.dist-info", metadata="Version: 1\n", eps="[g]\nnoname = n:f\n")
    return [s], {"badutf-1.0.dist-info", "noequals-1.0.dist-info", "-0.dist-info"}
