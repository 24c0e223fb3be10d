/*
 * zipapi.h -- libarchive's zip reader, loaded on first use. Layer 2.
 */
#ifndef EPINDEX_ZIPAPI_H
#define EPINDEX_ZIPAPI_H

#include "util.h"

struct archive;
struct archive_entry;

/* The libarchive functions the zip scanner uses, loaded on first use. */
typedef struct ep_zipapi {
  struct archive *(*read_new)(void);
  int (*support_zip)(struct archive *);
  int (*open_filename)(struct archive *, const char *, size_t);
  int (*next_header)(struct archive *, struct archive_entry **);
  const char *(*pathname)(struct archive_entry *);
  ptrdiff_t (*read_data)(struct archive *, void *, size_t);
  int (*read_free)(struct archive *);
} ep_zipapi;

/* NULL when libarchive cannot be loaded: zip path entries then yield
 * nothing, and the handle says so in a diagnostic. */
const ep_zipapi *ep_zip_api(void);

#endif /* EPINDEX_ZIPAPI_H */
