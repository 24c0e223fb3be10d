#!/usr/bin/env bash
# Build the RPM from packaging/rpm/epindex.spec with rpmbuild (issue 4,
# part 2) and check what it carries: the files, and the two file triggers
# on the Python site directories. Also checks the pacman hook's structure.
# Usage: tests/packaging/rpm.sh
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

version=$(sed -n 's/.*EPINDEX_VERSION_STRING "\(.*\)"/\1/p' "$src/reader/epindex.h")
mkdir -p "$T"/{SOURCES,SPECS,BUILD,RPMS,SRPMS} "$T/epindex-$version"
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$T/epindex-$version")
tar -C "$T" -czf "$T/SOURCES/epindex-$version.tar.gz" "epindex-$version"
# --nodeps: this machine's packages are not in an RPM database
if rpmbuild -bb --nodeps --define "_topdir $T" "$src/packaging/rpm/epindex.spec" \
  >"$T/rpmbuild.log" 2>&1; then ok "rpmbuild -bb"
else tail -20 "$T/rpmbuild.log"; bad "rpmbuild -bb"; fi
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
fi
hook=$src/packaging/arch/epindex.hook
if grep -q '^\[Trigger\]' "$hook" && grep -q '^Type = Path' "$hook" &&
   grep -q '^When = PostTransaction' "$hook" && grep -q 'epindex update' "$hook"; then
  ok "pacman hook"
else bad "pacman hook"; fi
echo "rpm: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
