/*
 * sqlapi.c -- SQLite's functions, looked up with dlopen() on first use
 * (sqlapi.h says why).
 */
#include "sqlapi.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#ifndef EPINDEX_SQLITE_SONAME
#define EPINDEX_SQLITE_SONAME "libsqlite3.so.0"
#endif

sqlite3_api_routines ep_sqlite_routines;
static bool sqlite_ok;
static char sqlite_error[256];
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void load_sqlite(void) {
  void *h = dlopen(EPINDEX_SQLITE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    snprintf(sqlite_error, sizeof(sqlite_error), "cannot load %s: %s",
             EPINDEX_SQLITE_SONAME, why ? why : "unknown error");
    return;
  }
  sqlite3_api_routines t = {0};
  const char *missing = NULL;
  /* POSIX: a void * from dlsym converts to a function pointer */
#define LOAD(f)                                                                \
  if (!(*(void **)(&t.f) = dlsym(h, "sqlite3_" #f)) && !missing)               \
    missing = "sqlite3_" #f;
  EP_SQLITE_FUNCTIONS(LOAD)
#undef LOAD
  if (missing) {
    snprintf(sqlite_error, sizeof(sqlite_error), "%s lacks %s",
             EPINDEX_SQLITE_SONAME, missing);
    return; /* the handle stays open: dlclose() of a library some other
               part of the process may use gains nothing */
  }
  ep_sqlite_routines = t;
  sqlite_ok = true;
}

bool ep_sqlite_load(void) {
  pthread_once(&sqlite_once, load_sqlite);
  return sqlite_ok;
}

const char *ep_sqlite_load_error(void) {
  return ep_sqlite_load() ? NULL : sqlite_error;
}
