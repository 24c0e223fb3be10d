#!/usr/bin/env bash
# Crash consistency: `epindex update --full` killed with SIGKILL at random
# moments. After every kill the index is the old one or the complete new
# one, never a damaged one (status never says "damaged"), and the next
# update removes the temporary files the killed one left.
# Usage: kill.sh EPINDEX [KILLS]   (default 50)
set -u
EPINDEX=${1:?usage: kill.sh EPINDEX [KILLS]}
kills=${2:-50}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
site=$T/site
mkdir -p "$site"
for i in $(seq 1 3000); do
  d=$site/k$i-1.0.dist-info
  mkdir "$d"
  printf 'Name: k%s\nVersion: 1.0\n' "$i" >"$d/METADATA"
  ((i % 3)) || printf '[g]\nk%s = k:main\n' "$i" >"$d/entry_points.txt"
done
"$EPINDEX" update "$site" >/dev/null || exit 1
want=$("$EPINDEX" query --json --path "$site" g | md5sum)
bad=0 litter_seen=0 interrupted=0
for k in $(seq 1 "$kills"); do
  "$EPINDEX" update --full "$site" >/dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 60))"
  kill -9 "$pid" 2>/dev/null && interrupted=$((interrupted + 1))
  wait "$pid" 2>/dev/null
  verdict=$("$EPINDEX" status --policy trust "$site" | head -1)
  case $verdict in
    *": trusted" | *": trusted:"* | *": missing"*) ;;
    *) bad=$((bad + 1)); echo "kill $k: $verdict" ;;
  esac
  ls "$site/.epindex" | grep -q tmp && litter_seen=$((litter_seen + 1))
  # the answer is right whatever was left
  [[ $("$EPINDEX" query --json --path "$site" g | md5sum) == "$want" ]] ||
    { bad=$((bad + 1)); echo "kill $k: wrong answer"; }
done
"$EPINDEX" update "$site" >/dev/null || bad=$((bad + 1))
if ls "$site/.epindex" | grep -q tmp; then bad=$((bad + 1)); echo "litter left"; fi
"$EPINDEX" verify "$site" >/dev/null || { bad=$((bad + 1)); echo "not fresh at the end"; }
# a run in which no update was caught mid-write tested nothing
if ((interrupted == 0 || litter_seen == 0)); then
  bad=$((bad + 1)); echo "kill: no update was interrupted mid-write"
fi
echo "kill: $kills updates started, $interrupted killed mid-way, litter seen $litter_seen times, all cleaned"
echo "kill: $((kills - bad)) passed, $bad failed"
[[ $bad -eq 0 ]]
