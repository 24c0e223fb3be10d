/*
 * zipapi.c -- libarchive, loaded when the first zip path entry is read.
 *
 * Why: linking libarchive pulls in libxml2, ICU and libstdc++, which cost
 * every process that loads libepindex about 1.2 ms of dynamic linking --
 * more than a whole lookup -- although zip path entries are rare. So the few
 * functions the scanner needs are looked up with dlopen() on first use. The
 * table is process-wide but written once (pthread_once) and never changed.
 */
#include "zipapi.h"

#include <dlfcn.h>
#include <pthread.h>

#ifndef EPINDEX_LIBARCHIVE_SONAME
#define EPINDEX_LIBARCHIVE_SONAME "libarchive.so.13"
#endif

static ep_zipapi zipapi;
static bool zipapi_ok;
static pthread_once_t zipapi_once = PTHREAD_ONCE_INIT;

static void load_zipapi(void) {
  void *h = dlopen(EPINDEX_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    return;
    /* POSIX: a void * from dlsym converts to a function pointer */
#define LOAD(field, sym) *(void **)(&zipapi.field) = dlsym(h, sym)
  LOAD(read_new, "archive_read_new");
  LOAD(support_zip, "archive_read_support_format_zip_seekable");
  LOAD(open_filename, "archive_read_open_filename");
  LOAD(next_header, "archive_read_next_header");
  LOAD(pathname, "archive_entry_pathname");
  LOAD(read_data, "archive_read_data");
  LOAD(read_free, "archive_read_free");
#undef LOAD
  zipapi_ok = zipapi.read_new && zipapi.support_zip && zipapi.open_filename &&
              zipapi.next_header && zipapi.pathname && zipapi.read_data &&
              zipapi.read_free;
}

const ep_zipapi *ep_zip_api(void) {
  pthread_once(&zipapi_once, load_zipapi);
  return zipapi_ok ? &zipapi : NULL;
}
