#!/usr/bin/env bash
# A ViTModel checkpoint's output head is chosen as HF chooses it, from the weights
# present: the HF fixtures tiny/vit-pooler (pooler weights) and tiny/vit-nohead (none)
# with the add_pooling_layer key taken out of config.json still match HF's outputs
# (pooler_output, and the CLS token); with the key contradicting the weights the model
# is refused with one line naming both.
# usage: head_from_weights.sh BUILD_DIR FIXTURE_DIR
set -u
build=$1 fix=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # check WHAT CMD...
  local what=$1
  shift
  if "$@"; then pass=$((pass + 1)); echo "ok: $what"; else fail=$((fail + 1)); echo "FAIL: $what"; fi
}
# variant NAME SRC VALUE: a copy of fixture SRC with add_pooling_layer set to VALUE (or "none": no key)
variant() {
  cp -r "$fix/tiny/$2" "$tmp/$1"
  python3 - "$tmp/$1/config.json" "$3" <<'PY'
import json, sys
path, value = sys.argv[1], sys.argv[2]
cfg = json.load(open(path))
cfg.pop("add_pooling_layer", None)
if value != "none":
    cfg["add_pooling_layer"] = value == "true"
json.dump(cfg, open(path, "w"), indent=2)
PY
}
variant pooler-nokey vit-pooler none
variant nohead-nokey vit-nohead none
variant pooler-false vit-pooler false
variant nohead-true vit-nohead true
check "pooler weights, no add_pooling_layer key: HF's pooler_output" "$build/tests/test_golden" "$tmp/pooler-nokey"
check "no pooler weights, no key: HF's CLS token" "$build/tests/test_golden" "$tmp/nohead-nokey"
refused() { # refused DIR TEXT: qsweep forward exits non-zero with one line holding TEXT
  local out rc
  out=$("$build/qsweep" forward --model "$1" 2>&1 >/dev/null)
  rc=$?
  echo "  $(basename "$1"): exit $rc: $out"
  [ "$rc" -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -q -- "$2"
}
check "pooler weights but add_pooling_layer false: refused" refused "$tmp/pooler-false" "pooler.dense.weight is present"
check "no pooler weights but add_pooling_layer true: refused" refused "$tmp/nohead-true" "pooler.dense.weight is missing"
echo "head_from_weights: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
