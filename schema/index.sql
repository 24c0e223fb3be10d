-- epindex index schema, version 1 (PRAGMA user_version = 1).
-- One file per directory: <dir>/.epindex/index.db. docs/index-format.md
-- describes every table and meta key. The build embeds this file verbatim.
-- The writer sets PRAGMA application_id = 0x45504958 ('EPIX') and
-- PRAGMA user_version = 1 and PRAGMA page_size = 4096 before running it.

-- Key/value facts about the index: what it was built for and when.
-- Integer-valued keys (dev, ino, mtime_ns, stamp_ns, dists, entries,
-- problems, egg) are stored as integers, the rest as text.
CREATE TABLE meta(
  key TEXT PRIMARY KEY NOT NULL,
  value
) WITHOUT ROWID;

-- Entry points of visible distributions, clustered by group so that a
-- lookup is one range scan over adjacent pages. Distribution columns are
-- repeated in each row so that no join is needed. Created right after meta
-- so that the root pages a lookup needs (1: schema, 2: meta, 3: entry) sit
-- in the first 16 KiB, which the reader has already read to validate the
-- file.
CREATE TABLE entry(
  grp TEXT NOT NULL,            -- group
  ord INTEGER NOT NULL,         -- dist.ord of its distribution
  line INTEGER NOT NULL,        -- line number in entry_points.txt
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  metadir TEXT NOT NULL,        -- = dist.metadir
  dname TEXT,                   -- = dist.name
  dversion TEXT,                -- = dist.version
  key TEXT NOT NULL,            -- = dist.key
  PRIMARY KEY(grp, ord, line)
) WITHOUT ROWID;

-- One row per metadata entry (*.dist-info, *.egg-info, EGG-INFO) of the
-- directory, in importlib.metadata's discovery order (ord = 0, 1, ...).
CREATE TABLE dist(
  ord INTEGER PRIMARY KEY,      -- discovery order within the directory
  metadir TEXT NOT NULL,        -- entry name as listed
  kind INTEGER NOT NULL,        -- 0 directory, 1 file, 2 EGG-INFO of an .egg
  key TEXT,                     -- uniqueness key; NULL: undeterminable
  name TEXT,                    -- METADATA Name (NULL: none)
  version TEXT,                 -- METADATA Version (NULL: none)
  hidden INTEGER NOT NULL,      -- 1: an earlier entry here has the same key
  ep_size INTEGER NOT NULL,     -- entry_points.txt size, -1 if absent
  ep_mtime INTEGER NOT NULL,    -- its mtime in ns, -1 if absent
  md_size INTEGER NOT NULL,     -- size of the file metadata came from, -1
  md_mtime INTEGER NOT NULL,    -- its mtime in ns, -1
  problem TEXT                  -- why its entry points are skipped, or NULL
);
CREATE INDEX dist_key ON dist(key);
CREATE INDEX dist_problem ON dist(ord) WHERE problem IS NOT NULL;
