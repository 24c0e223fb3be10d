#!/usr/bin/env bash
# Install into a temporary prefix, then build and run a tiny consumer of the
# installed library both ways: pkg-config, and CMake's find_package (shared
# and static). Also checks the man page and bash completion are installed.
# Usage: run.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
prefix=$T/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

mkdir -p "$T/site/demo-1.0.dist-info"
printf 'Name: demo\nVersion: 1.0\n' >"$T/site/demo-1.0.dist-info/METADATA"
printf '[console_scripts]\ndemo = demo:main\n' >"$T/site/demo-1.0.dist-info/entry_points.txt"

cat >"$T/consumer.c" <<'C'
#include <epindex.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  const char *paths[] = {argv[1]};
  epindex *ix;
  epindex_result *r;
  if (argc != 2 || epindex_open(&ix, paths, 1, EPINDEX_POLICY_STAT, 0) ||
      epindex_lookup(ix, "console_scripts", NULL, &r))
    return 1;
  int good = epindex_result_count(r) == 1 &&
             strcmp(epindex_result_get(r, 0, EPINDEX_FIELD_VALUE, NULL), "demo:main") == 0 &&
             epindex_libversion_number() == EPINDEX_VERSION_NUMBER;
  printf("%s %s\n", epindex_libversion(), good ? "ok" : "wrong");
  epindex_result_free(r);
  epindex_close(ix);
  return good ? 0 : 1;
}
C

# pkg-config, shared library
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig
if cc "$T/consumer.c" -o "$T/c-pc" $(pkg-config --cflags --libs epindex) \
     -Wl,-rpath,"$(pkg-config --variable=libdir epindex)" && "$T/c-pc" "$T/site"; then ok
else bad "pkg-config consumer"; fi
# pkg-config, static library
if cc "$T/consumer.c" -o "$T/c-pc-static" $(pkg-config --cflags epindex) \
     "$(pkg-config --variable=libdir epindex)/libepindex.a" -lpthread -ldl &&
   "$T/c-pc-static" "$T/site"; then ok
else bad "pkg-config static consumer"; fi

# find_package, shared and static
mkdir -p "$T/proj"
cp "$T/consumer.c" "$T/proj/"
cat >"$T/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(epindex 0.1 REQUIRED)
add_executable(c-shared consumer.c)
target_link_libraries(c-shared PRIVATE epindex::epindex)
add_executable(c-static consumer.c)
target_link_libraries(c-static PRIVATE epindex::epindex_static)
CM
if cmake -S "$T/proj" -B "$T/proj/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
   cmake --build "$T/proj/b" >/dev/null &&
   "$T/proj/b/c-shared" "$T/site" && "$T/proj/b/c-static" "$T/site"; then ok
else bad "find_package consumer"; fi
# find_package refuses another major version
cat >"$T/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(epindex 1 REQUIRED)
CM
if cmake -S "$T/proj" -B "$T/proj/b2" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null 2>&1; then
  bad "find_package accepted version 1"; else ok; fi

# the installed command runs from its prefix with no help ($ORIGIN RPATH)
if env -u LD_LIBRARY_PATH "$prefix/bin/epindex" query --path "$T/site" console_scripts |
   grep -q 'demo = demo:main'; then ok; else bad "PREFIX/bin/epindex without LD_LIBRARY_PATH"; fi
# the README's C example, as it is in docs/examples, and as it is quoted
src=$(cd "$(dirname "$0")/../.." && pwd)
example=$src/docs/examples/console_scripts.c
if cc -Wall -Werror "$example" -o "$T/cs" $(pkg-config --cflags --libs epindex) \
     -Wl,-rpath,"$(pkg-config --variable=libdir epindex)" &&
   [[ $("$T/cs" "$T/site") == "demo = demo:main" ]]; then ok
else bad "docs/examples/console_scripts.c"; fi
if python3 -c 'import sys; sys.exit(open(sys.argv[1]).read() not in open(sys.argv[2]).read())' \
     "$example" "$src/README.md"; then ok; else bad "README does not quote docs/examples/console_scripts.c"; fi

# no RUNPATH element may be empty: the loader takes an empty one for the
# current directory, so `epindex update` run as root in /tmp would load a
# libc.so.6 planted there (CMake pads the RUNPATH of what it will rewrite at
# install with ':'). The build tree's command is checked too: it is what the
# quick start runs.
while IFS= read -r f; do
  rp=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]$/\1/p')
  if [[ -n $rp && ":$rp:" == *::* ]]; then
    bad "$f: RUNPATH '$rp' has an empty element (the current directory)"
  else ok; fi
done < <(printf '%s\n' "$build/epindex"; find "$prefix" -type f \( -name '*.so*' -o -path '*/bin/*' \))

for f in bin/epindex include/epindex.h share/man/man1/epindex.1 \
         share/bash-completion/completions/epindex; do
  if [[ -e $prefix/$f ]]; then ok; else bad "missing $f"; fi
done
if man -l "$prefix/share/man/man1/epindex.1" 2>/dev/null | grep -q "EXIT STATUS" ||
   grep -q '^.SH EXIT STATUS' "$prefix/share/man/man1/epindex.1"; then ok; else bad "man page"; fi
if bash -c "source '$prefix/share/bash-completion/completions/epindex'; COMP_WORDS=(epindex q); COMP_CWORD=1; _epindex; [[ \${COMPREPLY[*]} == query ]]"; then ok
else bad "bash completion"; fi
echo "install: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
