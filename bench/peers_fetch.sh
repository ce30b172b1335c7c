#!/usr/bin/env bash
# Bring the quantization peers of bench/peer_pytorch.py --peers (bitsandbytes, torchao) for
# a GPU machine without network: run here (pip reaches PyPI), in the repository root; it
# unpacks the wheels into the git-ignored .peers/site, keeps only bitsandbytes' CUDA 13.0
# and CPU libraries and drops torchao's two extensions the int8 W8A8 / fp8 rowwise paths
# do not load, so the folder stays small (~11 MB). On the GPU machine (carry .peers):
#   export PYTHONPATH=$PWD/.peers/site:$PYTHONPATH
# The versions pair with torch 2.11 (torchao 0.17.0 is its release; 0.18.0 imports newer
# torch functions at start).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
grep -qxF "/.peers/" .git/info/exclude 2>/dev/null || echo "/.peers/" >> .git/info/exclude
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$tmp" bitsandbytes==0.50.2 torchao==0.17.0
rm -rf .peers/site && mkdir -p .peers/site
for w in "$tmp"/*.whl; do python3 -m zipfile -e "$w" .peers/site; done
find .peers/site/bitsandbytes -name 'libbitsandbytes_*.so' ! -name 'libbitsandbytes_cuda130.so' \
  ! -name 'libbitsandbytes_cpu.so' -delete
find .peers/site/torchao -maxdepth 1 \( -name '_C_cutlass_90a*.so' -o -name '_C_mxfp8*.so' \) -delete
rm -rf .peers/site/test
find .peers/site -name __pycache__ -type d -prune -exec rm -rf {} +
du -sh .peers
