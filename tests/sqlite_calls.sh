#!/usr/bin/env bash
# Every SQLite function the library calls must be in EP_SQLITE_FUNCTIONS
# (reader/sqlapi.h): the library calls SQLite through a table it fills with
# dlsym(), and a function missing from the list would be a NULL pointer.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
listed=$(sed -n '/^#define EP_SQLITE_FUNCTIONS/,/^$/p' "$root/reader/sqlapi.h" |
  grep -o 'X([a-z0-9_]*)' | sed 's/X(\(.*\))/sqlite3_\1/' | sort -u)
called=$(cat "$root"/reader/*.c | grep -oE '\bsqlite3_[a-z0-9_]+ *\(' |
  sed 's/ *($//' | sort -u)
missing=$(comm -23 <(echo "$called") <(echo "$listed"))
unused=$(comm -13 <(echo "$called") <(echo "$listed"))
[[ -z $missing ]] || { echo "called but not loaded by sqlapi.c: $missing"; exit 1; }
[[ -z $unused ]] || { echo "loaded but never called: $unused"; exit 1; }
echo "sqlite calls: $(wc -l <<<"$called") functions, all in EP_SQLITE_FUNCTIONS"
