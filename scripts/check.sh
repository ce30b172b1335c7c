#!/usr/bin/env bash
# Build qsweep and run its whole test suite (CI runs exactly this).
#
#   scripts/check.sh            all three stages below
#   scripts/check.sh --quick    stage 1 only
#
#   1. the normal build (warnings are errors; the CUDA backend too where nvcc exists)
#      and every CTest test; gpu tests skip where there is no GPU
#   2. the sanitizer configuration: the CPU parts built with ASan + UBSan, and the
#      unit, golden, bad-input and mpi tests run under them
#   3. the fuzz targets (clang libFuzzer + ASan + UBSan), each for QSWEEP_FUZZ_SECONDS
#      (default 60) from its committed seed corpus
#
# Environment: BUILD_DIR (default build-check), CTEST_ARGS (extra ctest arguments for
# stage 1, e.g. "-L golden"), CMAKE_ARGS, QSWEEP_DEPS_ARGS (install-deps.sh arguments;
# default --ci, or none with --quick). The last lines name the tests that skipped (gpu ones apart).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-check}
jobs=$(nproc 2>/dev/null || echo 2)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

# The full check installs what every test needs, as CI does (--ci: clang for the fuzz
# stage, Chromium for the report render tests, Slurm for the cluster test); --quick only
# the build. Where that cannot be installed the stages still run, and the last lines
# name every test that skipped (other than the gpu ones) with its own reason.
if [ -n "${QSWEEP_DEPS_ARGS+set}" ]; then deps_args=$QSWEEP_DEPS_ARGS
elif [ "$quick" = 1 ]; then deps_args=""
else deps_args=--ci; fi
if ! "$root/scripts/install-deps.sh" $deps_args; then
  [ -n "$deps_args" ] || exit 1
  echo "check: could not install everything for install-deps.sh $deps_args; trying with less" >&2
  "$root/scripts/install-deps.sh" --fuzz || "$root/scripts/install-deps.sh"
fi
# The tests that skipped in a ctest run (its console output in $2), gpu ones apart, each
# with the last line it printed (from the build's LastTest.log).
report_skips() {
  local b=$1 out=$2 log gpu
  [ -f "$out" ] || return 0
  log=$(mktemp)
  cp "$b/Testing/Temporary/LastTest.log" "$log" 2>/dev/null || : # ctest -N below writes a new one
  gpu=$(ctest --test-dir "$b" -N -L gpu 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: //p')
  sed -n 's/^.*Test *#[0-9]*: \([^ ]*\) .*\*\*\*Skipped.*$/\1/p' "$out" | while read -r name; do
    printf '%s\n' "$gpu" | grep -qxF -- "$name" && continue
    why=$(awk -v t="$name" '$0 ~ (" Testing: " t "$") { on = 1; last = ""; next }
      on && /^<end of output>/ { print last; exit }
      on && NF && !/^-+$/ && !/^Output:/ && !/^Command:/ && !/^Directory:/ && !/start time:/ && !/ Test: / { last = $0 }' "$log")
    echo "check: skipped: $name: ${why:-(no output)}"
  done
  rm -f "$log"
}
# Open MPI refuses root unless told; tests oversubscribe small machines.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

echo "== check 1/3: build and test ($build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQSWEEP_WERROR=ON ${CMAKE_ARGS:-}
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs" ${CTEST_ARGS:-} | tee "$build/check-ctest.log"
skips=$(report_skips "$build" "$build/check-ctest.log")
if [ "$quick" -eq 1 ]; then
  [ -z "$skips" ] && echo "check: no test skipped but the gpu ones" || printf '%s\n' "$skips"
  exit 0
fi

echo "== check 2/3: ASan + UBSan ($build-asan)"
cmake -S "$root" -B "$build-asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQSWEEP_CUDA=OFF -DQSWEEP_SANITIZE=ON -DQSWEEP_WERROR=ON
cmake --build "$build-asan" -j"$jobs"
# Open MPI's own allocations are not ours to chase: leaks are checked in the
# non-MPI tests only (LeakSanitizer is off for the mpi label below).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir "$build-asan" --output-on-failure -j"$jobs" -L "unit|golden|bad-input" -LE "mpi|slurm|gpu"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir "$build-asan" --output-on-failure -j"$jobs" -L mpi -LE "slurm|gpu"

echo "== check 3/3: fuzzing ($build-fuzz)"
# libFuzzer: libclang_rt.fuzzer-<arch>.a, or libclang_rt.fuzzer.a in a per-target runtime dir
have_libfuzzer() {
  local f
  for f in "libclang_rt.fuzzer-$(uname -m).a" libclang_rt.fuzzer.a; do
    [ -f "$(clang -print-file-name="$f" 2>/dev/null)" ] && return 0
  done
  return 1
}
if ! command -v clang >/dev/null; then
  echo "check: clang is missing: install it (scripts/install-deps.sh --fuzz) to run the fuzz targets" >&2
  exit 1
fi
if ! have_libfuzzer; then
  echo "check: clang has no libFuzzer runtime: install its runtime package (scripts/install-deps.sh --fuzz: libclang-rt-dev)" >&2
  exit 1
fi
CC=clang cmake -S "$root" -B "$build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQSWEEP_CUDA=OFF -DQSWEEP_FUZZ=ON \
  -DQSWEEP_FUZZ_SECONDS="${QSWEEP_FUZZ_SECONDS:-60}"
cmake --build "$build-fuzz" -j"$jobs" --target $(cd "$root/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
ctest --test-dir "$build-fuzz" --output-on-failure -L fuzz
[ -z "$skips" ] && echo "check: no test skipped but the gpu ones" || printf '%s\n' "$skips"
