#!/usr/bin/env bash
# h5dump for a GPU machine that has HDF5's library but not its tools (the shell tests read
# results files with h5dump, independently of qsweep's own reader). Run here, in the
# repository root: it downloads Debian's hdf5-tools with the libraries it needs into the
# git-ignored .gpu-deps/h5 and writes .gpu-deps/h5/env.sh. On the GPU machine (carry
# .gpu-deps):  source .gpu-deps/h5/env.sh   -> h5dump on PATH, a wrapper that points only
# h5dump's loader at the carried libraries, so qsweep keeps the machine's own HDF5.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
d=.gpu-deps/h5
mkdir -p "$d"
grep -qxF "/.gpu-deps/" .git/info/exclude 2>/dev/null || echo "/.gpu-deps/" >>.git/info/exclude
(cd "$d" && rm -f ./*.deb && apt-get download -qq hdf5-tools libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0)
cat >"$d/env.sh" <<'INNER'
_h5=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_p=/opt/qsweep-h5tools
mkdir -p "$_p/bin"
for _f in "$_h5"/*.deb; do dpkg -x "$_f" "$_p"; done
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/usr/lib/x86_64-linux-gnu exec %s/usr/bin/h5dump "$@"\n' "$_p" "$_p" >"$_p/bin/h5dump"
chmod +x "$_p/bin/h5dump"
export PATH="$_p/bin:$PATH"
h5dump --version
INNER
ls -la "$d"
