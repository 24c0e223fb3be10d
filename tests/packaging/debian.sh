#!/usr/bin/env bash
# Slow integration test of the Debian package (issue 4, part 1): a minimal
# Debian chroot (debootstrap, from the mirror this machine's apt uses) gets
# python3 and the epindex .deb; then real python3-* packages are installed
# and removed with apt. After each step the dpkg trigger must have left
# /usr/lib/python3/dist-packages with a fresh index whose answer equals
# importlib.metadata's inside the chroot.
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

bash "$src/packaging/debian/build-deb.sh" "$root/tmp/epindex.deb" >/dev/null
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

export DEBIAN_FRONTEND=noninteractive
in_root apt-get install -y -q /tmp/epindex.deb >"$work/apt.log" 2>&1 ||
  { tail -5 "$work/apt.log"; bad "dpkg -i epindex"; exit 1; }
check_step "installed epindex"
in_root apt-get update -q >>"$work/apt.log" 2>&1
for pkg in python3-pygments python3-setuptools; do
  in_root apt-get install -y -q --no-install-recommends "$pkg" >>"$work/apt.log" 2>&1 ||
    { bad "apt-get install $pkg"; continue; }
  check_step "installed $pkg" 1
done
in_root apt-get remove -y -q python3-pygments >>"$work/apt.log" 2>&1 || bad "apt-get remove"
check_step "removed python3-pygments" 1
in_root apt-get remove -y -q epindex >>"$work/apt.log" 2>&1
if [[ -e $root$site/.epindex ]]; then bad "index left after removing epindex"; else ok "index removed with epindex"; fi
echo "debian: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
