#!/usr/bin/env bash
# Build qsweep and run its whole test suite (CI runs exactly this).
#   scripts/check.sh                 build in build-check/ and run every test
#   BUILD_DIR=... CTEST_ARGS="-L golden" scripts/check.sh
# GPU tests skip (CTest "Skipped") where there is no GPU and run where there is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-check}
jobs=$(nproc 2>/dev/null || echo 2)
"$root/scripts/install-deps.sh" ${QSWEEP_DEPS_ARGS:-}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQSWEEP_WERROR=ON ${CMAKE_ARGS:-}
cmake --build "$build" -j"$jobs"
# Open MPI refuses root unless told; tests oversubscribe small machines.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ctest --test-dir "$build" --output-on-failure -j"$jobs" ${CTEST_ARGS:-}
