#!/usr/bin/env bash
# Build the RPM from packaging/rpm/epindex.spec with rpmbuild (issue 4,
# part 2) and check what it carries: the files, and the two file triggers
# on the Python site directories, whose install scriptlet is then run on the
# unpacked payload. Also checks the pacman hook and runs its command.
# Usage: tests/packaging/rpm.sh
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

root=$T/root # the RPM's payload, unpacked

# A distribution NAME with one entry point in group demo.plugins, in SITE.
add_dist() {
  mkdir -p "$1/$2-1.0.dist-info"
  printf 'Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n' "$2" \
    >"$1/$2-1.0.dist-info/METADATA"
  printf '[demo.plugins]\n%s = %s:hook\n' "$2" "$2" \
    >"$1/$2-1.0.dist-info/entry_points.txt"
}

# Run shell code written for / (a scriptlet, a hook's Exec line) against
# $root instead, with the packaged binary and library.
run_under_root() {
  local code=$1 libdir
  code=${code//\/usr\/bin\/epindex/$root/usr/bin/epindex}
  code=${code//\/usr\/lib/$root/usr/lib}
  libdir=$(dirname "$(find "$root" -name 'libepindex.so.0' | head -1)")
  LD_LIBRARY_PATH=$libdir sh -c "$code"
}

# The packaged epindex, on $root.
packaged_epindex() {
  LD_LIBRARY_PATH=$(dirname "$(find "$root" -name 'libepindex.so.0' | head -1)") \
    "$root/usr/bin/epindex" "$@"
}

# Unpack the payload and run its transfiletriggerin scriptlet there, as rpm
# would after a transaction that added a distribution: the packaged binary
# must leave a fresh index that answers the new plugin.
run_trigger_scriptlet() {
  local rpm=$1 triggers=$2 site
  mkdir -p "$root" && (cd "$root" && rpm2cpio "$rpm" | cpio -idm --quiet) ||
    { bad "unpack payload"; return; }
  site=$(sed -n 's/^transfiletriggerin .* -- \([^,]*\).*/\1/p' <<<"$triggers")
  [[ -n $site ]] || { bad "trigger path"; return; }
  add_dist "$root$site" rpm_demo
  run_under_root "$(awk '/^transfiletriggerin /{f=1; next} /^transfiletrigger/{f=0} f' \
    <<<"$triggers")" && ok "scriptlet runs" || bad "scriptlet fails"
  packaged_epindex verify "$root$site" >/dev/null 2>&1 &&
    ok "trigger leaves a fresh index" || bad "no fresh index after the trigger"
  packaged_epindex query --explain --path "$root$site" demo.plugins >"$T/out" 2>"$T/explain"
  grep -q "rpm_demo" "$T/out" && grep -q ": index (" "$T/explain" &&
    ok "packaged epindex answers from that index" || bad "query after trigger: $(cat "$T/explain")"
}

version=$(sed -n 's/.*EPINDEX_VERSION_STRING "\(.*\)"/\1/p' "$src/include/epindex.h")
mkdir -p "$T"/{SOURCES,SPECS,BUILD,RPMS,SRPMS} "$T/epindex-$version"
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$T/epindex-$version")
tar -C "$T" -czf "$T/SOURCES/epindex-$version.tar.gz" "epindex-$version"
# --nodeps: this machine's packages are not in an RPM database
# the distribution's flags, with markers, must reach every compile and link
if rpmbuild -bb --nodeps --define "_topdir $T" \
  --define "optflags -O2 -g -DEPINDEX_RPM_CFLAGS" \
  --define "build_cflags -O2 -g -DEPINDEX_RPM_CFLAGS" \
  --define "build_ldflags -Wl,-z,relro -Wl,--defsym=epindex_rpm_ldflags=0" \
  "$src/packaging/rpm/epindex.spec" >"$T/rpmbuild.log" 2>&1; then ok "rpmbuild -bb"
else tail -20 "$T/rpmbuild.log"; bad "rpmbuild -bb"; fi
compiles=$(grep -c -- ' -c .*\.c$' "$T/rpmbuild.log" || true)
flagged=$(grep -- ' -c .*\.c$' "$T/rpmbuild.log" | grep -c -- '-DEPINDEX_RPM_CFLAGS' || true)
[[ $compiles -gt 10 && $flagged -eq $compiles ]] &&
  ok "CFLAGS reach all $compiles compiles" || bad "CFLAGS reach $flagged of $compiles compiles"
links=$(grep -E -c -- ' -o (libepindex\.so|epindex|_epindex)' "$T/rpmbuild.log" || true)
linked=$(grep -E -- ' -o (libepindex\.so|epindex|_epindex)' "$T/rpmbuild.log" |
  grep -c -- 'epindex_rpm_ldflags' || true)
[[ $links -ge 3 && $linked -eq $links ]] &&
  ok "LDFLAGS reach all $links links" || bad "LDFLAGS reach $linked of $links links"
pyrpm=$(find "$T/RPMS" -name "python3-epindex-$version-*.rpm" | head -1)
if [[ -n $pyrpm ]]; then
  pyfiles=$(rpm -qlp "$pyrpm" 2>/dev/null)
  for f in epindex/__init__.py epindex/_epindex epindex-accelerate.pth _epindex_boot.py; do
    grep -q -- "$f" <<<"$pyfiles" && ok "python3-epindex carries $f" || bad "python3-epindex lacks $f"
  done
  mkdir -p "$T/pyroot" && (cd "$T/pyroot" && rpm2cpio "$pyrpm" | cpio -idm --quiet)
  pysite=$(dirname "$(find "$T/pyroot" -name __init__.py -path '*epindex*' | head -1)")
  add_dist "$T/pysite" py_demo
  if PYTHONPATH=$(dirname "$pysite") /usr/bin/python3 -c \
    "import epindex, sys; sys.exit([e.value for e in epindex.entry_points(group='demo.plugins', path=[sys.argv[1]])] != ['py_demo:hook'])" \
    "$T/pysite"; then ok "python3-epindex answers"; else bad "python3-epindex does not answer"; fi
else
  bad "no python3-epindex package"
fi
rpm=$(find "$T/RPMS" -name "epindex-$version-*.rpm" | head -1)
if [[ -n $rpm ]]; then
  files=$(rpm -qlp "$rpm" 2>/dev/null)
  for f in /usr/bin/epindex /usr/include/epindex.h libepindex.so.0 epindex.pc \
           /usr/share/man/man1/epindex.1 completions/epindex; do
    grep -q -- "$f" <<<"$files" && ok "carries $f" || bad "missing $f"
  done
  triggers=$(rpm -qp --filetriggers "$rpm" 2>/dev/null)
  grep -q "transfiletriggerin" <<<"$triggers" && ok "transfiletriggerin" || bad "no transfiletriggerin"
  grep -q "transfiletriggerpostun" <<<"$triggers" && ok "transfiletriggerpostun" || bad "no transfiletriggerpostun"
  grep -q "site-packages" <<<"$triggers" && ok "triggers watch site-packages" || bad "trigger paths"
  grep -q "epindex update" <<<"$triggers" && ok "triggers run epindex update" || bad "trigger action"
  run_trigger_scriptlet "$rpm" "$triggers"
fi
hook=$src/packaging/arch/epindex.hook
if grep -q '^\[Trigger\]' "$hook" && grep -q '^Type = Path' "$hook" &&
   grep -q '^When = PostTransaction' "$hook" && grep -q 'epindex update' "$hook"; then
  ok "pacman hook"
else bad "pacman hook"; fi
# Run the hook's Exec line as pacman would, under the unpacked root, on an
# Arch-style versioned site directory.
if [[ -x $root/usr/bin/epindex ]]; then
  arch_site=$root/usr/lib/python3.12/site-packages
  add_dist "$arch_site" arch_demo
  run_under_root "$(sed -n 's/^Exec = //p' "$hook")"
  packaged_epindex verify "$arch_site" >/dev/null 2>&1 &&
    ok "pacman hook's command leaves a fresh index" || bad "pacman hook's command: no fresh index"
fi
echo "rpm: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
