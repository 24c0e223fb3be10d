#!/usr/bin/env bash
# CLI tests: each case runs a command and checks its exit status, and what
# it prints on stdout and stderr (zstd's cli-tests style, inline).
# Usage: run.sh PATH/TO/epindex
set -u
EPINDEX=${1:?usage: run.sh EPINDEX}
[[ $EPINDEX == */* && $EPINDEX != /* ]] && EPINDEX=$PWD/$EPINDEX # cases cd
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

# matches FILE PATTERN: the ERE matches a line, or the file is empty for '^$'
matches() {
  if [[ $2 == '^$' ]]; then [[ ! -s $1 ]]; else grep -Eq -- "$2" "$1"; fi
}

# check NAME EXPECTED_STATUS STDOUT_PATTERN STDERR_PATTERN -- CMD...
check() {
  local name=$1 want=$2 outpat=$3 errpat=$4
  shift 5
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [[ $got -eq $want ]] && matches "$T/out" "$outpat" && matches "$T/err" "$errpat"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name: status $got (want $want)"
    echo "  stdout: $(head -c 400 "$T/out")"
    echo "  stderr: $(head -c 400 "$T/err")"
  fi
}

site=$T/site
mkdir -p "$site/foo-1.0.dist-info" "$site/bar-2.0.dist-info"
printf 'Name: foo\nVersion: 1.0\n' >"$site/foo-1.0.dist-info/METADATA"
printf '[console_scripts]\nfoo = foo:main\n[g]\nx = foo:x\n' >"$site/foo-1.0.dist-info/entry_points.txt"
printf 'Name: bar\nVersion: 2.0\n' >"$site/bar-2.0.dist-info/METADATA"
printf '[console_scripts]\nbar = bar:main\n' >"$site/bar-2.0.dist-info/entry_points.txt"

check help 0 'Usage: epindex COMMAND' '^$' -- "$EPINDEX" --help
check help-after-command 0 'Exit status' '^$' -- "$EPINDEX" query --help
check version 0 '^epindex [0-9]+\.[0-9]+\.[0-9]+ \(schema 4\)$' '^$' -- "$EPINDEX" --version
check no-command 2 '^$' 'missing COMMAND' -- "$EPINDEX"
check bad-command 2 '^$' 'unknown COMMAND' -- "$EPINDEX" frobnicate
check bad-option 2 '^$' "^epindex: unknown option, or one missing its argument: --bogus" -- "$EPINDEX" query --bogus
check missing-argument 2 '^$' "^epindex: unknown option, or one missing its argument: --path" -- "$EPINDEX" query --path
# every message on stderr starts with epindex: (none names argv[0])
check stderr-prefix 2 '^$' '^epindex: ' -- "$EPINDEX" verify --json "$site"
check bad-policy 2 '^$' 'stat, verify or trust' -- "$EPINDEX" query --policy maybe --path "$site"
check update-no-args 2 '^$' 'needs DIR' -- "$EPINDEX" update
check verify-no-args 2 '^$' 'needs DIR' -- "$EPINDEX" verify
check query-two-groups 2 '^$' 'at most one GROUP' -- "$EPINDEX" query --path "$site" a b

check verify-missing 1 'missing \(no index\)' '^$' -- "$EPINDEX" verify "$site"
check update 0 "^$site: 2 dists, 3 entry points, 2 read, [0-9.]+ ms$" '^$' -- "$EPINDEX" update "$site"
check update-unchanged 0 "^$site: unchanged" '^$' -- "$EPINDEX" update "$site"
check verify-fresh 0 "^$site: fresh$" '^$' -- "$EPINDEX" verify "$site"
check status 0 '  dists: 2' '^$' -- "$EPINDEX" status "$site"
check status-dir 0 "  dir: $site" '^$' -- "$EPINDEX" status "$site"
check query-text 0 $'console_scripts\tfoo = foo:main\t\\(foo 1.0\\)' '^$' -- "$EPINDEX" query --path "$site" console_scripts
check query-json 0 '"group": "g", "name": "x", "value": "foo:x", "dist": "foo", "version": "1.0"' '^$' \
  -- "$EPINDEX" query --path "$site" --json g
check query-name 0 '"name": "bar"' '^$' -- "$EPINDEX" query --path "$site" --json --name bar
check query-options-after-group 0 '"name": "x"' '^$' -- "$EPINDEX" query g --json --path "$site"
check query-explain 0 'foo' "$site: index \\(index is fresh\\)" -- "$EPINDEX" query --explain --path "$site" g
check query-empty-group 0 '^\[\]$' '^$' -- "$EPINDEX" query --json --path "$site" nothing.here

mkdir -p "$site/new-1.0.dist-info"
check verify-stale 1 "^$site: stale: .*new-1.0.dist-info" '^$' -- "$EPINDEX" verify "$site"
check query-stale-scans 0 '^\[\]$' "$site: scan \\(index is stale\\)" -- "$EPINDEX" query --explain --path "$site" --json nothing
check verify-trust 0 'trusted' '^$' -- "$EPINDEX" verify --policy trust "$site"

mkdir -p "$site/broken-1.0.dist-info"
printf '[g]\nno equals here\n' >"$site/broken-1.0.dist-info/entry_points.txt"
check broken-warns 0 '"name": "x"' "warning: .*broken-1.0.dist-info: skipped: entry_points.txt: line 2 has no '='" \
  -- "$EPINDEX" query --json --path "$site" g
printf '\xff\xfe' >"$site/broken-1.0.dist-info/entry_points.txt"
check broken-utf8 0 '"name": "x"' 'invalid UTF-8 at byte 0' -- "$EPINDEX" query --json --path "$site" g

check update-missing 3 '^$' "epindex: cannot open $T/nope: No such file or directory" -- "$EPINDEX" update "$T/nope"
check update-file 3 '^$' 'Not a directory' -- "$EPINDEX" update "$site/foo-1.0.dist-info/METADATA"
check update-partial-failure 3 "^$site: " 'No such file' -- "$EPINDEX" update "$T/nope" "$site"
check verify-not-dir 3 '^$' 'epindex: .*METADATA: path entry is not a directory' -- "$EPINDEX" verify "$site/foo-1.0.dist-info/METADATA"
check verify-nonexistent 3 '^$' 'epindex: /nonexistent: path entry does not exist' -- "$EPINDEX" verify /nonexistent
# an option is accepted only by the commands it means something to
for bad in "verify --json $site" "update --json $site" "status --heal $site" \
  "verify --user-cache $site" "update --name x $site" "query --full" \
  "update --policy verify $site" "verify --path $site $site"; do
  opt=$(echo "$bad" | grep -o -- '--[a-z-]*' | head -1)
  cmd=${bad%% *}
  # shellcheck disable=SC2086
  check "option-$cmd$opt" 2 '^$' "epindex: $opt does not apply to $cmd" -- "$EPINDEX" $bad
done
check option-usage-shown 2 '^$' 'Usage: epindex verify \[--policy P\] DIR' -- "$EPINDEX" verify --json "$site"
# JSON is strict: a file name that is not UTF-8 is written with U+FFFD
badname=$T/$'s\xe9'
mkdir -p "$badname/b-1.dist-info"
printf 'Name: b\n' >"$badname/b-1.dist-info/METADATA"
printf '[g]\nb = b:main\n' >"$badname/b-1.dist-info/entry_points.txt"
check json-non-utf8-path 0 '"path": "[^"]*s\\ufffd"' '^$' -- "$EPINDEX" query --json --path "$badname" g
check explain-non-utf8-path 0 'b = b:main' $'s\xe9: scan' -- "$EPINDEX" query --explain --path "$badname" g
# a user cache that cannot be made says why, and the answer is a scan's
ucsite=$T/ucsite
mkdir -p "$ucsite/u-1.dist-info" && printf 'Name: u\n' >"$ucsite/u-1.dist-info/METADATA"
chown -R nobody "$ucsite" 2>/dev/null || true
touch "$T/cache-file"
if [[ $(stat -c %u "$ucsite") != "$(id -u)" ]]; then
  XDG_CACHE_HOME=$T/cache-file check user-cache-unusable 0 '^$' \
    "user cache not used: cannot create $T/cache-file/epindex: Not a directory" \
    -- "$EPINDEX" query --user-cache --path "$ucsite" g
fi
check query-nonexistent-path 0 '^\[\]$' '^$' -- "$EPINDEX" query --json --path "$T/nope" g

# a damaged lookup table: index.db answers, silently
"$EPINDEX" update "$site" >/dev/null
head -c 3000 /dev/urandom >"$site/.epindex/lookup.tbl"
check damaged-table 0 'x = foo:x' 'site: index \(index is fresh\)' -- "$EPINDEX" query --explain --path "$site" g
# a damaged index (and table): a warning, the right answer, exit 0
head -c 3000 /dev/urandom >"$site/.epindex/index.db"
check damaged 0 '"name": "x"' 'index not used: index is damaged' -- "$EPINDEX" query --json --path "$site" g
"$EPINDEX" update "$site" >/dev/null
check repaired 0 "fresh" '^$' -- "$EPINDEX" verify "$site"

# --heal rebuilds a stale index (this user owns the directory)
mkdir -p "$site/healme-1.0.dist-info"
check heal-off 0 '' "$site: scan \\(index is stale\\)" -- "$EPINDEX" query --explain --path "$site" g
check heal-on 0 '' "$site: index \\(index was not current and this process rebuilt it\\)" \
  -- "$EPINDEX" query --heal --explain --path "$site" g
check heal-result 0 "fresh" '^$' -- "$EPINDEX" verify "$site"

# --user-cache: a user who may not write the directory keeps its own index
chmod 755 "$T"
home=$T/nobody-home
mkdir "$home" && chown nobody "$home"
mkdir -p "$site/cacheme-1.0.dist-info"
check user-cache 0 '"name": "x"' "$site: cache \\(index was not current and this process rebuilt it\\)" \
  -- runuser -u nobody -- env HOME="$home" "$EPINDEX" query --user-cache --explain --json --path "$site" g
check user-cache-fresh 0 '"name": "x"' "$site: cache \\(index is fresh\\)" \
  -- runuser -u nobody -- env HOME="$home" "$EPINDEX" query --user-cache --explain --json --path "$site" g
check user-cache-site-untouched 1 "stale" '^$' -- "$EPINDEX" verify "$site"
"$EPINDEX" update "$site" >/dev/null

# JSON escaping: control characters, quotes, non-ASCII kept as UTF-8
mkdir -p "$T/esc/e-1.0.dist-info"
printf '[g]\nq"\\\\ = caf\xc3\xa9\x01\n' >"$T/esc/e-1.0.dist-info/entry_points.txt"
check json-escape 0 '"name": "q\\"\\\\\\\\", "value": "café\\u0001"' '^$' -- "$EPINDEX" query --json --path "$T/esc" g

# text output and messages: what others wrote reaches the terminal with its
# control characters escaped (C0, DEL, C1, and the backslash), one line each
ht=$T/hostile
evil=$'e\e[31m\n-1.0.dist-info'
mkdir -p "$ht/h-1.0.dist-info" "$ht/$evil"
printf 'Name: h\033]0;pwned\007\nVersion: 1\302\233\n' >"$ht/h-1.0.dist-info/METADATA"
printf '[g]\nn\000ul = m:f\\x\n' >"$ht/h-1.0.dist-info/entry_points.txt"
printf '[g]\nno equals\n' >"$ht/$evil/entry_points.txt"
# same NAME FILE EXPECTED: the file holds exactly EXPECTED and a newline
same() {
  if [[ $(cat "$2"; echo .) == "$3"$'\n.' ]]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $1: got $(od -c "$2" | head -5)"
  fi
}
"$EPINDEX" query --path "$ht" g >"$T/hout" 2>"$T/herr"
same text-escaped "$T/hout" 'g	n\x00ul = m:f\\x	(h\x1b]0;pwned\x07 1\u009b)'
same warning-escaped "$T/herr" "epindex: warning: $ht/e\\x1b[31m\\n-1.0.dist-info: skipped: entry_points.txt: line 2 has no '='"
"$EPINDEX" update "$ht" >/dev/null
mkdir "$ht/"$'x\e[1m-1.0.dist-info'
check verify-escaped 1 'stale: .*x\\x1b\[1m-1\.0\.dist-info' '^$' -- "$EPINDEX" verify "$ht"
cp "$T/out" "$T/vout"
check verify-no-raw-escape 1 '^$' '^$' -- grep $'\e' "$T/vout"

# --python: the interpreter's sys.path
py=$(command -v python3)
check query-python 0 '^\[' '^$' -- "$EPINDEX" query --json --python "$py" console_scripts
# as an installed program sees it: not sys.path[0] ('' under -c), so not the
# current directory's distributions -- unless --path names it (first)
mkdir -p "$T/cwd/here-1.0.dist-info"
printf 'Name: here\nVersion: 1.0\n' >"$T/cwd/here-1.0.dist-info/METADATA"
printf '[g]\nh = here:h\n' >"$T/cwd/here-1.0.dist-info/entry_points.txt"
check query-python-no-cwd 0 '^$' '^$' -- sh -c 'cd "$1" && exec "$2" query --python "$3" g' _ "$T/cwd" "$EPINDEX" "$py"
check query-python-and-path 0 '^g	h = here:h	\(here 1\.0\)$' '^$' -- sh -c 'cd "$1" && exec "$2" query --path . --python "$3" g' _ "$T/cwd" "$EPINDEX" "$py"
check query-bad-python 3 '^$' 'cannot read sys.path' -- "$EPINDEX" query --python "$T/no-python" g
check query-not-python 3 '^$' '/bin/true is not a Python interpreter' -- "$EPINDEX" query --python /bin/true g
check update-not-python 3 '^$' 'is not a Python interpreter' -- "$EPINDEX" update --python /bin/true
# an interpreter whose importlib.metadata has other rules (3.9 does not
# de-duplicate distributions) is refused, not answered by 3.13's
printf '#!/bin/sh\nprintf "epindex-sys-path\\0003.9\\000%s\\000"\n' "$site" >"$T/python3.9"
chmod +x "$T/python3.9"
check query-other-rules 3 '^$' 'is Python 3\.9; epindex answers by the rules of importlib.metadata in Python 3\.11 to 3\.15' \
  -- "$EPINDEX" query --python "$T/python3.9" g
check update-other-rules 0 "^$site: " '^$' -- "$EPINDEX" update --python "$T/python3.9"
# --rules: 3.15 skips (with a warning) a distribution whose entry point value
# is no object reference, where its importlib.metadata raises; 3.13 returns it
vr=$T/valuerule
mkdir -p "$vr/a-1.dist-info" "$vr/b-1.dist-info"
printf 'Name: a\n' >"$vr/a-1.dist-info/METADATA"
printf '[g]\nfoo = invalid-name\n[h]\nok = a:m\n' >"$vr/a-1.dist-info/entry_points.txt"
printf 'Name: b\n' >"$vr/b-1.dist-info/METADATA"
printf '[g]\nbar = b:ok\n' >"$vr/b-1.dist-info/entry_points.txt"
check rules-3.13 0 'foo = invalid-name' '^$' -- "$EPINDEX" query --rules 3.13 --path "$vr" g
check rules-3.15 0 'bar = b:ok' "a-1.dist-info: skipped: entry_points.txt: line 2: value 'invalid-name' is not an object reference" \
  -- "$EPINDEX" query --rules 3.15 --path "$vr" g
check rules-3.15-other-group 0 '^$' 'a-1.dist-info: skipped' -- "$EPINDEX" query --rules 3.15 --path "$vr" h
"$EPINDEX" update "$vr" >/dev/null
check rules-3.15-indexed 0 'bar = b:ok' "a-1.dist-info: skipped" -- "$EPINDEX" query --rules 3.15 --path "$vr" g
check rules-bad 2 '^$' 'rules takes a Python version from 3.11 to 3.15' -- "$EPINDEX" query --rules 3.16 --path "$vr" g
check rules-not-update 2 '^$' 'rules does not apply to update' -- "$EPINDEX" update --rules 3.15 "$vr"

# the writer's own directory: refused (exit 3) when others control it
mkdir -p "$T/sec/s-1.0.dist-info" "$T/sec/.epindex"
chmod 0777 "$T/sec/.epindex"
check update-refuses-writable-index-dir 3 '^$' '^epindex: refusing .*/\.epindex: writable by group or others' \
  -- "$EPINDEX" update "$T/sec"
check update-wrote-nothing 0 '^$' '^$' -- find "$T/sec/.epindex" -mindepth 1
rmdir "$T/sec/.epindex" && ln -s "$T" "$T/sec/.epindex"
check update-refuses-symlinked-index-dir 3 '^$' 'a symlink or not a directory' -- "$EPINDEX" update "$T/sec"
rm "$T/sec/.epindex"
check update-lock-timeout-bad 2 '^$' 'lock-timeout takes whole seconds' -- "$EPINDEX" update --lock-timeout 0 "$T/sec"
check update-include-stdlib-alone 2 '^$' 'include-stdlib goes with --python' -- "$EPINDEX" update --include-stdlib "$T/sec"
check update-private-lock 0 '^-rw-------' '^$' -- sh -c "'$EPINDEX' update '$T/sec' >/dev/null && ls -l '$T/sec/.epindex/lock'"

echo "cli: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
