#!/usr/bin/env bash
# `cmake --install` gives a working, relocatable tree: the installed qsweep finds the
# installed zoo from its own path (also after the tree is moved), lists the 16 models,
# plans the installed example sweep, and qsweep-analyze runs.
# usage: install_tree.sh BUILD_DIR   (environment: QSWEEP_MPIEXEC)
set -u
build=$1
mpiexec_cmd=${QSWEEP_MPIEXEC:-mpiexec --oversubscribe}
T=$(mktemp -d "${TMPDIR:-/tmp}/qsweep-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset QSWEEP_ZOO
pass=0 fail=0
check() { local d=$1; shift; if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $d"; fi; }

cmake --install "$build" --prefix "$T/a" >"$T/install.log" 2>&1
check "cmake --install exits 0: $(tail -3 "$T/install.log")" test $? -eq 0
mv "$T/a" "$T/moved"
p=$T/moved
for f in bin/qsweep bin/qsweep-analyze share/qsweep/sweep/models.json share/qsweep/sweep/seed64.json \
         share/qsweep/slurm/sweep.sh share/doc/qsweep/README.md; do
  check "installed: $f" test -e "$p/$f"
done
check "the Slurm script is executable" test -x "$p/share/qsweep/slurm/sweep.sh"
zoo=$("$p/bin/qsweep" export-weights --help | sed -n 's/.*zoo file (default: \(.*\))$/\1/p')
check "the moved qsweep's default zoo is its own ($zoo)" test "$zoo" = "$p/share/qsweep/sweep/models.json"
n=$("$p/bin/qsweep" models | grep -c -E '^  [a-z0-9-]+ +(vit|deit|dinov2|beit|mobilevit) ')
check "qsweep models lists 16 models (got $n)" test "$n" -eq 16
out=$(cd "$T" && $mpiexec_cmd -np 1 "$p/bin/qsweep" run "$p/share/qsweep/sweep/cpu-demo.json" --backend cpu --dry-run 2>&1)
check "dry run of the installed cpu-demo spec: $(printf '%s' "$out" | grep -m1 cells)" grep -q '8 cells, 8 to run' <<<"$out"
QSWEEP_ZOO=/nonexistent/zoo.json "$p/bin/qsweep" models >/dev/null 2>"$T/z.err"
check "QSWEEP_ZOO still wins: $(cat "$T/z.err")" grep -q '/nonexistent/zoo.json' "$T/z.err"
check "qsweep-analyze --version" "$p/bin/qsweep-analyze" --version
echo "install_tree: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
