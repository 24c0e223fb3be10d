#!/usr/bin/env python3
"""Fail when a library module includes a header of its own layer or above.

    tools/check_layers.py [REPO]

The layers of reader/ (docs/architecture.md), lowest first. A module is a
.c file and the .h of the same name; it may include its own header, the
public epindex.h, system headers and the headers of modules in lower layers
only. Every reader/*.c and *.h must belong to a layer, so a new module is
placed on purpose. No cycle can then form: includes only point down.
"""
import os
import re
import sys

LAYERS = [
    ["names"],                           # the public names of codes
    ["util", "sqlapi"],                  # memory, buffers, maps, times;
                                         # SQLite, loaded on first use
    ["access", "text", "zipapi", "fdvfs"],
    ["readfile"],                        # reading a file, judging access
    ["scan", "lookup"],                  # a path entry; the lookup table
    ["index"],                           # index files: open, judge, write
    ["update"],                          # epindex_update_dir()
    ["epindex"],                         # the public handle
]
# headers that are part of a module without being named after it
PART_OF = {"unicode_tables": "text", "index_impl": "index"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..")
    reader = os.path.join(root, "reader")
    layer = {m: i for i, ms in enumerate(LAYERS) for m in ms}
    module_of = lambda stem: PART_OF.get(stem, stem)
    errors = []
    for name in sorted(os.listdir(reader)):
        stem, ext = os.path.splitext(name)
        if ext not in (".c", ".h"):
            continue
        if stem.startswith("index_"):  # index_open.c, index_query.c, ...
            stem = "index"
        mod = module_of(stem)
        if mod not in layer:
            errors.append("reader/%s: module %s is in no layer of %s" %
                          (name, mod, os.path.basename(__file__)))
            continue
        with open(os.path.join(reader, name), encoding="utf-8") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            if inc == "epindex":
                continue
            dep = module_of("index" if inc.startswith("index_") else inc)
            if dep == mod:
                continue
            if dep not in layer:
                errors.append("reader/%s includes %s.h of no layer" % (name, inc))
            elif layer[dep] >= layer[mod]:
                errors.append("reader/%s (layer %d, %s) includes %s.h (layer %d, %s)"
                              % (name, layer[mod], mod, inc, layer[dep], dep))
    for e in errors:
        print("layers: " + e)
    if errors:
        print("layers: %d violation(s); see docs/architecture.md" % len(errors))
        return 1
    print("layers: clean (%d layers)" % len(LAYERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
