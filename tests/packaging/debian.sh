#!/usr/bin/env bash
# Slow integration test of the Debian packages: debian/ is built with
# dpkg-buildpackage -us -uc -b (from a copy of the tracked files) into
# libepindex0, libepindex-dev, epindex and python3-epindex, which lintian
# must find free of errors; they are put in a local apt repository. A
# minimal Debian chroot (debootstrap, from the mirror this machine's apt
# uses) installs epindex and python3-epindex from it with apt; then real
# python3-* packages are installed and removed with apt. After each step the
# dpkg trigger must have left /usr/lib/python3/dist-packages with a fresh
# index whose answer equals importlib.metadata's inside the chroot, and
# `import epindex` there must answer from that index.
# Usage: tests/packaging/debian.sh [WORKDIR]   (needs root and the network)
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d)}
root=$work/chroot
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
cleanup() {
  for m in proc dev; do umount "$root/$m" 2>/dev/null; done
  [[ ${1:-} == keep ]] || rm -rf "$work"
}
trap cleanup EXIT

mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null)
[[ -n $mirror ]] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
[[ -n $mirror ]] || { echo "no Debian mirror configured for apt"; exit 1; }
if [[ ! -x $root/usr/bin/python3 ]]; then
  debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || { tail -5 "$work/debootstrap.log"; exit 1; }
fi
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

# the packages, as Debian builds them
pkgsrc=$work/src/epindex
rm -rf "$work/src" && mkdir -p "$pkgsrc"
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$pkgsrc")
if (cd "$pkgsrc" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  ok "dpkg-buildpackage -us -uc -b"
else tail -20 "$work/build.log"; bad "dpkg-buildpackage"; exit 1; fi
for p in libepindex0 libepindex-dev epindex python3-epindex; do
  ls "$work/src/${p}_"*.deb >/dev/null 2>&1 && ok "built $p" || bad "no $p package"
done
grep -q -- '-D_FORTIFY_SOURCE=2' "$work/build.log" && ok "dpkg-buildflags reach the build" ||
  bad "Debian's build flags are missing"
lintian --tag-display-limit 0 "$work/src/"*.deb >"$work/lintian.log" 2>&1
if grep -q '^E: ' "$work/lintian.log"; then grep '^E: ' "$work/lintian.log"; bad "lintian errors"
else ok "lintian: no errors"; fi
repo=$root/tmp/repo
mkdir -p "$repo" && cp "$work/src/"*.deb "$repo/" &&
  (cd "$repo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
echo "deb [trusted=yes] file:/tmp/repo ./" >"$root/etc/apt/sources.list.d/epindex-local.list"
cp "$src/tests/py/oracle.py" "$root/tmp/oracle.py"

site=/usr/lib/python3/dist-packages
check_step() {  # the index is fresh and answers as importlib.metadata does
  local step=$1 min=${2:-0}
  if in_root epindex verify "$site" >/dev/null; then ok "$step: index fresh"
  else bad "$step: $(in_root epindex verify "$site")"; fi
  in_root epindex query --json --path "$site" >"$work/ours.json" &&
    in_root python3 /tmp/oracle.py "$site" >"$work/theirs.json" || { bad "$step: query"; return; }
  if python3 - "$work/ours.json" "$work/theirs.json" "$min" <<'PY'
import json, sys
keys = ("group", "name", "value", "dist", "version")
ours = [{k: r[k] for k in keys} for r in json.load(open(sys.argv[1]))]
theirs = json.load(open(sys.argv[2]))
if theirs["sorted_by_group"]:
    ours.sort(key=lambda r: r["group"])
sys.exit(0 if ours == theirs["eps"] and len(ours) >= int(sys.argv[3]) else 1)
PY
  then ok "$step: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/ours.json") entry points, as importlib.metadata"
  else bad "$step: answer differs from importlib.metadata"; fi
}

# import epindex in the chroot answers from the trigger-maintained index
check_module() {
  local out
  out=$(in_root python3 -c '
import epindex, importlib.metadata as im, sys
site = "/usr/lib/python3/dist-packages"
src = [s for p, s, r in epindex.explain([site])[0]]
ours = [(e.group, e.name, e.value) for e in epindex.entry_points(group="console_scripts", path=[site])]
theirs = [(e.group, e.name, e.value) for e in im.entry_points(group="console_scripts")
          if e.dist._path.parent.as_posix() == site]
print(src[0], ours == theirs)') || { bad "$1: import epindex"; return; }
  [[ $out == "index True" ]] && ok "$1: import epindex answers from the index" ||
    bad "$1: import epindex: $out"
}

export DEBIAN_FRONTEND=noninteractive
in_root apt-get update -q >"$work/apt.log" 2>&1 || { tail -5 "$work/apt.log"; bad "apt-get update"; }
in_root apt-get install -y -q epindex python3-epindex >>"$work/apt.log" 2>&1 ||
  { tail -5 "$work/apt.log"; bad "apt-get install epindex python3-epindex"; exit 1; }
ok "apt installs epindex and python3-epindex from the local repository"
check_step "installed epindex"
check_module "installed epindex"
for pkg in python3-pygments python3-setuptools; do
  in_root apt-get install -y -q --no-install-recommends "$pkg" >>"$work/apt.log" 2>&1 ||
    { bad "apt-get install $pkg"; continue; }
  check_step "installed $pkg" 1
done
check_module "installed python3-pygments"
in_root apt-get remove -y -q python3-pygments >>"$work/apt.log" 2>&1 || bad "apt-get remove"
check_step "removed python3-pygments" 1
in_root apt-get remove -y -q epindex python3-epindex >>"$work/apt.log" 2>&1
if [[ -e $root$site/.epindex ]]; then bad "index left after removing epindex"; else ok "index removed with epindex"; fi
echo "debian: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
