"""importlib.metadata.entry_points(), answered from per-directory indexes.

    import epindex
    eps = epindex.entry_points(group="pytest11")
    for ep in eps:
        plugin = ep.load()

The answer is importlib.metadata's -- same entry points, values,
distributions, precedence and order -- but read from the indexes that
`epindex update` keeps in each site directory (scanning a directory itself
where its index is missing, stale or damaged). This module does not import
importlib.metadata: it costs far more than the lookup. `accelerate()` makes
importlib.metadata.entry_points() itself answer from the indexes.
"""
import os as _os
import sys as _sys

from . import _epindex

__all__ = ["entry_points", "EntryPoint", "EntryPoints", "Distribution",
           "explain", "update", "accelerate", "restore", "EpindexWarning"]
__version__ = _epindex.__version__

_POLICIES = {None: _epindex.POLICY_STAT, "stat": _epindex.POLICY_STAT,
             "verify": _epindex.POLICY_VERIFY, "trust": _epindex.POLICY_TRUST}


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

    @classmethod
    def _from_row(cls, row, paths, _new=object.__new__, _set=object.__setattr__):
        # not through __init__: a first lookup builds every entry point it
        # returns, and the extra call was a sixth of its time
        group, name, value, dname, dversion, index, metadir = row
        ep = _new(cls)
        _set(ep, "name", name)
        _set(ep, "value", value)
        _set(ep, "group", group)
        _set(ep, "_dist", None)
        _set(ep, "_where", (paths[index], metadir, dname, dversion))
        return ep

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


class Distribution:
    """The distribution of an entry point, created lazily. name and version
    come from the index; everything else (read_text, files, metadata,
    requires, locate_file, ...) from importlib.metadata's PathDistribution
    for the same metadata directory, built on first use."""

    def __init__(self, path_entry, metadir, name, version):
        self._path_entry = path_entry
        self._metadir = metadir
        self._name = name
        self._version = version
        self._real = None

    @property
    def name(self):
        return self._name

    @property
    def version(self):
        return self._version

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


def _locate(path_entry, metadir):
    """The metadata directory as importlib.metadata's FastPath.joinpath()
    makes it: pathlib.Path(root, child), or zipfile.Path for a zip entry."""
    import pathlib
    if _os.path.isdir(path_entry or "."):
        return pathlib.Path(path_entry, metadir)
    import zipfile
    return zipfile.Path(path_entry).joinpath(metadir)


# ---- lookups ----------------------------------------------------------------

_cache = None  # (key, handle, stamps, results): the last search path opened


def _stamps(paths):
    """What must not change for a cached handle to stay right: each path
    entry's mtime, as importlib.metadata's own FastPath cache checks."""
    return _epindex.stamps(paths)


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


def _opened(paths, policy, value_rule=_VALUE_RULE, warn=True):
    """(handle, results) for a search path: reused while no path entry
    changed (policy verify re-checks every time, trust never does). results
    is a dict in which callers keep what they built from this handle.
    Diagnostics are warned about once, when warn (accelerate() does not
    warn: importlib.metadata raises instead)."""
    global _cache
    code = _POLICIES[policy]
    key = (tuple(paths), code, bool(value_rule))
    c = _cache
    if c is not None and c[0] == key and code != 1:
        if code == 2 or c[2] == _stamps(paths):
            if warn and not c[4]:
                _warn(c[1].diagnostics)
                _cache = c[:4] + (True,)
            return c[1], c[3]
    stamps = _stamps(paths)
    # EPINDEX_HEAL=1: rebuild indexes that pip (no hook) left behind, one
    # process at a time (see epindex_open in epindex.h)
    flags = _epindex.HEAL if _os.environ.get("EPINDEX_HEAL") == "1" else 0
    # EPINDEX_USER_CACHE=1: indexes of directories this user may not write
    # are kept in $XDG_CACHE_HOME/epindex/
    if _os.environ.get("EPINDEX_USER_CACHE") == "1":
        flags |= _epindex.USER_CACHE
    if value_rule:
        flags |= _epindex.VALUE_RULE
    h = _epindex.open(paths, code, flags)
    if warn:
        _warn(h.diagnostics)
    _cache = (key, h, stamps, {}, warn)
    return h, _cache[3]


def _warn(diagnostics):
    if not diagnostics:
        return
    import warnings
    for message in diagnostics:
        warnings.warn(message, EpindexWarning, stacklevel=4)


def _lookup(h, group, name):
    # Counted strings cross the C API, NULs included. A lone surrogate cannot
    # be encoded, and names no entry point: metadata is valid UTF-8.
    try:
        return h.lookup(group, name)
    except UnicodeEncodeError:
        return []


def entry_points(group=None, name=None, path=None, policy=None, **select):
    """importlib.metadata.entry_points(group=..., name=..., **select) for the
    search path `path` (default: sys.path at call time), from the indexes.

    Returns EntryPoints in importlib.metadata's order (that of Python 3.12+
    when no group is given). policy: 'stat' (default), 'verify' or 'trust'
    (see docs/freshness.md). Broken metadata is skipped with an
    EpindexWarning, never an exception. Results are immutable and are reused
    while no path entry's mtime changes.
    """
    if policy not in _POLICIES:
        raise ValueError("policy must be 'stat', 'verify' or 'trust'")
    paths = _paths_of(path)
    if not all(v is None or isinstance(v, str) for v in (group, name)):
        # importlib.metadata compares: no group or name equals a non-str
        return EntryPoints(())
    h, results = _opened(paths, policy)
    eps = results.get((group, name))
    if eps is None:
        eps = EntryPoints(EntryPoint._from_row(r, paths)
                          for r in _lookup(h, group, name))
        results[(group, name)] = eps
    return eps.select(**select) if select else eps


def explain(path=None, policy=None):
    """Where each path entry's answer comes from: a list of
    (path entry, 'index' | 'scan' | 'cache' | 'none', reason) and the
    diagnostics."""
    if policy not in _POLICIES:
        raise ValueError("policy must be 'stat', 'verify' or 'trust'")
    paths = _paths_of(path)
    h = _epindex.open(paths, _POLICIES[policy],
                      _epindex.VALUE_RULE if _VALUE_RULE else 0)
    return ([(p,) + s for p, s in zip(paths, h.sources)], list(h.diagnostics))


def update(directory, full=False):
    """Build or refresh the index of one directory (the installer hook).
    Returns a dict of counts; raises OSError with the reason on failure."""
    return _epindex.update(directory, full)


# ---- accelerate() -------------------------------------------------------------

_originals = {}  # module name -> its original (entry_points, distributions)
_KNOWN_FINDERS = ("PathFinder", "MetadataPathFinder")


def _can_answer(path, module):
    """False when something besides the path finders the accelerated module
    itself consults could yield distributions (a custom sys.meta_path
    finder; for the stdlib, also the backport's own finder, which the
    backport installs on import), or a path entry is not a str: then the
    original function answers."""
    ours = ("importlib.", "_frozen_importlib")
    if module.__name__ == "importlib_metadata":
        ours += ("importlib_metadata",)
    for finder in _sys.meta_path:
        if getattr(finder, "find_distributions", None) is None:
            continue
        name = getattr(finder, "__name__", type(finder).__name__)
        where = getattr(finder, "__module__", "")
        if name not in _KNOWN_FINDERS or not where.startswith(ours):
            return False
    return all(isinstance(p, str) for p in path)


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


def _importlib_eps(module, h, results, group, name):
    """importlib's own EntryPoint objects, each bound to a PathDistribution
    of its metadata directory (one per distribution), reused while the
    search path is unchanged."""
    paths = _paths_of(None)
    key = (module.__name__, group, name)
    eps = results.get(key)
    if eps is None:
        dists = {}
        eps = []
        for g, n, v, dname, dversion, index, metadir in _lookup(h, group, name):
            dist = dists.get((index, metadir))
            if dist is None:
                where = _locate(paths[index], metadir)
                dist = dists[(index, metadir)] = module.PathDistribution(where)
            eps.append(module.EntryPoint(name=n, value=v, group=g)._for(dist))
        results[key] = eps
    return eps


def _accelerated(module):
    original = module.entry_points
    selectable = hasattr(module, "SelectableGroups")  # 3.11, backport 4.x

    def entry_points(**params):
        if not _can_answer(_sys.path, module):
            return original(**params)
        h, results = _opened(_paths_of(None), None, _validates_values(module),
                             warn=False)
        if h.skipped:  # importlib.metadata raises here: let it
            return original(**params)
        group, name = params.get("group"), params.get("name")
        if not isinstance(group, str):
            group = None
        if not isinstance(name, str):
            name = None
        eps = _importlib_eps(module, h, results, group, name)
        if group is not None and set(params) <= {"group", "name"}:
            # select() would keep every one of them, in this order
            return module.EntryPoints(eps)
        if selectable:
            return module.SelectableGroups.load(eps).select(**params)
        return module.EntryPoints(eps).select(**params)

    entry_points.__doc__ = original.__doc__
    entry_points.__wrapped__ = original
    return entry_points


def _eps_by_dist(module, paths):
    """{metadata directory's path: [(name, value, group)]} for every
    distribution whose entry points the indexes (or scans) hold: those
    importlib.metadata.entry_points() would return. A distribution that is
    not there -- hidden by one before it, broken, or without entry points --
    reads its own file."""
    h, results = _opened(paths, None, _validates_values(module), warn=False)
    key = (module.__name__, "by-dist")
    found = results.get(key)
    if found is None:
        found = {}
        norm = _os.path.normpath
        for g, n, v, dname, dversion, index, metadir in _lookup(h, None, None):
            where = norm(_os.path.join(paths[index], metadir))
            found.setdefault(where, []).append((n, v, g))
        results[key] = found
    return found


def _indexed_distribution_class(module):
    class IndexedPathDistribution(module.PathDistribution):
        """A PathDistribution whose entry_points come from the index;
        everything else is importlib.metadata's own."""

        _epindex_rows = None

        @property
        def entry_points(self):
            if self._epindex_rows is None:
                return super().entry_points
            return module.EntryPoints(
                module.EntryPoint(name=n, value=v, group=g)._for(self)
                for n, v, g in self._epindex_rows)

    return IndexedPathDistribution


def _accelerated_distributions(module):
    """distributions() whose PathDistributions answer entry_points from the
    indexes: discovery stays importlib.metadata's (same distributions, same
    order, same objects but for their class); plugin hosts that iterate
    distributions and read each one's entry points (pluggy, flake8) then
    read no entry_points.txt the index holds."""
    original = module.distributions
    cls = _indexed_distribution_class(module)

    def distributions(**kwargs):
        dists = original(**kwargs)
        if kwargs or not _can_answer(_sys.path, module):
            return dists
        found = _eps_by_dist(module, _paths_of(None))
        return (_rebind(cls, found, d, module) for d in dists)

    distributions.__doc__ = original.__doc__
    distributions.__wrapped__ = original
    return distributions


def _rebind(cls, found, dist, module):
    if type(dist) is not module.PathDistribution:
        return dist
    rows = found.get(_os.path.normpath(str(dist._path)))
    if rows is None:
        return dist
    indexed = cls(dist._path)
    indexed._epindex_rows = rows
    return indexed


def _patch(module):
    if module.__name__ not in _originals:
        _originals[module.__name__] = (module.entry_points, module.distributions)
        module.entry_points = _accelerated(module)
        module.distributions = _accelerated_distributions(module)


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
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(module)


def accelerate():
    """Make importlib.metadata.entry_points() (and importlib_metadata's, if
    used) answer from the indexes, with identical results for every call
    shape of this interpreter, and the distributions that distributions()
    returns read their entry_points from the indexes too. Falls back to the original whenever a custom
    distribution finder is installed. Undo with restore(). Set
    EPINDEX_ACCELERATE=1 to do this at start-up (epindex-accelerate.pth)."""
    for name in _PatchOnImport.TARGETS:
        if name in _sys.modules:
            _patch(_sys.modules[name])
    if _PatchOnImport not in _sys.meta_path:
        _sys.meta_path.insert(0, _PatchOnImport)


def restore():
    """Undo accelerate()."""
    while _PatchOnImport in _sys.meta_path:
        _sys.meta_path.remove(_PatchOnImport)
    for name, (entry_points, distributions) in list(_originals.items()):
        module = _sys.modules.get(name)
        if module is not None:
            module.entry_points = entry_points
            module.distributions = distributions
        del _originals[name]
