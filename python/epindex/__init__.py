"""importlib.metadata's discovery, answered from per-directory indexes.

    import epindex
    eps = epindex.entry_points(group="pytest11")
    for ep in eps:
        plugin = ep.load()
    epindex.version("pytest")

The answer is importlib.metadata's -- same entry points, values,
distributions, precedence and order -- but read from the indexes that
`epindex update` keeps in each site directory (scanning a directory itself
where its index is missing, stale or damaged). This module does not import
importlib.metadata: it costs far more than the lookup. `accelerate()` makes
importlib.metadata itself answer from the indexes (docs/python.md).
"""
import os as _os
import sys as _sys

__all__ = ["entry_points", "distributions", "distribution", "version",
           "EntryPoint", "EntryPoints", "Distribution", "PackageNotFoundError",
           "explain", "update", "accelerate", "restore", "invalidate_caches",
           "EpindexWarning"]


class _Binding:
    """The C extension, loaded on first use: an environment enabled by
    `python -m epindex enable` imports this package in every process, and
    loading libepindex and SQLite then would cost every `python -c pass`."""

    def __getattr__(self, attr):
        global _epindex
        from importlib import import_module
        _epindex = import_module("epindex._epindex")
        return getattr(_epindex, attr)


def _imported_for_startup():
    """Is this import a .pth file's, at interpreter start-up (site.py's
    addpackage()), or the start-up hook's (_epindex_boot, when
    importlib.metadata is imported)? Then the C library waits for the
    first question; an import by a program loads it now, where the program
    expects the cost."""
    frame = _sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__")
        if module == "_epindex_boot" or (
                module == "site" and frame.f_code.co_name == "addpackage"):
            return True
        frame = frame.f_back
    return False


_epindex = _Binding()
if not _imported_for_startup():
    _epindex.__version__  # noqa: B018 (loads it)


def __getattr__(attr):
    if attr == "__version__":
        return _epindex.__version__
    raise AttributeError("module 'epindex' has no attribute %r" % attr)


# the EPINDEX_POLICY_* values of epindex.h
_POLICIES = {None: 0, "stat": 0, "verify": 1, "trust": 2}


class EpindexWarning(UserWarning):
    """A distribution's entry points were skipped because importlib.metadata
    would raise on its metadata (invalid UTF-8, a line without '=', ...), or
    an index could not be used. The message names the file and the reason."""


# ---- EntryPoint ------------------------------------------------------------

_PATTERN = (r'(?P<module>[\w.]+)\s*'
            r'(:\s*(?P<attr>[\w.]+)\s*)?'
            r'((?P<extras>\[.*\])\s*)?$')


class _LazyPattern:
    """EntryPoint.pattern, compiled on first use: importing re costs more
    than a lookup, and most programs never parse a value."""

    def __get__(self, obj, cls):
        import re
        cls.pattern = re.compile(_PATTERN)
        return cls.pattern


class EntryPoint:
    """An entry point, with importlib.metadata.EntryPoint's interface:
    name, value, group, dist, module, attr, extras, load(), matches(),
    equality, ordering and hashing by (name, value, group)."""

    __slots__ = ("name", "value", "group", "_dist", "_where")
    pattern = _LazyPattern()

    def __init__(self, name, value, group):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "_dist", None)
        object.__setattr__(self, "_where", None)

    @property
    def dist(self):
        """The distribution it comes from (created on first access)."""
        if self._dist is None and self._where is not None:
            object.__setattr__(self, "_dist", Distribution(*self._where))
        return self._dist

    def _match(self):
        return self.pattern.match(self.value)

    def load(self):
        """Import the module and return the named object (or the module)."""
        import functools
        from importlib import import_module
        match = self._match()
        module = import_module(match.group("module"))
        attrs = filter(None, (match.group("attr") or "").split("."))
        return functools.reduce(getattr, attrs, module)

    @property
    def module(self):
        return self._match().group("module")

    @property
    def attr(self):
        return self._match().group("attr")

    @property
    def extras(self):
        import re
        return re.findall(r"\w+", self._match().group("extras") or "")

    def matches(self, **params):
        """True if every given attribute equals the given value."""
        return all(getattr(self, k) == v for k, v in params.items())

    def _key(self):
        return self.name, self.value, self.group

    def __lt__(self, other):
        return self._key() < other._key()

    def __eq__(self, other):
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __setattr__(self, name, value):
        raise AttributeError("EntryPoint objects are immutable.")

    def __reduce__(self):
        return (EntryPoint, self._key())

    def __repr__(self):
        return "EntryPoint(name=%r, value=%r, group=%r)" % self._key()

    if _sys.version_info < (3, 13):
        def __getitem__(self, item):
            """Deprecated tuple interface, as importlib.metadata's < 3.13."""
            import warnings
            warnings.warn("EntryPoint tuple interface is deprecated. Access "
                          "members by name.", DeprecationWarning, stacklevel=2)
            return self._key()[item]


class EntryPoints(tuple):
    """An immutable, selectable collection of EntryPoint objects, with
    importlib.metadata.EntryPoints' interface: [name], select(), names,
    groups."""

    __slots__ = ()

    def __getitem__(self, name):
        if isinstance(name, int) and _sys.version_info < (3, 12):
            import warnings  # 3.11 still allowed access by index
            warnings.warn("Accessing entry points by index is deprecated. "
                          "Cast to tuple if needed.", DeprecationWarning,
                          stacklevel=2)
            return super().__getitem__(name)
        for ep in self:
            if ep.name == name:
                return ep
        raise KeyError(name)

    def select(self, **params):
        return EntryPoints(ep for ep in self if ep.matches(**params))

    @property
    def names(self):
        return {ep.name for ep in self}

    @property
    def groups(self):
        return {ep.group for ep in self}

    def __repr__(self):
        return "%s(%r)" % (self.__class__.__name__, tuple(self))


class PackageNotFoundError(ModuleNotFoundError):
    """No distribution of that name (importlib.metadata's has the same
    bases and message)."""

    def __str__(self):
        return "No package metadata was found for %s" % self.name

    @property
    def name(self):
        (name,) = self.args
        return name


class Distribution:
    """A distribution, created lazily: name, version and entry_points come
    from the index; everything else (read_text, files, metadata, requires,
    locate_file, ...) from importlib.metadata's PathDistribution for the
    same metadata directory, built on first use. A name or version the
    index does not hold (none, or unreadable) is importlib.metadata's."""

    def __init__(self, path_entry, metadir, name, version, _dists=None,
                 _i=None):
        self._path_entry = path_entry
        self._metadir = metadir
        self._name = name
        self._version = version
        self._real = None
        self._dists, self._i = _dists, _i

    @property
    def name(self):
        return self._held(self._name, "name")

    @property
    def version(self):
        return self._held(self._version, "version")

    def _held(self, value, attr):
        """The index's value, or importlib's: where the index holds none
        (None where no list is behind this object), or one that spans
        lines (_rendered_alike)."""
        if value is None and self._dists is None:
            return None
        if _rendered_alike(value):
            return value
        return getattr(self._importlib(), attr)

    @property
    def entry_points(self):
        """Its entry points, from the index; read from its file (with
        importlib.metadata) where the index does not hold them."""
        rows = None if self._dists is None else \
            self._dists.entry_points(self._i)
        if rows is not None:
            return EntryPoints(_ep(n, v, g, self) for g, n, v in rows)
        try:  # hidden by a namesake in its directory, or broken
            eps = self._importlib().entry_points
        except Exception as e:  # importlib raises: skipped, and said
            import warnings
            warnings.warn("%s: entry points skipped: %s: %s" % (
                _os.path.join(self._path_entry, self._metadir),
                type(e).__name__, e), EpindexWarning, stacklevel=_outside())
            return EntryPoints(())
        return EntryPoints(_ep(e.name, e.value, e.group, self) for e in eps)

    def _importlib(self):
        if self._real is None:
            import importlib.metadata as md
            self._real = md.PathDistribution(_locate(self._path_entry,
                                                     self._metadir))
        return self._real

    def read_text(self, filename):
        return self._importlib().read_text(filename)

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self._importlib(), attr)

    def __repr__(self):
        return "<epindex.Distribution %s %s at %s>" % (
            self._name, self._version, _os.path.join(self._path_entry, self._metadir))


def _rendered_alike(value):
    """Is a Name or Version the index holds what every importlib.metadata
    makes of its header? Not when the header spans lines: 3.15 and the
    backport 8.6+ re-indent such a value only where a continuation starts
    with eight spaces, older versions always (docs/conformance.md), and
    the index holds the older rendering. Then, and where the index holds
    none, the value is importlib's own, read from the metadata file."""
    return value is not None and "\n" not in value


def _ep(name, value, group, dist, _new=object.__new__,
        _set=object.__setattr__):
    ep = _new(EntryPoint)
    _set(ep, "name", name)
    _set(ep, "value", value)
    _set(ep, "group", group)
    _set(ep, "_dist", dist)
    _set(ep, "_where", None)
    return ep


def _locate(path_entry, metadir):
    """The metadata directory as importlib.metadata's FastPath.joinpath()
    makes it: pathlib.Path(root, child), or zipfile.Path for a zip entry."""
    import pathlib
    if _os.path.isdir(path_entry or "."):
        return pathlib.Path(path_entry, metadir)
    import zipfile
    return zipfile.Path(path_entry).joinpath(metadir)


# ---- search paths -------------------------------------------------------------

# (key, handle, results, warned): the last search path opened
_cache = None
# Set by an enabled environment's start-up (python -m epindex enable): heal
# stale site directories and keep indexes of unwritable ones in the user's
# cache, unless EPINDEX_HEAL / EPINDEX_USER_CACHE say otherwise.
_auto = False


def invalidate_caches():
    """Forget the search paths opened so far, as importlib.invalidate_caches()
    makes importlib.metadata forget its directory listings (it calls this
    under accelerate())."""
    global _cache
    _cache = None


def _paths_of(path):
    """sys.path entries as importlib.metadata takes them: str or PathLike,
    in a list (a str alone would be taken as a list of characters)."""
    if isinstance(path, (str, bytes)) or hasattr(path, "__fspath__"):
        raise TypeError("path must be a list of path entries (str or "
                        "os.PathLike), not %s" % type(path).__name__)
    paths = []
    for p in (_sys.path if path is None else path):
        p = p if isinstance(p, str) else _os.fspath(p)
        if not isinstance(p, str):
            raise TypeError("path entries must be str or os.PathLike of "
                            "str, not %s" % type(p).__name__)
        paths.append(p)
    return paths


# importlib.metadata of Python 3.15+ validates entry point values when they
# are constructed: a distribution with one that is no object reference is
# one it raises on (docs/conformance.md)
_VALUE_RULE = _sys.version_info >= (3, 15)


def _env_on(name, default):
    value = _os.environ.get(name)
    return default if value not in ("0", "1") else value == "1"


def _open_flags(value_rule):
    # EPINDEX_HEAL: rebuild indexes that pip (no hook) left behind, one
    # process at a time, as CPython writes __pycache__ (not when it does
    # not: sys.dont_write_bytecode); EPINDEX_USER_CACHE: keep indexes of
    # directories this user may not write in $XDG_CACHE_HOME/epindex/.
    # Both on by default in an enabled environment (see epindex.h).
    flags = 0
    if _env_on("EPINDEX_HEAL", _auto and not _sys.dont_write_bytecode):
        flags |= _epindex.HEAL
    if _env_on("EPINDEX_USER_CACHE", _auto):
        flags |= _epindex.USER_CACHE
    if value_rule:
        flags |= _epindex.VALUE_RULE
    return flags


def _opened(paths, policy, value_rule=_VALUE_RULE, warn=True, rescan=True):
    """(handle, results) for a search path: reused while no path entry
    changed (policy verify re-checks every time, trust never does) -- but
    with rescan, not when a path entry with distributions is scanned:
    importlib.metadata reads files again on every call, and so must an
    answer from a scan. (The accelerated path finder answers scanned
    entries with importlib's own search and passes rescan=False: such
    entries are then only listed, NO_SCAN, not read twice.) results is a
    dict in which callers keep what they built from this handle.
    Diagnostics are warned about once, when warn (accelerate() does not
    warn: importlib.metadata raises instead)."""
    global _cache
    code = _POLICIES[policy]
    key = (tuple(paths), code, bool(value_rule), rescan)
    c = _cache
    if rescan and c is not None and _rescans(c[1]):
        c = None
    # trust: no check; stat: every entry as open() saw it (its stat, and a
    # small indexed directory's files: Handle.unchanged())
    if c is not None and c[0] == key and code != 1 and (
            code == 2 or c[1].unchanged()):
        if warn and not c[3]:
            _warn(c[1].diagnostics)
            _cache = c[:3] + (True,)
        return c[1], c[2]
    flags = _open_flags(value_rule) | (0 if rescan else _epindex.NO_SCAN)
    h = _epindex.open(paths, code, flags)
    if warn:
        _warn(h.diagnostics)
    _cache = (key, h, {}, warn)
    return h, _cache[2]


def _outside():
    """The stacklevel, for warnings.warn() called by the caller of this
    function, of the first frame outside this module: warnings point at
    the line that called epindex, however deep inside it they arise."""
    frame, level = _sys._getframe(2), 2
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    return level


def _rescans(h):
    """Does a path entry that holds distributions come from a scan? (Those
    without any -- the standard library's directories -- are no reason to
    read anything again.)"""
    return any(source == "scan" and count
               for (source, _), count in zip(h.sources, h.dist_counts))


def _warn(diagnostics):
    if not diagnostics:
        return
    import warnings
    for message in diagnostics:
        warnings.warn(message, EpindexWarning, stacklevel=_outside())


def _lookup(h, group, name):
    # Counted strings cross the C API, NULs included. A lone surrogate cannot
    # be encoded, and names no entry point: metadata is valid UTF-8.
    try:
        return h.lookup(group, name)
    except UnicodeEncodeError:
        return []


def _entry_points(h, group, name, paths):
    # EntryPoint objects made in C: object.__new__(EntryPoint), its slots
    # set, _where (path entry, metadir, dist, version) for its dist
    try:
        return h.entry_points(EntryPoint, group, name, paths)
    except UnicodeEncodeError:
        return []


def _dists(h, results, name):
    """The Dists of a search path for a name (None: all), reused with the
    handle; None for a name no distribution can have."""
    key = ("dists", name)
    if key not in results:
        try:
            results[key] = h.distributions(name)
        except UnicodeEncodeError:
            results[key] = _escaped_dists(h, name)
    return results[key]


def _escaped_dists(h, name):
    """A name with surrogate escapes is what os.listdir() makes of a file
    name whose bytes are not UTF-8 ('caf\\udce9' of b'caf\\xe9'), and
    importlib.metadata finds that file by it: ask for those bytes, which
    the library normalises as Python does (an invalid byte is a character
    that lowers to itself). None where no file name decodes to the name (a
    lone surrogate outside the escapes, or escapes of bytes that would
    decode as UTF-8): it names no distribution."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None
    if raw.decode("utf-8", "surrogateescape") != name:
        return None
    return h.distributions(raw)


# ---- the API -------------------------------------------------------------------

def entry_points(group=None, name=None, path=None, policy=None, **select):
    """importlib.metadata.entry_points(group=..., name=..., **select) for the
    search path `path` (default: sys.path at call time), from the indexes.

    Returns EntryPoints in importlib.metadata's order (that of Python 3.12+
    when no group is given). policy: 'stat' (default), 'verify' or 'trust'
    (see docs/freshness.md). Broken metadata is skipped with an
    EpindexWarning, never an exception. Results are immutable, and reused
    while the search path is unchanged.
    """
    if policy not in _POLICIES:
        raise ValueError("policy must be 'stat', 'verify' or 'trust'")
    paths = _paths_of(path)
    if not all(v is None or isinstance(v, str) for v in (group, name)):
        # importlib.metadata compares: no group or name equals a non-str
        return EntryPoints(())
    h, results = _opened(paths, policy)
    eps = results.get((group, name))
    if eps is None:  # immutable: reused while the handle is
        eps = results[(group, name)] = EntryPoints(
            _entry_points(h, group, name, paths))
    return eps.select(**select) if select else eps


def distributions(path=None, policy=None):
    """Every distribution on the search path, as importlib.metadata's
    distributions() finds them (same order; shadowed ones included), as
    epindex Distribution objects."""
    if policy not in _POLICIES:
        raise ValueError("policy must be 'stat', 'verify' or 'trust'")
    paths = _paths_of(path)
    h, results = _opened(paths, policy)
    dists = _dists(h, results, None)
    rows = map(dists.row, range(len(dists)))
    return [Distribution(paths[r[4]], r[0], r[1], r[2], dists, i)
            for i, r in enumerate(rows)]


# importlib.metadata of Python 3.14+ returns, of the distributions a name
# matches, the first whose metadata can be read (Distribution._prefer_valid:
# a directory a failed uninstall left empty loses to a later namesake),
# where earlier versions return the first. Only a name with more than one
# match costs reading metadata, and only that one asks importlib.
_PREFERS_VALID = _sys.version_info >= (3, 14)


def distribution(name, path=None, policy=None):
    """The distribution importlib.metadata.distribution(name) returns: the
    first on the search path whose metadata entry's name matches name
    (importlib's normalisation); from Python 3.14 on, the first of those
    whose metadata is there, if any is. Raises PackageNotFoundError."""
    if policy not in _POLICIES:
        raise ValueError("policy must be 'stat', 'verify' or 'trust'")
    if not isinstance(name, str):
        raise TypeError("name must be a str, not %s" % type(name).__name__)
    if not name:
        raise ValueError("A distribution name is required.")
    paths = _paths_of(path)
    h, results = _opened(paths, policy)
    dists = _dists(h, results, name)
    if not dists:
        raise PackageNotFoundError(name)
    found = (Distribution(paths[r[4]], r[0], r[1], r[2], dists, i)
             for i, r in enumerate(map(dists.row, range(len(dists)))))
    if len(dists) > 1 and _PREFERS_VALID:
        import importlib.metadata as md
        prefer = getattr(md.Distribution, "_prefer_valid", None)
        if prefer is not None:
            return next(iter(prefer(found)))
    return next(found)


def version(name, path=None, policy=None):
    """importlib.metadata.version(name), from the index: one lookup per path
    entry. Raises PackageNotFoundError."""
    return distribution(name, path, policy).version


def explain(path=None, policy=None):
    """Where each path entry's answer comes from: a list of
    (path entry, 'index' | 'scan' | 'cache' | 'none', reason) and the
    diagnostics."""
    if policy not in _POLICIES:
        raise ValueError("policy must be 'stat', 'verify' or 'trust'")
    paths = _paths_of(path)
    h = _epindex.open(paths, _POLICIES[policy], _open_flags(_VALUE_RULE))
    return ([(p,) + s for p, s in zip(paths, h.sources)], list(h.diagnostics))


def update(directory, full=False):
    """Build or refresh the index of one directory (the installer hook).
    Returns a dict of counts; raises OSError with the reason on failure."""
    return _epindex.update(directory, full)


# ---- accelerate() ---------------------------------------------------------------
#
# importlib.metadata answers every question -- distributions(),
# distribution(), version(), metadata(), files(), requires(),
# entry_points(), packages_distributions() -- through the path finder's
# find_distributions(). accelerate() replaces that one method of the
# module's MetadataPathFinder: path entries answered from an index yield
# PathDistributions whose name, version and entry points come from it and
# whose files are read lazily (no pathlib object until one is asked for);
# every other path entry is importlib's own search. Whatever patches
# importlib.metadata above that layer (a custom finder, a monkeypatched
# distributions() or Distribution.discover, pyfakefs) sees importlib's
# behaviour, because it is importlib's code that calls us. entry_points()
# also answers directly from the indexes -- one lookup per path entry --
# but only when nothing but that path finder could take part.

_patched = {}  # module name -> what was replaced, to restore


def _real_io(module):
    """Is the module's file system the real one? pyfakefs (and mocks of
    os.listdir/os.stat) replace what importlib.metadata reads with; the C
    library reads the disk."""
    import posix
    real_os = _sys.modules.get("os")
    if getattr(module, "os", real_os) is not real_os or real_os is None:
        return False
    if real_os.listdir is not posix.listdir or real_os.stat is not posix.stat:
        return False
    for name in ("pathlib", "zipfile"):
        if hasattr(module, name) and \
                getattr(module, name) is not _sys.modules.get(name):
            return False
    return True


def _validates_values(module):
    """Does this importlib.metadata (stdlib or backport) raise on an entry
    point value that is no object reference, as 3.15+ and 8.7+ do?"""
    rule = getattr(module, "_epindex_value_rule", None)
    if rule is None:
        try:
            module.EntryPoint(name="n", value="-", group="g")
            rule = False
        except ValueError:
            rule = True
        module._epindex_value_rule = rule
    return rule


_classes = {}  # importlib's PathDistribution -> _indexed_class()'s


def _indexed_class(module):
    """importlib's PathDistribution, with what the index knows: a subclass
    that passes isinstance() and has the same name, made on first use
    (importing importlib.metadata loads neither the C library nor pathlib).
    Its C base, IndexedDist, holds the distribution's row in the object
    itself: Dists.objects() and bind_row() make them."""
    base = module.PathDistribution
    cls = _classes.get(base)
    if cls is None:
        cls = _classes[base] = _make_indexed_class(module, base)
    return cls


def _make_indexed_class(module, base):
    make_ep, ep_cls = _ep_maker(module), module.EntryPoint
    in_c = _fills_dict(module)  # the binding builds them
    make_eps = module.EntryPoints
    import pathlib

    def get_path(self):
        path = self.__dict__.get("_epindex_path")
        if path is None:  # as importlib's FastPath.joinpath() makes it
            path = pathlib.Path(self._epindex_root, self._epindex_field(0))
            self.__dict__["_epindex_path"] = path
        return path

    def set_path(self, value):
        self.__dict__["_epindex_path"] = value

    def from_index(k, importlibs):
        def get(self):
            value = self._epindex_field(k)
            return value if _rendered_alike(value) else importlibs.fget(self)
        get.__name__ = importlibs.fget.__name__
        return property(get, doc=importlibs.__doc__)

    class PathDistribution(base, _epindex.IndexedDist):
        __doc__ = base.__doc__
        _path = property(get_path, set_path)

        # what the index holds, or (None: absent, unreadable) importlib's
        name = from_index(1, base.name)
        version = from_index(2, base.version)
        _normalized_name = from_index(3, base._normalized_name)

        if in_c:  # no Python frame: a plugin host asks every distribution
            entry_points = property(_epindex.entry_points_getter(
                ep_cls, make_eps, base.entry_points.fget,
                _plain_sequence(make_eps)),
                doc=base.entry_points.__doc__)
        else:
            @property
            def entry_points(self):
                eps = self._epindex_entry_points()
                if eps is None:  # the index has not them: importlib reads
                    return base.entry_points.fget(self)
                return make_eps([make_ep(n, v, g, self) for g, n, v in eps])

        def __reduce__(self):
            return base, (self._path,)

    PathDistribution.__module__ = base.__module__
    PathDistribution.__qualname__ = base.__qualname__
    return PathDistribution


def _plain_sequence(cls):
    """Is EntryPoints a list or tuple subclass with no __new__ or __init__
    of its own (3.11's DeprecatedList, 3.12+'s tuple)? Then the binding
    makes one as calling it would, without the call: every distribution of
    a plugin host's pass makes one."""
    for base in (list, tuple):
        if isinstance(cls, type) and issubclass(cls, base):
            return cls.__new__ is base.__new__ and cls.__init__ is base.__init__
    return False


def _fills_dict(module):
    """Do EntryPoint(name, value, group)._for(dist) only fill the
    instance's __dict__ (3.11-3.14: __init__ validates nothing)? Then
    epindex fills it directly, as object.__setattr__ would: a plugin host
    that reads every distribution's entry points builds thousands."""
    cls = module.EntryPoint
    return (not _validates_values(module)
            and not any("__slots__" in c.__dict__ for c in cls.__mro__[:-1])
            and not any(hasattr(type(getattr(cls, a, None)), "__set__")
                        for a in ("name", "value", "group", "dist")))


def _ep_maker(module):
    """EntryPoint(name, value, group)._for(dist), as importlib makes it."""
    cls = module.EntryPoint
    if not _fills_dict(module):
        return lambda n, v, g, dist: cls(n, v, g)._for(dist)
    new = object.__new__

    def make(n, v, g, dist):
        ep = new(cls)
        ep.__dict__.update(name=n, value=v, group=g, dist=dist)
        return ep
    return make


def _usable_path(paths):
    """A list of str the library can be given: else importlib's own search
    answers (and raises as it does: a NUL in an entry is a ValueError from
    its os.stat(), whose message the interpreter words)."""
    return isinstance(paths, list) and all(
        isinstance(p, str) and "\x00" not in p for p in paths)


def _accelerated_finder(module, original):
    """MetadataPathFinder.find_distributions(), answering from the indexes
    per path entry; importlib's own search for the others."""
    Context = module.DistributionFinder.Context

    def find_distributions(cls, context=Context()):
        paths, name = context.path, context.name
        if (not _usable_path(paths) or not _real_io(module)
                or not (name is None or isinstance(name, str))):
            return original(cls, context)
        paths = list(paths)
        h, results = _opened(paths, None, _validates_values(module),
                             warn=False, rescan=False)
        return _chain_entries(module, cls, _indexed_class(module), paths, h,
                              name, _dists(h, results, name))

    find_distributions.__doc__ = original.__doc__
    find_distributions.__wrapped__ = original
    return find_distributions


def _chain_entries(module, finder, cls_of, paths, h, name, dists):
    """Path entry by path entry: the index's distributions where it has
    one, importlib's own search where not -- but not in a directory whose
    listing (NO_SCAN: taken with the handle, kept while its mtime is) has
    no *.dist-info or *.egg-info at all, where importlib's search, which
    matches those names alone, finds nothing (the standard library's
    directories, '' in most programs), nor for an entry that does not
    exist (the standard library's zip, in most installations), where it
    finds nothing either: the handle is reused only while stat() still
    fails there (Handle.unchanged()), and importlib's search would stat,
    list and try to open it as a zip file in every call of version(),
    distribution() or files(). Each entry's distributions are one
    list or iterator, chained in C: a generator resumed for every
    distribution cost 0.9 ms of a plugin host's pass over 50,000."""
    import itertools
    return itertools.chain.from_iterable(
        _entry_parts(module, finder, cls_of, paths, h, name, dists))


def _entry_parts(module, finder, cls_of, paths, h, name, dists):
    for index, ((source, reason), count) in enumerate(zip(h.sources,
                                                          h.dist_counts)):
        if source in ("index", "cache"):
            if dists is not None:  # the pathlib objects wait (_path)
                start, stop = dists.span(index)
                yield dists.objects(cls_of, start, stop, paths[index])
        elif reason == "absent" and source == "none":
            continue
        elif source != "scan" or reason == "not-a-dir" or count:
            yield map(module.PathDistribution,
                      finder._search_paths(name, [paths[index]]))


def _stdlib_path_finder():
    import importlib.machinery
    return importlib.machinery.PathFinder


def _only_our_finder(module, saved):
    """Would importlib's discovery consult our finder alone? Then
    entry_points() may answer from the indexes directly."""
    if (module.distributions is not saved["distributions"]
            or module.Distribution.__dict__.get("discover")
            is not saved["discover"]
            or module.MetadataPathFinder.__dict__.get("find_distributions")
            is not saved["ours"]):
        return False
    finders = [f for f in _sys.meta_path
               if getattr(f, "find_distributions", None) is not None]
    if len(finders) != 1:
        return False
    finder = finders[0]
    if module.__name__ == "importlib.metadata":
        path_finder = _stdlib_path_finder()
        return (finder is path_finder
                and path_finder.__dict__.get("find_distributions")
                is saved["path_finder"])
    return isinstance(finder, module.MetadataPathFinder)


def _accelerated_entry_points(module, saved):
    original = module.entry_points
    selectable = hasattr(module, "SelectableGroups")  # 3.11, backport 4.x
    import functools

    @functools.wraps(original)
    def entry_points(**params):
        paths = _sys.path
        if (not _only_our_finder(module, saved) or not _usable_path(paths)
                or not _real_io(module)):
            return original(**params)
        paths = list(paths)
        h, results = _opened(paths, None, _validates_values(module),
                             warn=False, rescan=False)
        if not _answers_alone(h, results):
            return original(**params)
        group, name = params.get("group"), params.get("name")
        if not isinstance(group, str):
            group = None
        if not isinstance(name, str):
            name = None
        eps = _importlib_eps(module, _indexed_class(module), paths, h, results,
                             group, name)
        if group is not None and set(params) <= {"group", "name"}:
            # select() would keep every one of them, in this order
            return module.EntryPoints(eps)
        if selectable:
            return module.SelectableGroups.load(eps).select(**params)
        return module.EntryPoints(eps).select(**params)

    return entry_points


def _answers_alone(h, results):
    """May entry_points() answer from this handle's lookups? Not where
    importlib raises (broken metadata), nor where a path entry that holds
    distributions is scanned: importlib reads those files again on every
    call, and its own code must (through the accelerated finder). Scanned
    entries without any -- the standard library's directories, '' -- are
    no reason."""
    ok = results.get("answers alone")
    if ok is None:
        ok = results["answers alone"] = not h.skipped and not _rescans(h)
    return ok


def _importlib_eps(module, cls_of, paths, h, results, group, name):
    """New importlib EntryPoint objects for the rows of a lookup, each bound
    to a new PathDistribution of its metadata directory (one per
    distribution), as importlib.metadata makes them on every call."""
    key = (module.__name__, group, name)
    rows = results.get(key)
    if rows is None:
        rows = results[key] = _lookup(h, group, name)
    make, bind = _ep_maker(module), _epindex.bind_row
    dists = {}
    eps = []
    for g, n, v, dname, dversion, index, metadir in rows:
        dist = dists.get((index, metadir))
        if dist is None:  # no key, entry points unknown: importlib's
            dist = dists[(index, metadir)] = bind(
                cls_of, paths[index], (metadir, dname, dversion, None))
        eps.append(make(n, v, g, dist))
    return eps


def _accelerated_invalidate(original):
    """MetadataPathFinder.invalidate_caches(): importlib forgets its
    directory listings, and epindex the search paths it opened -- when
    importlib.invalidate_caches() reaches it (exactly when
    importlib's own cache is cleared: 3.13 and later)."""
    def invalidate(cls):
        invalidate_caches()
        return original(cls)
    invalidate.__name__ = invalidate.__qualname__ = "invalidate_caches"
    invalidate.__doc__ = original.__doc__
    return invalidate


def _rewrapped(descriptor, wrap):
    """wrap() the function of a classmethod, or (the backport before 5.0)
    of a method of the finder instance in sys.meta_path: the wrappers take
    the class or the instance first."""
    if isinstance(descriptor, classmethod):
        return classmethod(wrap(descriptor.__func__))
    return wrap(descriptor)


def _patch(module):
    if module.__name__ in _patched:
        return
    finder = module.MetadataPathFinder
    original = finder.__dict__["find_distributions"]
    ours = _rewrapped(original, lambda f: _accelerated_finder(module, f))
    saved = {"find_distributions": original, "ours": ours,
             "entry_points": module.entry_points,
             "distributions": module.distributions,
             "discover": module.Distribution.__dict__.get("discover")}
    if module.__name__ == "importlib.metadata":
        saved["path_finder"] = _stdlib_path_finder().__dict__.get(
            "find_distributions")
    saved["invalidate_caches"] = finder.__dict__.get("invalidate_caches")
    finder.find_distributions = ours
    if saved["invalidate_caches"] is not None:
        finder.invalidate_caches = _rewrapped(saved["invalidate_caches"],
                                              _accelerated_invalidate)
    module.entry_points = _accelerated_entry_points(module, saved)
    _patched[module.__name__] = saved


class _PatchOnImport:
    """A sys.meta_path entry that patches importlib.metadata (and the
    importlib_metadata backport) when they are imported, so that enabling
    acceleration at start-up costs nothing until they are used."""

    TARGETS = ("importlib.metadata", "importlib_metadata")

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname not in cls.TARGETS:
            return None
        for finder in _sys.meta_path:
            if finder is cls or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


class _PatchingLoader:
    """The module's own loader, which patches once it has executed the
    module, then steps aside: __loader__ and __spec__.loader are the
    original again (pkgutil.get_data, importlib.resources need them)."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, attr):
        return getattr(self._loader, attr)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._loader.exec_module(module)
        _patch(module)


def accelerate():
    """Make importlib.metadata (and importlib_metadata, if used) answer its
    discovery -- distributions(), distribution(), version(), metadata(),
    files(), requires(), entry_points(), packages_distributions() -- from
    the indexes, with importlib's own results, raising included. Undo with
    restore(). EPINDEX_ACCELERATE=1, or `python -m epindex enable`, does
    this at start-up."""
    for name in _PatchOnImport.TARGETS:
        if name in _sys.modules:
            _patch(_sys.modules[name])
    if _PatchOnImport not in _sys.meta_path:
        _sys.meta_path.insert(0, _PatchOnImport)


def restore():
    """Undo accelerate()."""
    while _PatchOnImport in _sys.meta_path:
        _sys.meta_path.remove(_PatchOnImport)
    for name, saved in list(_patched.items()):
        module = _sys.modules.get(name)
        if module is not None:
            finder = module.MetadataPathFinder
            finder.find_distributions = saved["find_distributions"]
            if saved["invalidate_caches"] is not None:
                finder.invalidate_caches = saved["invalidate_caches"]
            module.entry_points = saved["entry_points"]
        del _patched[name]


def _startup(enabled):
    """Accelerate this process, as the .pth files ask at interpreter
    start-up: in an environment enabled by `python -m epindex enable`
    (unless EPINDEX_ACCELERATE=0; enabled: heal and keep a user cache too),
    or asked by EPINDEX_ACCELERATE=1. Loads nothing heavy: the C library is
    loaded when importlib.metadata is first asked something. (The .pth
    lines of epindex 0.1.0 call this directly; newer ones go through
    _epindex_boot, which waits for importlib.metadata.)"""
    global _auto
    _auto = _auto or enabled
    accelerate()


def _take_over():
    """Take over from the start-up hook, if a .pth started it: when this
    package is imported, first or through _epindex_boot."""
    boot = _sys.modules.get("_epindex_boot")
    asked = boot.hand_over() if boot is not None else None
    if asked is not None:
        _startup(asked)


_take_over()
