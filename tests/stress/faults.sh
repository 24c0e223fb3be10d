#!/usr/bin/env bash
# Fault injection at every step of an update: for each kind (write, fsync,
# rename, allocation, the writer's opens, unlinks, chmod/chown, reads of
# metadata files; ACL checks apart, below) and every N up to the number of
# such calls a full update makes, run `epindex update --full` with the Nth
# call failing (tests/stress/faultlib.c, LD_PRELOAD). Afterwards the old
# index or the complete new one must be in place -- never a damaged one --
# the answer must be right, and a normal update must then succeed and leave
# no litter.
# (A read that fails for the moment must fail the update, not be published
# as the distribution's error: its stamps would keep it there.)
# Usage: faults.sh EPINDEX LIBEPFAULT
set -u
EPINDEX=${1:?usage: faults.sh EPINDEX LIBEPFAULT}
LIB=${2:?usage: faults.sh EPINDEX LIBEPFAULT}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
site=$T/site
mkdir -p "$site"
for i in $(seq 1 60); do
  d=$site/f$i-1.0.dist-info
  mkdir "$d"
  printf 'Name: f%s\nVersion: 1.0\n' "$i" >"$d/METADATA"
  printf '[g]\nf%s = f:main\n' "$i" >"$d/entry_points.txt"
done
"$EPINDEX" update "$site" >/dev/null || exit 1
want=$("$EPINDEX" query --json --path "$site" g | md5sum)
total=0 failed_runs=0 bad=0
# litter of a killed update, so that the writer has something to unlink
litter() { [[ $1 != unlink ]] || : >"$site/.epindex/index.db.tmp-99999-dead"; }
files=120 # the metadata files above: METADATA and entry_points.txt each
for kind in write fsync rename alloc open unlink perm read; do
  litter $kind
  calls=$(EPFAULT_KIND=$kind EPFAULT_AT=0 LD_PRELOAD=$LIB "$EPINDEX" update --full "$site" 2>&1 >/dev/null |
    sed -n 's/^epfault: .* calls=//p')
  # a calibration that counted nothing would inject nothing and pass
  if [[ ${calls:-0} -eq 0 ]]; then
    bad=$((bad + 1)); echo "faults: $kind: no fault points found (is the shim loaded?)"
  fi
  # a file is read whole in one read(), not two: the second, returning 0,
  # was a system call per file in every scan
  if [[ $kind == read && ${calls:-0} -gt $files ]]; then
    bad=$((bad + 1)); echo "faults: read: $calls reads of $files files"
  fi
  for n in $(seq 1 "${calls:-0}"); do
    total=$((total + 1))
    litter $kind
    out=$(EPFAULT_KIND=$kind EPFAULT_AT=$n LD_PRELOAD=$LIB "$EPINDEX" update --full "$site" 2>&1)
    status=$?
    if [[ $status -ne 0 && $status -ne 3 ]]; then
      bad=$((bad + 1)); echo "$kind #$n: exit $status: $out" | head -3
    fi
    [[ $status -eq 3 ]] && failed_runs=$((failed_runs + 1))
    verdict=$("$EPINDEX" status --policy trust "$site" | head -1)
    case $verdict in
      *": trusted" | *": trusted:"*) ;;
      *) bad=$((bad + 1)); echo "$kind #$n: $verdict" ;;
    esac
    [[ $("$EPINDEX" query --json --path "$site" g | md5sum) == "$want" ]] ||
      { bad=$((bad + 1)); echo "$kind #$n: wrong answer"; }
  done
  echo "faults: $kind: $calls fault points"
done
# an ACL check that fails (EIO) cannot tell whether some user is denied
# what the mode bits grant: the update succeeds, but the index is its
# writer's alone (0600), as for an ACL; the next full update publishes it
calls=$(EPFAULT_KIND=xattr EPFAULT_AT=0 LD_PRELOAD=$LIB "$EPINDEX" update --full "$site" 2>&1 >/dev/null |
  sed -n 's/^epfault: .* calls=//p')
if [[ ${calls:-0} -eq 0 ]]; then
  bad=$((bad + 1)); echo "faults: xattr: no fault points found"
fi
for n in $(seq 1 "${calls:-0}"); do
  total=$((total + 1))
  out=$(EPFAULT_KIND=xattr EPFAULT_AT=$n LD_PRELOAD=$LIB "$EPINDEX" update --full "$site" 2>&1)
  status=$?
  mode=$(stat -c %a "$site/.epindex/index.db")
  if [[ $status -ne 0 || $mode != 600 ]]; then
    bad=$((bad + 1)); echo "xattr #$n: exit $status, index mode $mode: $out" | head -3
  fi
  [[ $("$EPINDEX" query --json --path "$site" g | md5sum) == "$want" ]] ||
    { bad=$((bad + 1)); echo "xattr #$n: wrong answer"; }
done
"$EPINDEX" update --full "$site" >/dev/null
mode=$(stat -c %a "$site/.epindex/index.db")
[[ $mode == 644 ]] || { bad=$((bad + 1)); echo "xattr: index mode $mode after a clean update"; }
echo "faults: xattr: $calls fault points"
# readers under allocation failures: a right answer or a clean failure
# (exit 3), from the index and from a scan -- never a wrong answer or a crash
for source in index scan; do
  # no index at all (lookup.tbl alone still answers, as index.db would)
  [[ $source == scan ]] && mv "$site/.epindex" "$T/epindex.saved"
  case $("$EPINDEX" query --explain --path "$site" g 2>&1 >/dev/null) in
    *": $source ("*) ;;
    *) bad=$((bad + 1)); echo "faults: query: not answered from the $source" ;;
  esac
  calls=$(EPFAULT_KIND=alloc EPFAULT_AT=0 LD_PRELOAD=$LIB "$EPINDEX" query --json --path "$site" g 2>&1 >/dev/null |
    sed -n 's/^epfault: .* calls=//p')
  if [[ ${calls:-0} -eq 0 ]]; then
    bad=$((bad + 1)); echo "faults: query ($source): no allocation fault points found"
  fi
  for n in $(seq 1 "${calls:-0}"); do
    total=$((total + 1))
    got=$(EPFAULT_KIND=alloc EPFAULT_AT=$n LD_PRELOAD=$LIB "$EPINDEX" query --json --path "$site" g 2>/dev/null)
    status=$?
    if [[ $status -eq 0 && $(printf '%s\n' "$got" | md5sum) != "$want" ]]; then
      bad=$((bad + 1)); echo "query ($source) alloc #$n: wrong answer"
    elif [[ $status -ne 0 && $status -ne 3 ]]; then
      bad=$((bad + 1)); echo "query ($source) alloc #$n: exit $status"
    fi
  done
  echo "faults: query from the $source: $calls allocation fault points"
done
# a reader's scan takes no stamps: no stat per distribution, only the path
# entry's (the shim counts stat() and fstatat() by name, not the fstat() of a
# file read, nor lstat())
stats=$(EPFAULT_KIND=stat EPFAULT_AT=0 LD_PRELOAD=$LIB "$EPINDEX" query --json --path "$site" g 2>&1 >/dev/null |
  sed -n 's/^epfault: .* calls=//p')
if [[ ${stats:-0} -eq 0 || $stats -ge 60 ]]; then
  bad=$((bad + 1)); echo "faults: a scan of 60 distributions made ${stats:-no} stat calls"
fi
mv "$T/epindex.saved" "$site/.epindex"

"$EPINDEX" update "$site" >/dev/null || bad=$((bad + 1))
if ls -a "$site/.epindex" | grep -q tmp; then bad=$((bad + 1)); echo "litter left"; fi
echo "faults: $total injected faults, $failed_runs updates reported failure, index never damaged"
echo "faults: $((total - bad)) passed, $bad failed"
[[ $bad -eq 0 ]]
