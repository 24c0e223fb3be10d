-- epindex index schema, version 4 (PRAGMA user_version = 4).
-- One file per directory: <dir>/.epindex/index.db. docs/index-format.md
-- describes every row kind and meta key. The build embeds this file with
-- comments stripped. The writer sets PRAGMA page_size = 4096,
-- application_id = 0x45504958 ('EPIX') and user_version = 4.
--
-- One table. A reader pays for every schema statement and every prepared
-- statement on each open, so everything it reads -- facts about the index,
-- entry points, and the keys that decide precedence -- goes through one
-- statement: SELECT ... FROM ep WHERE grp = ?. Rows are of several kinds,
-- told apart by grp:
--
--   grp = an entry point group      one entry point (any group name: a group
--                                   comes from one line of entry_points.txt
--                                   and so never contains a line feed)
--   grp = char(10) || 'meta'        one fact: name = key, value = value
--   grp = char(10) || 'dist'        one metadata entry of the directory
--   grp = char(10) || 'key' || char(10) || KEY
--                                   "a distribution with uniqueness key KEY
--                                   is here" (precedence across path entries)
--   grp = char(10) || 'link'        a symlinked metadata entry: what it
--                                   resolved to (value = 'dev ino ctime')
--   grp = char(10) || 'badvalue'    a visible distribution with an entry
--                                   point value that is no object reference
--   grp = char(10) || 'problem'     a distribution whose entry points are
--                                   skipped, and why
--   grp = char(10) || 'name' || char(10) || KEY
--                                   a metadata entry distribution(name)
--                                   finds by its Lookup key KEY
--   grp = char(10) || 'egg'         the EGG-INFO of an .egg path entry
--
-- ord is the distribution's position in importlib.metadata's discovery order
-- within the directory (gapped: see docs/index-format.md); line is the line
-- number in entry_points.txt for entry points, 0 otherwise (flags for dist
-- rows). The table is clustered by (grp, ord, line): a lookup is one range
-- scan over adjacent pages, in the order importlib.metadata returns.
CREATE TABLE ep(
  grp TEXT NOT NULL,
  ord INTEGER NOT NULL,
  line INTEGER NOT NULL,
  name TEXT,      -- entry point name; meta key; problem text
  value,          -- entry point value; meta value; dist stamps
  metadir TEXT,   -- the distribution's metadata entry, e.g. foo-1.0.dist-info
  dname TEXT,     -- its METADATA Name (NULL: none)
  dversion TEXT,  -- its METADATA Version (NULL: none)
  key TEXT,       -- its uniqueness key (NULL: undeterminable)
  PRIMARY KEY(grp, ord, line)
) WITHOUT ROWID;
