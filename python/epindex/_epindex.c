/*
 * _epindex.c -- the CPython binding of libepindex (public API only).
 *
 *   open(paths, policy) -> Handle     paths: a sequence of str/bytes/PathLike
 *   Handle.lookup(group, name) -> list of (group, name, value, dist, version,
 *                                 path index, metadir) tuples
 *   Handle.entry_points(cls, group, name, paths) -> list of
 *                                 epindex.EntryPoint objects (cls) of
 *                                 lookup()'s rows, _where from paths
 *   Handle.distributions(name) -> Dists, a sequence (len) of distributions
 *   Dists.row(i) -> (metadir, name, version, key, path index, flags,
 *                                 entry count)
 *   Dists.span(path_index) -> (start, stop): the rows of that path entry
 *   IndexedDist: the C base of accelerate()'s PathDistribution class;
 *                                 _epindex_field(k), _epindex_entry_points(),
 *                                 _epindex_root are its row's, and
 *                                 _epindex_entry_point_objects(cls) builds
 *                                 importlib's EntryPoint objects
 *   Dists.objects(cls, start, stop, root) -> list of object.__new__(cls),
 *                                 cls an IndexedDist subclass, each bound
 *                                 to its row
 *   bind_row(cls, root, fields) -> object.__new__(cls) holding a lookup
 *                                 row's (metadir, name, version, key)
 *   entry_points_getter(cls, make, fallback, direct=False) -> the C
 *                                 getter of the accelerated entry_points
 *                                 property (direct: make is a list or tuple
 *                                 subclass with no __new__/__init__ of its
 *                                 own, filled without calling it)
 *   Dists.entry_points(i) -> list of (group, name, value) (() for none),
 *                                 or None when the index does not know them
 *   Handle.unchanged() -> bool: would open() answer the same now
 *                                 (epindex_unchanged())
 *   Handle.dist_counts -> tuple: distributions per path entry
 *   Handle.diagnostics -> list of str; Handle.sources -> list of
 *                                 (source, reason) name pairs;
 *                                 Handle.stamps -> stamps(paths) as open()
 *                                 saw them, before reading each entry
 *   stamps(paths) -> tuple of (st_dev, st_ino, st_mtime_ns), None where
 *                                 stat fails
 *   update(dir, full=False) -> dict  (raises OSError with the message)
 *
 * Strings from the index are UTF-8; bytes that are not (from file names)
 * come back as surrogate escapes, as os.listdir() gives them. The GIL is
 * released while files are read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "epindex.h"

#include <sys/stat.h>

typedef struct {
  PyObject_HEAD epindex *ix;
  PyObject *diagnostics; /* list of str */
  PyObject *sources;     /* list of (source, reason) */
} Handle;

static void handle_dealloc(Handle *h) {
  epindex_close(h->ix);
  Py_XDECREF(h->diagnostics);
  Py_XDECREF(h->sources);
  Py_TYPE(h)->tp_free((PyObject *)h);
}

static PyObject *text(const char *s, size_t len) {
  if (!s)
    Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
}

static PyObject *error_from(int rc) {
  return PyErr_Format(rc == EPINDEX_ENOMEM ? PyExc_MemoryError : PyExc_OSError,
                      "epindex: %s", epindex_strerror(rc));
}

static PyObject *handle_lookup(Handle *h, PyObject *args) {
  const char *group = NULL, *name = NULL;
  Py_ssize_t glen = 0, nlen = 0; /* counted: a str may hold a NUL */
  if (!PyArg_ParseTuple(args, "z#z#:lookup", &group, &glen, &name, &nlen))
    return NULL;
  epindex_result *r = NULL;
  int rc;
  PyThreadState *ts = PyEval_SaveThread();
  rc = epindex_lookup_n(h->ix, group, (size_t)glen, name, (size_t)nlen, &r);
  PyEval_RestoreThread(ts);
  if (rc)
    return error_from(rc);
  size_t n = epindex_result_count(r);
  PyObject *rows = PyList_New((Py_ssize_t)n);
  for (size_t i = 0; rows && i < n; i++) {
    PyObject *f[7];
    for (int k = 0; k < 7; k++) {
      size_t len;
      const char *s = epindex_result_get(r, i, (epindex_field)k, &len);
      f[k] = k == EPINDEX_FIELD_PATH
                 ? PyLong_FromSize_t(epindex_result_path_index(r, i))
                 : text(s, len);
    }
    PyObject *row = NULL;
    if (f[0] && f[1] && f[2] && f[3] && f[4] && f[5] && f[6])
      row = PyTuple_Pack(7, f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
    for (int k = 0; k < 7; k++)
      Py_XDECREF(f[k]);
    if (!row) {
      Py_CLEAR(rows);
      break;
    }
    PyList_SET_ITEM(rows, (Py_ssize_t)i, row);
  }
  epindex_result_free(r);
  return rows;
}

/* Field f of result row k as str. */
static PyObject *result_text(const epindex_result *r, size_t k,
                             epindex_field f) {
  size_t len;
  const char *s = epindex_result_get(r, k, f, &len);
  return text(s, len);
}

/* Does row i come from the same distribution as row j (its path entry and
 * metadata directory)? Then it shares its _where tuple. */
static int same_dist(const epindex_result *r, size_t i, size_t j) {
  size_t a, b;
  const char *ma = epindex_result_get(r, i, EPINDEX_FIELD_METADIR, &a);
  const char *mb = epindex_result_get(r, j, EPINDEX_FIELD_METADIR, &b);
  return epindex_result_path_index(r, i) == epindex_result_path_index(r, j) &&
         a == b && memcmp(ma, mb, a) == 0;
}

/* (path entry, metadir, dist, version) of row i: where its EntryPoint's
 * dist is made from, on first access. */
static PyObject *where_of(const epindex_result *r, size_t i, PyObject *paths) {
  size_t pi = epindex_result_path_index(r, i);
  if (pi >= (size_t)PyList_GET_SIZE(paths))
    return PyErr_Format(PyExc_ValueError, "path index %zu out of range", pi);
  return Py_BuildValue("(ONNN)", PyList_GET_ITEM(paths, (Py_ssize_t)pi),
                       result_text(r, i, EPINDEX_FIELD_METADIR),
                       result_text(r, i, EPINDEX_FIELD_DIST),
                       result_text(r, i, EPINDEX_FIELD_VERSION));
}

/* obj (new, or NULL after a failure) with its attributes keys[f] set to
 * v[f] as object.__setattr__ sets them (an EntryPoint's own refuses): obj,
 * or NULL with an exception. Takes the references of obj and of every
 * v[f] (NULL: its making failed). */
static PyObject *with_attrs(PyObject *obj, PyObject *const *keys, PyObject **v,
                            int n) {
  int rc = obj ? 0 : -1;
  for (int f = 0; f < n; f++) {
    if (rc == 0)
      rc = v[f] ? PyObject_GenericSetAttr(obj, keys[f], v[f]) : -1;
    Py_XDECREF(v[f]);
  }
  if (rc < 0)
    Py_CLEAR(obj);
  return obj;
}

/* Handle.entry_points(cls, group, name, paths): lookup()'s rows made
 * into cls objects in C. The first entry_points() call of a process
 * builds every entry point it returns, and rows, a Python loop and five
 * setattr calls each were a third of its time. The entry points of one
 * distribution share their _where tuple and strings; with a group, all
 * share the caller's str. */
static PyObject *handle_entry_points(Handle *h, PyObject *args) {
  PyTypeObject *cls;
  PyObject *group_obj, *name_obj, *paths;
  if (!PyArg_ParseTuple(args, "O!OOO!:entry_points", &PyType_Type, &cls,
                        &group_obj, &name_obj, &PyList_Type, &paths))
    return NULL;
  const char *group = NULL, *name = NULL;
  Py_ssize_t glen = 0, nlen = 0; /* counted: a str may hold a NUL */
  if (group_obj != Py_None &&
      !(group = PyUnicode_AsUTF8AndSize(group_obj, &glen)))
    return NULL;
  if (name_obj != Py_None && !(name = PyUnicode_AsUTF8AndSize(name_obj, &nlen)))
    return NULL;
  static const char *const names[5] = {"name", "value", "group", "_dist",
                                       "_where"};
  PyObject *keys[5];
  for (int k = 0; k < 5; k++)
    if (!(keys[k] = PyUnicode_InternFromString(names[k]))) {
      while (k--)
        Py_DECREF(keys[k]);
      return NULL;
    }
  epindex_result *r = NULL;
  PyThreadState *ts = PyEval_SaveThread();
  int rc = epindex_lookup_n(h->ix, group, (size_t)glen, name, (size_t)nlen, &r);
  PyEval_RestoreThread(ts);
  if (rc) {
    for (int k = 0; k < 5; k++)
      Py_DECREF(keys[k]);
    return error_from(rc);
  }
  size_t n = epindex_result_count(r);
  PyObject *eps = PyList_New((Py_ssize_t)n), *where = NULL;
  for (size_t i = 0; eps && i < n; i++) {
    if (!where || !same_dist(r, i, i - 1)) {
      Py_XDECREF(where);
      where = where_of(r, i, paths);
    }
    /* as epindex/__init__.py would make it: object.__new__(cls), slots
     * name, value, group, _dist, _where */
    PyObject *v[5] = {result_text(r, i, EPINDEX_FIELD_NAME),
                      result_text(r, i, EPINDEX_FIELD_VALUE),
                      group ? Py_NewRef(group_obj)
                            : result_text(r, i, EPINDEX_FIELD_GROUP),
                      Py_NewRef(Py_None), Py_XNewRef(where)};
    PyObject *ep = with_attrs(cls->tp_alloc(cls, 0), keys, v, 5);
    if (!ep) {
      Py_CLEAR(eps);
      break;
    }
    PyList_SET_ITEM(eps, (Py_ssize_t)i, ep);
  }
  Py_XDECREF(where);
  epindex_result_free(r);
  for (int k = 0; k < 5; k++)
    Py_DECREF(keys[k]);
  return eps;
}

/* ---- distributions ------------------------------------------------------ */

#define GROUP_CACHE 8

typedef struct {
  PyObject_HEAD epindex_dists *d;
  Handle *owner;     /* keeps the handle, which answers entry_points(), alive */
  PyObject *keys[4]; /* "name", "value", "group", "dist": an EntryPoint's */
  /* The group names its EntryPoint objects share: a plugin host builds
   * thousands, of a handful of groups, and fresh memory is much of what
   * they cost. ASCII names only (their str holds the bytes to compare). */
  PyObject *groups[GROUP_CACHE];
  unsigned next_group;
} Dists;

static void dists_dealloc(Dists *o) {
  epindex_dists_free(o->d);
  Py_XDECREF(o->owner);
  for (int k = 0; k < 4; k++)
    Py_XDECREF(o->keys[k]);
  for (int k = 0; k < GROUP_CACHE; k++)
    Py_XDECREF(o->groups[k]);
  Py_TYPE(o)->tp_free((PyObject *)o);
}

/* The str of a group name (new reference), shared while it is cached. */
static PyObject *group_text(Dists *o, const char *s, size_t len) {
  if (!s)
    return text(s, len);
  for (int k = 0; k < GROUP_CACHE && o->groups[k]; k++) {
    PyObject *g = o->groups[k];
    if ((size_t)PyUnicode_GET_LENGTH(g) == len &&
        memcmp(PyUnicode_DATA(g), s, len) == 0)
      return Py_NewRef(g);
  }
  PyObject *g = text(s, len);
  if (g && PyUnicode_IS_COMPACT_ASCII(g)) {
    unsigned k = o->next_group++ % GROUP_CACHE;
    Py_XSETREF(o->groups[k], Py_NewRef(g));
  }
  return g;
}

/* Row i of the list, or NULL with IndexError. */
static Py_ssize_t row_index(const Dists *o, PyObject *arg) {
  Py_ssize_t i = PyLong_AsSsize_t(arg);
  if (i < 0 && PyErr_Occurred())
    return -1;
  if (i < 0 || (size_t)i >= epindex_dists_count(o->d)) {
    PyErr_SetString(PyExc_IndexError, "distribution index out of range");
    return -1;
  }
  return i;
}

/* The entry points of row i (in range): 0 with *r a result to free, or
 * NULL when it has none; 1 when the index does not hold them; -1 with an
 * exception set. */
static int fetch_entries(Dists *o, Py_ssize_t i, epindex_result **r) {
  *r = NULL;
  if (!(epindex_dists_flags(o->d, (size_t)i) & EPINDEX_DIST_ENTRY_POINTS))
    return 1;
  /* most distributions have none: no call, no lock, no allocation */
  if (epindex_dists_entry_count(o->d, (size_t)i) == 0)
    return 0;
  PyThreadState *ts = PyEval_SaveThread();
  int rc = epindex_dists_entry_points(o->owner->ix, o->d, (size_t)i, r);
  PyEval_RestoreThread(ts);
  if (rc == EPINDEX_ENOENT)
    return 1;
  if (rc) {
    error_from(rc);
    return -1;
  }
  return 0;
}

/* The entry points of row i as (group, name, value) tuples; () for none,
 * None when the index does not hold them. */
static PyObject *entry_rows(Dists *o, Py_ssize_t i) {
  epindex_result *r;
  int st = fetch_entries(o, i, &r);
  if (st)
    return st > 0 ? Py_NewRef(Py_None) : NULL;
  if (!r)
    return PyTuple_New(0);
  size_t n = epindex_result_count(r);
  PyObject *rows = PyList_New((Py_ssize_t)n);
  for (size_t k = 0; rows && k < n; k++) {
    PyObject *row =
        Py_BuildValue("(NNN)", result_text(r, k, EPINDEX_FIELD_GROUP),
                      result_text(r, k, EPINDEX_FIELD_NAME),
                      result_text(r, k, EPINDEX_FIELD_VALUE));
    if (!row) {
      Py_CLEAR(rows);
      break;
    }
    PyList_SET_ITEM(rows, (Py_ssize_t)k, row);
  }
  epindex_result_free(r);
  return rows;
}

/* One EntryPoint as importlib's EntryPoint(name, value, group)._for(dist)
 * leaves it where those only fill the instance's __dict__ (3.11-3.14):
 * object.__new__(cls) with attributes name, value, group, dist, in that
 * order, set by with_attrs(). Set one by one rather than through __dict__,
 * which would make the instance a dict object of its own. */
static PyObject *entry_object(Dists *o, PyTypeObject *cls, PyObject *noargs,
                              const epindex_result *r, size_t k,
                              PyObject *dist) {
  size_t glen;
  const char *g = epindex_result_get(r, k, EPINDEX_FIELD_GROUP, &glen);
  PyObject *v[4] = {result_text(r, k, EPINDEX_FIELD_NAME),
                    result_text(r, k, EPINDEX_FIELD_VALUE),
                    group_text(o, g, glen), Py_NewRef(dist)};
  return with_attrs(PyBaseObject_Type.tp_new(cls, noargs, NULL), o->keys, v, 4);
}

/* The entry points of row i as EntryPoint objects of cls bound to dist;
 * () for none, None when the index does not hold them. */
static PyObject *entry_objects(Dists *o, Py_ssize_t i, PyTypeObject *cls,
                               PyObject *dist) {
  epindex_result *r;
  int st = fetch_entries(o, i, &r);
  if (st)
    return st > 0 ? Py_NewRef(Py_None) : NULL;
  if (!r)
    return PyTuple_New(0);
  size_t n = epindex_result_count(r);
  PyObject *noargs = PyTuple_New(0);
  PyObject *eps = noargs ? PyList_New((Py_ssize_t)n) : NULL;
  for (size_t k = 0; eps && k < n; k++) {
    PyObject *ep = entry_object(o, cls, noargs, r, k, dist);
    if (!ep) {
      Py_CLEAR(eps);
      break;
    }
    PyList_SET_ITEM(eps, (Py_ssize_t)k, ep);
  }
  Py_XDECREF(noargs);
  epindex_result_free(r);
  return eps;
}

static PyObject *dists_entry_points(Dists *o, PyObject *arg) {
  Py_ssize_t i = row_index(o, arg);
  return i < 0 ? NULL : entry_rows(o, i);
}

static PyObject *field_of(Dists *o, Py_ssize_t i, int k) {
  if (k < EPINDEX_DIST_METADIR || k > EPINDEX_DIST_KEY)
    return PyErr_Format(PyExc_ValueError, "no field %d", k);
  size_t len;
  const char *s =
      epindex_dists_get(o->d, (size_t)i, (epindex_dist_field)k, &len);
  return text(s, len);
}

/* ---- IndexedDist: the C base of the accelerated PathDistribution class,
 * which holds what the index knows of the distribution in the object
 * itself: a plugin host lists every distribution of the path in every
 * process, and an object of its own for that (and an attribute to hold
 * it) would cost each another allocation of fresh memory. ------------- */

/* src: a Dists list (i its row), or (i -1) the fields (metadir, name,
 * version, key) a lookup row tells, whose entry points are unknown. */
typedef struct {
  PyObject_HEAD PyObject *src;
  Py_ssize_t i;
  PyObject *root; /* its path entry, as sys.path has it */
} IndexedDist;

static PyTypeObject DistsType, IndexedDistType;

static void indexed_dealloc(IndexedDist *o) {
  Py_XDECREF(o->src);
  Py_XDECREF(o->root);
  Py_TYPE(o)->tp_free((PyObject *)o);
}

/* Its Dists list, or NULL (a lookup row's, or not bound). */
static Dists *indexed_list(const IndexedDist *o) {
  return o->src && Py_IS_TYPE(o->src, &DistsType) ? (Dists *)o->src : NULL;
}

static PyObject *indexed_field(IndexedDist *o, PyObject *arg) {
  int k = PyLong_AsLong(arg);
  if (k == -1 && PyErr_Occurred())
    return NULL;
  Dists *d = indexed_list(o);
  if (d)
    return field_of(d, o->i, k);
  if (!o->src || k < 0 || k >= PyTuple_GET_SIZE(o->src))
    return PyErr_Format(PyExc_ValueError, "no field %d", k);
  return Py_NewRef(PyTuple_GET_ITEM(o->src, k));
}

static PyObject *indexed_entry_points(IndexedDist *o, PyObject *unused) {
  (void)unused;
  Dists *d = indexed_list(o);
  return d ? entry_rows(d, o->i) : Py_NewRef(Py_None);
}

static PyObject *indexed_entry_point_objects(IndexedDist *o, PyObject *cls) {
  if (!PyType_Check(cls))
    return PyErr_Format(PyExc_TypeError, "a class is required");
  Dists *d = indexed_list(o);
  return d ? entry_objects(d, o->i, (PyTypeObject *)cls, (PyObject *)o)
           : Py_NewRef(Py_None);
}

/* type(items), items a list or (), for type a list or tuple subclass that
 * adds no __new__ or __init__ (EntryPoints of 3.11-3.13: the caller checks):
 * what the call would make, made without it. */
static PyObject *sequence_of(PyTypeObject *type, PyObject *items) {
  Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
  if (PyType_IsSubtype(type, &PyTuple_Type)) {
    PyObject *t = type->tp_alloc(type, n); /* as tuple.__new__ fills one */
    for (Py_ssize_t i = 0; t && i < n; i++)
      PyTuple_SET_ITEM(t, i, Py_NewRef(PySequence_Fast_GET_ITEM(items, i)));
    return t;
  }
  PyObject *l = type->tp_alloc(type, 0);
  if (l && n && PyList_SetSlice(l, 0, 0, items) < 0)
    Py_CLEAR(l);
  return l;
}

/* The getter of accelerate()'s PathDistribution.entry_points, state a
 * tuple (cls, make, fallback, direct): make(list of cls EntryPoint objects
 * bound to dist), or fallback(dist) when the index does not hold them;
 * direct: make is a plain list or tuple subclass, filled by sequence_of().
 * A C function rather than a Python one: a plugin host asks every
 * distribution of the path, in every process, and a Python frame each was
 * a tenth of that (bench/results/latest.md, pluggy's pattern); calling the
 * class, another tenth. */
static PyObject *entry_points_get(PyObject *state, PyObject *dist) {
  if (!PyObject_TypeCheck(dist, &IndexedDistType))
    return PyErr_Format(PyExc_TypeError, "an IndexedDist is required");
  PyObject *cls = PyTuple_GET_ITEM(state, 0);
  PyObject *eps = indexed_entry_point_objects((IndexedDist *)dist, cls);
  if (!eps)
    return NULL;
  PyObject *make = PyTuple_GET_ITEM(state, 1), *r;
  if (eps == Py_None)
    r = PyObject_CallOneArg(PyTuple_GET_ITEM(state, 2), dist);
  else if (PyTuple_GET_ITEM(state, 3) == Py_True)
    r = sequence_of((PyTypeObject *)make, eps);
  else
    r = PyObject_CallOneArg(make, eps);
  Py_DECREF(eps);
  return r;
}

static PyMethodDef entry_points_get_def = {
    "entry_points", entry_points_get, METH_O,
    "entry_points(dist) -> make(its EntryPoint objects), or fallback(dist)"};

static PyObject *indexed_get_root(IndexedDist *o, void *unused) {
  (void)unused;
  return Py_NewRef(o->root ? o->root : Py_None);
}

static PyMethodDef indexed_methods[] = {
    {"_epindex_field", (PyCFunction)indexed_field, METH_O,
     "_epindex_field(k) -> str or None: 0 metadir, 1 name, 2 version, 3 key"},
    {"_epindex_entry_points", (PyCFunction)indexed_entry_points, METH_NOARGS,
     "_epindex_entry_points() -> as Dists.entry_points(i)"},
    {"_epindex_entry_point_objects", (PyCFunction)indexed_entry_point_objects,
     METH_O,
     "_epindex_entry_point_objects(cls) -> list of object.__new__(cls) with "
     "attributes name, value, group, dist (this object); () for none, None "
     "where the index does not hold them"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef indexed_getset[] = {
    {"_epindex_root", (getter)indexed_get_root, NULL,
     "its path entry (None: not from an index)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject IndexedDistType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "epindex._epindex.IndexedDist",
    .tp_basicsize = sizeof(IndexedDist),
    .tp_dealloc = (destructor)indexed_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "What an index knows of one distribution: the C base of "
              "accelerate()'s PathDistribution class (Dists.objects(), "
              "bind_row()).",
    .tp_methods = indexed_methods,
    .tp_getset = indexed_getset,
};

/* object.__new__(cls) of a subclass of IndexedDist, bound to src, i, root. */
static PyObject *indexed_new(PyTypeObject *cls, PyObject *noargs, PyObject *src,
                             Py_ssize_t i, PyObject *root) {
  PyObject *obj = PyBaseObject_Type.tp_new(cls, noargs, NULL);
  if (obj) {
    IndexedDist *o = (IndexedDist *)obj;
    Py_XSETREF(o->src, Py_NewRef(src));
    Py_XSETREF(o->root, Py_NewRef(root));
    o->i = i;
  }
  return obj;
}

static int check_indexed_class(PyTypeObject *cls) {
  if (PyType_IsSubtype(cls, &IndexedDistType))
    return 0;
  PyErr_SetString(PyExc_TypeError, "a subclass of IndexedDist is required");
  return -1;
}

static PyObject *dist_tuple(const epindex_dists *d, size_t i) {
  PyObject *f[4];
  for (int k = 0; k < 4; k++) {
    size_t len;
    const char *s = epindex_dists_get(d, i, (epindex_dist_field)k, &len);
    f[k] = text(s, len);
  }
  PyObject *row = NULL;
  if (f[0] && f[1] && f[2] && f[3])
    row = Py_BuildValue("(OOOOnIn)", f[0], f[1], f[2], f[3],
                        (Py_ssize_t)epindex_dists_path_index(d, i),
                        epindex_dists_flags(d, i),
                        (Py_ssize_t)epindex_dists_entry_count(d, i));
  for (int k = 0; k < 4; k++)
    Py_XDECREF(f[k]);
  return row;
}

static PyObject *dists_row(Dists *o, PyObject *arg) {
  Py_ssize_t i = row_index(o, arg);
  return i < 0 ? NULL : dist_tuple(o->d, (size_t)i);
}

/* Rows are in path entry order: the first row at or after path index p. */
static size_t first_row_of(const epindex_dists *d, size_t p) {
  size_t lo = 0, hi = epindex_dists_count(d);
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (epindex_dists_path_index(d, mid) < p)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static PyObject *dists_span(Dists *o, PyObject *arg) {
  size_t p = PyLong_AsSize_t(arg);
  if (p == (size_t)-1 && PyErr_Occurred())
    return NULL;
  size_t start = first_row_of(o->d, p);
  size_t stop = p == SIZE_MAX ? start : first_row_of(o->d, p + 1);
  return Py_BuildValue("(nn)", (Py_ssize_t)start, (Py_ssize_t)stop);
}

/* object.__new__(cls) for rows [start, stop), cls a subclass of
 * IndexedDist: the Python side's distribution objects, built without a
 * Python frame each (a plugin host lists every distribution of the path). */
static PyObject *dists_objects(Dists *o, PyObject *args) {
  PyTypeObject *cls;
  Py_ssize_t start, stop;
  PyObject *root;
  if (!PyArg_ParseTuple(args, "O!nnO:objects", &PyType_Type, &cls, &start,
                        &stop, &root) ||
      check_indexed_class(cls) < 0)
    return NULL;
  Py_ssize_t n = (Py_ssize_t)epindex_dists_count(o->d);
  start = start < 0 ? 0 : start > n ? n : start;
  stop = stop < start ? start : stop > n ? n : stop;
  PyObject *noargs = PyTuple_New(0);
  PyObject *list = noargs ? PyList_New(stop - start) : NULL;
  for (Py_ssize_t i = start; list && i < stop; i++) {
    PyObject *obj = indexed_new(cls, noargs, (PyObject *)o, i, root);
    if (!obj) {
      Py_CLEAR(list);
      break;
    }
    PyList_SET_ITEM(list, i - start, obj);
  }
  Py_XDECREF(noargs);
  return list;
}

static Py_ssize_t dists_len(Dists *o) {
  return (Py_ssize_t)epindex_dists_count(o->d);
}

static PySequenceMethods dists_as_sequence = {
    .sq_length = (lenfunc)dists_len,
};

static PyMethodDef dists_methods[] = {
    {"entry_points", (PyCFunction)dists_entry_points, METH_O,
     "entry_points(i) -> list of (group, name, value) in file order (() for "
     "none), or None where the index does not hold them"},
    {"row", (PyCFunction)dists_row, METH_O,
     "row(i) -> (metadir, name, version, key, path index, flags, entry count)"},
    {"span", (PyCFunction)dists_span, METH_O,
     "span(path_index) -> (start, stop): the rows of that path entry"},
    {"objects", (PyCFunction)dists_objects, METH_VARARGS,
     "objects(cls, start, stop, root) -> [object.__new__(cls), ...] for rows "
     "[start, stop), cls a subclass of IndexedDist, each bound to its row"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject DistsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "epindex._epindex.Dists",
    .tp_basicsize = sizeof(Dists),
    .tp_dealloc = (destructor)dists_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Distributions of a search path (epindex_distributions).",
    .tp_methods = dists_methods,
    .tp_as_sequence = &dists_as_sequence,
};

static PyObject *handle_distributions(Handle *h, PyObject *args) {
  const char *name = NULL;
  Py_ssize_t nlen = 0;
  if (!PyArg_ParseTuple(args, "z#:distributions", &name, &nlen))
    return NULL;
  epindex_dists *d = NULL;
  PyThreadState *ts = PyEval_SaveThread();
  int rc = epindex_distributions(h->ix, name, (size_t)nlen, &d);
  PyEval_RestoreThread(ts);
  if (rc)
    return error_from(rc);
  Dists *o = PyObject_New(Dists, &DistsType);
  if (!o) {
    epindex_dists_free(d);
    return NULL;
  }
  o->d = d;
  o->owner = (Handle *)Py_NewRef(h);
  static const char *const keys[4] = {"name", "value", "group", "dist"};
  for (int k = 0; k < 4; k++)
    o->keys[k] = NULL;
  for (int k = 0; k < GROUP_CACHE; k++)
    o->groups[k] = NULL;
  o->next_group = 0;
  for (int k = 0; k < 4; k++)
    if (!(o->keys[k] = PyUnicode_InternFromString(keys[k]))) {
      Py_DECREF(o);
      return NULL;
    }
  return (PyObject *)o;
}

static PyObject *handle_get_diagnostics(Handle *h, void *unused) {
  (void)unused;
  return Py_NewRef(h->diagnostics);
}

static PyObject *handle_get_skipped(Handle *h, void *unused) {
  (void)unused;
  return PyLong_FromSize_t(epindex_skipped_count(h->ix));
}

static PyObject *handle_get_dist_counts(Handle *h, void *unused) {
  (void)unused;
  size_t n = epindex_path_count(h->ix);
  PyObject *out = PyTuple_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    PyObject *v = PyLong_FromSize_t(epindex_path_dist_count(h->ix, i));
    if (!v)
      Py_CLEAR(out);
    else
      PyTuple_SET_ITEM(out, (Py_ssize_t)i, v);
  }
  return out;
}

/* (st_dev, st_ino, st_mtime_ns): a path entry's stamp, as stamps() and
 * Handle.stamps give it. */
static PyObject *stamp_tuple(uint64_t dev, uint64_t ino, int64_t mtime_ns) {
  return Py_BuildValue("(KKL)", (unsigned long long)dev,
                       (unsigned long long)ino, (long long)mtime_ns);
}

/* The stamps open() took of each entry before reading it: stamps() of the
 * paths, without a stat() of its own. */
static PyObject *handle_get_stamps(Handle *h, void *unused) {
  (void)unused;
  size_t n = epindex_path_count(h->ix);
  PyObject *out = PyTuple_New((Py_ssize_t)n);
  for (size_t i = 0; out && i < n; i++) {
    uint64_t dev, ino;
    int64_t mtime_ns;
    PyObject *v = epindex_path_stamp(h->ix, i, &dev, &ino, &mtime_ns)
                      ? Py_NewRef(Py_None)
                      : stamp_tuple(dev, ino, mtime_ns);
    if (!v)
      Py_CLEAR(out);
    else
      PyTuple_SET_ITEM(out, (Py_ssize_t)i, v);
  }
  return out;
}

static PyObject *handle_get_sources(Handle *h, void *unused) {
  (void)unused;
  return Py_NewRef(h->sources);
}

static PyObject *handle_unchanged(Handle *h, PyObject *unused) {
  (void)unused;
  PyThreadState *ts = PyEval_SaveThread();
  int same = epindex_unchanged(h->ix);
  PyEval_RestoreThread(ts);
  return PyBool_FromLong(same == 1);
}

static PyMethodDef handle_methods[] = {
    {"lookup", (PyCFunction)handle_lookup, METH_VARARGS,
     "lookup(group, name) -> list of (group, name, value, dist, version, "
     "path_index, metadir)"},
    {"entry_points", (PyCFunction)handle_entry_points, METH_VARARGS,
     "entry_points(cls, group, name, paths) -> list of epindex.EntryPoint "
     "objects (cls) for lookup(group, name)'s rows"},
    {"distributions", (PyCFunction)handle_distributions, METH_VARARGS,
     "distributions(name) -> Dists (rows: metadir, name, version, key, "
     "path_index, flags, entry_count)"},
    {"unchanged", (PyCFunction)handle_unchanged, METH_NOARGS,
     "unchanged() -> bool: every path entry as open() saw it (its stat, and "
     "a small indexed directory's files): a new open() would answer the "
     "same"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef handle_getset[] = {
    {"diagnostics", (getter)handle_get_diagnostics, NULL,
     "metadata skipped and indexes not used, as messages", NULL},
    {"skipped", (getter)handle_get_skipped, NULL,
     "distributions skipped where importlib.metadata would raise", NULL},
    {"dist_counts", (getter)handle_get_dist_counts, NULL,
     "per path entry: how many distributions it holds", NULL},
    {"sources", (getter)handle_get_sources, NULL,
     "per path entry: (source, reason) -- 'index'/'scan'/'none' and why", NULL},
    {"stamps", (getter)handle_get_stamps, NULL,
     "per path entry: stamps() as open() saw it before reading it", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "epindex._epindex.Handle",
    .tp_basicsize = sizeof(Handle),
    .tp_dealloc = (destructor)handle_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An opened search path (see epindex.h: epindex_open).",
    .tp_methods = handle_methods,
    .tp_getset = handle_getset,
};

static PyObject *describe(epindex *ix, PyObject **diags) {
  size_t n = epindex_path_count(ix), nd = epindex_diag_count(ix);
  PyObject *sources = PyList_New((Py_ssize_t)n);
  *diags = PyList_New((Py_ssize_t)nd);
  if (!sources || !*diags) {
    Py_XDECREF(sources);
    Py_CLEAR(*diags);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    PyObject *t =
        Py_BuildValue("(ss)", epindex_source_name(epindex_path_source(ix, i)),
                      epindex_reason_name(epindex_path_reason(ix, i)));
    if (!t)
      goto fail;
    PyList_SET_ITEM(sources, (Py_ssize_t)i, t);
  }
  for (size_t i = 0; i < nd; i++) {
    const char *m = epindex_diag_message(ix, i);
    PyObject *t = text(m, strlen(m));
    if (!t)
      goto fail;
    PyList_SET_ITEM(*diags, (Py_ssize_t)i, t);
  }
  return sources;
fail: /* items not set yet are NULL, which a list's deallocation allows */
  Py_DECREF(sources);
  Py_CLEAR(*diags);
  return NULL;
}

static void free_paths(char **paths, Py_ssize_t n) {
  for (Py_ssize_t i = 0; i < n; i++)
    PyMem_Free(paths[i]);
  PyMem_Free(paths);
}

static PyObject *mod_open(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *seq;
  int policy = 0;
  unsigned int flags = 0;
  if (!PyArg_ParseTuple(args, "Oi|I:open", &seq, &policy, &flags))
    return NULL;
  PyObject *fast = PySequence_Fast(seq, "paths must be a sequence");
  if (!fast)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  char **paths = PyMem_Calloc((size_t)n + 1, sizeof(*paths));
  if (!paths) {
    Py_DECREF(fast);
    return PyErr_NoMemory();
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &bytes)) {
      free_paths(paths, n);
      Py_DECREF(fast);
      return NULL;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(bytes);
    paths[i] = PyMem_Malloc((size_t)len + 1);
    if (paths[i])
      memcpy(paths[i], PyBytes_AS_STRING(bytes), (size_t)len + 1);
    Py_DECREF(bytes);
    if (!paths[i]) {
      free_paths(paths, n);
      Py_DECREF(fast);
      return PyErr_NoMemory();
    }
  }
  Py_DECREF(fast);
  epindex *ix = NULL;
  int rc;
  PyThreadState *ts = PyEval_SaveThread();
  rc = epindex_open(&ix, (const char *const *)paths, (size_t)n,
                    (epindex_policy)policy, flags);
  PyEval_RestoreThread(ts);
  free_paths(paths, n);
  if (rc)
    return error_from(rc);
  Handle *h = PyObject_New(Handle, &HandleType);
  if (!h) {
    epindex_close(ix);
    return NULL;
  }
  h->ix = ix;
  h->diagnostics = NULL;
  h->sources = describe(ix, &h->diagnostics);
  if (!h->sources) {
    Py_DECREF(h);
    return NULL;
  }
  return (PyObject *)h;
}

/* stamps(paths) -> tuple: each entry's st_mtime_ns, or None where stat()
 * fails (importlib.metadata's FastPath cache key). One C loop: os.stat()
 * per entry cost a tenth of a first lookup. */
static PyObject *mod_stamps(PyObject *self, PyObject *seq) {
  (void)self;
  PyObject *fast = PySequence_Fast(seq, "paths must be a sequence");
  if (!fast)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject *out = PyTuple_New(n);
  for (Py_ssize_t i = 0; out && i < n; i++) {
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &bytes)) {
      Py_CLEAR(out);
      break;
    }
    const char *p = PyBytes_AS_STRING(bytes);
    struct stat st;
    /* the directory itself, not only its mtime: '' follows os.chdir() */
    PyObject *v = stat(*p ? p : ".", &st) != 0
                      ? Py_NewRef(Py_None)
                      : stamp_tuple((uint64_t)st.st_dev, (uint64_t)st.st_ino,
                                    (int64_t)st.st_mtim.tv_sec * 1000000000LL +
                                        st.st_mtim.tv_nsec);
    Py_DECREF(bytes);
    if (!v)
      Py_CLEAR(out);
    else
      PyTuple_SET_ITEM(out, i, v);
  }
  Py_DECREF(fast);
  return out;
}

static PyObject *mod_update(PyObject *self, PyObject *args, PyObject *kw) {
  (void)self;
  static char *kwlist[] = {"dir", "full", NULL};
  PyObject *dir;
  int full = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:update", kwlist,
                                   PyUnicode_FSConverter, &dir, &full))
    return NULL;
  char err[1024];
  epindex_update_stats st;
  int rc;
  PyThreadState *ts = PyEval_SaveThread();
  rc =
      epindex_update_dir(PyBytes_AS_STRING(dir), full ? EPINDEX_UPDATE_FULL : 0,
                         &st, err, sizeof(err));
  PyEval_RestoreThread(ts);
  Py_DECREF(dir);
  if (rc)
    return PyErr_Format(PyExc_OSError, "epindex: %s", err);
  return Py_BuildValue("{s:n,s:n,s:n,s:O,s:O}", "dists", (Py_ssize_t)st.dists,
                       "entries", (Py_ssize_t)st.entries, "reread",
                       (Py_ssize_t)st.reread, "unchanged",
                       st.unchanged ? Py_True : Py_False, "patched",
                       st.patched ? Py_True : Py_False);
}

static PyObject *mod_bind_row(PyObject *self, PyObject *args) {
  (void)self;
  PyTypeObject *cls;
  PyObject *root, *fields;
  if (!PyArg_ParseTuple(args, "O!OO!:bind_row", &PyType_Type, &cls, &root,
                        &PyTuple_Type, &fields) ||
      check_indexed_class(cls) < 0)
    return NULL;
  PyObject *noargs = PyTuple_New(0);
  PyObject *obj = noargs ? indexed_new(cls, noargs, fields, -1, root) : NULL;
  Py_XDECREF(noargs);
  return obj;
}

static PyObject *mod_entry_points_getter(PyObject *self, PyObject *args) {
  (void)self;
  PyObject *cls, *make, *fallback;
  int direct = 0;
  if (!PyArg_ParseTuple(args, "O!OO|p:entry_points_getter", &PyType_Type, &cls,
                        &make, &fallback, &direct))
    return NULL;
  if (direct && !(PyType_Check(make) &&
                  (PyType_IsSubtype((PyTypeObject *)make, &PyList_Type) ||
                   PyType_IsSubtype((PyTypeObject *)make, &PyTuple_Type))))
    return PyErr_Format(PyExc_TypeError, "direct: a list or tuple subclass");
  PyObject *state =
      PyTuple_Pack(4, cls, make, fallback, direct ? Py_True : Py_False);
  PyObject *f = state ? PyCFunction_New(&entry_points_get_def, state) : NULL;
  Py_XDECREF(state);
  return f;
}

static PyMethodDef mod_methods[] = {
    {"open", mod_open, METH_VARARGS,
     "open(paths, policy, flags=0) -> Handle: judge every path entry now "
     "(flags: HEAL)"},
    {"stamps", mod_stamps, METH_O,
     "stamps(paths) -> tuple: (st_dev, st_ino, st_mtime_ns) of each entry, "
     "None if absent"},
    {"bind_row", mod_bind_row, METH_VARARGS,
     "bind_row(cls, root, fields) -> object.__new__(cls), cls a subclass of "
     "IndexedDist, holding fields (metadir, name, version, key) of a lookup "
     "row; its entry points unknown"},
    {"entry_points_getter", mod_entry_points_getter, METH_VARARGS,
     "entry_points_getter(cls, make, fallback, direct=False) -> f: f(dist) is "
     "make([EntryPoint objects of cls bound to dist]) for an IndexedDist, "
     "or fallback(dist) when its index does not hold them (cls: as "
     "_epindex_entry_point_objects() takes it)"},
    {"update", (PyCFunction)(void (*)(void))mod_update,
     METH_VARARGS | METH_KEYWORDS,
     "update(dir, full=False) -> dict: (re)build the index of dir"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "_epindex",
                                    "CPython binding of libepindex.",
                                    -1,
                                    mod_methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

/* the one symbol the interpreter looks up */
PyMODINIT_FUNC PyInit__epindex(void);

PyMODINIT_FUNC PyInit__epindex(void) {
  if (PyType_Ready(&HandleType) < 0 || PyType_Ready(&DistsType) < 0 ||
      PyType_Ready(&IndexedDistType) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&module);
  if (!m)
    return NULL;
  if (PyModule_AddStringConstant(m, "__version__", epindex_libversion()) < 0 ||
      PyModule_AddIntConstant(m, "SCHEMA_VERSION", EPINDEX_SCHEMA_VERSION) <
          0 ||
      PyModule_AddIntConstant(m, "HEAL", EPINDEX_OPEN_HEAL) < 0 ||
      PyModule_AddIntConstant(m, "VALUE_RULE", EPINDEX_OPEN_VALUE_RULE) < 0 ||
      PyModule_AddIntConstant(m, "NO_SCAN", EPINDEX_OPEN_NO_SCAN) < 0 ||
      PyModule_AddIntConstant(m, "POLICY_STAT", EPINDEX_POLICY_STAT) < 0 ||
      PyModule_AddIntConstant(m, "POLICY_VERIFY", EPINDEX_POLICY_VERIFY) < 0 ||
      PyModule_AddIntConstant(m, "POLICY_TRUST", EPINDEX_POLICY_TRUST) < 0 ||
      PyModule_AddIntConstant(m, "USER_CACHE", EPINDEX_OPEN_USER_CACHE) < 0 ||
      PyModule_AddIntConstant(m, "DIST_ENTRY_POINTS",
                              EPINDEX_DIST_ENTRY_POINTS) < 0 ||
      PyModule_AddIntConstant(m, "DIST_FILE", EPINDEX_DIST_FILE) < 0 ||
      PyModule_AddObjectRef(m, "IndexedDist", (PyObject *)&IndexedDistType) <
          0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
