#!/usr/bin/env bash
# The CUDA changes parked in kernels/pending/ must keep applying to the tree they will be
# applied to: each patch is checked with `git apply --check` against the working tree
# (a patch already applied there, as on a GPU machine that runs it, passes too).
# Skips (77) outside a git checkout (a source tarball) or without git.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
command -v git >/dev/null || { echo "pending_patches: no git; skipping"; exit 77; }
git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "pending_patches: not a git checkout; skipping"; exit 77; }
pass=0 fail=0
shopt -s nullglob
for p in "$root"/kernels/pending/*.patch; do
  if out=$(git -C "$root" apply --check "$p" 2>&1); then
    pass=$((pass+1)); echo "ok: $(basename "$p") applies"
  elif git -C "$root" apply --check -R "$p" >/dev/null 2>&1; then
    pass=$((pass+1)); echo "ok: $(basename "$p") is applied in this tree (git am on a GPU machine)"
  else
    fail=$((fail+1)); echo "FAIL: $(basename "$p") no longer applies:"; printf '%s\n' "$out"
  fi
done
echo "pending_patches: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
