#!/bin/sh
# render_svg.sh MODE QSWEEP_ANALYZE WRITE_SEED - check the charts of qsweep-analyze
# for the seed table and for a mixed file (batch sizes, failures, missing baseline,
# names that need escaping).
#   xml     every chart is well-formed XML (xmllint --noout) and self-contained
#   render  every chart renders in headless Chromium to a PNG that is not blank;
#           exit 77 (skipped) only where Chromium is not installed
# QA_PNG_DIR=DIR keeps the rendered PNGs in DIR.
set -eu
mode=$1
analyze=$2
writer=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/chromium.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsa-svg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

case $mode in
  xml)
    command -v xmllint >/dev/null 2>&1 || { echo "FAIL: xmllint not found (package libxml2-utils)"; exit 1; } ;;
  render)
    need_browser ;;
  *)
    echo "usage: render_svg.sh xml|render QSWEEP_ANALYZE WRITE_SEED"; exit 2 ;;
esac

for variant in seed mixed; do
  h5=$tmp/$variant.h5
  if [ "$variant" = seed ]; then "$writer" "$h5"; else "$writer" "$h5" mixed; fi
  "$analyze" "$h5" --svg "$tmp/$variant" --report "$tmp/$variant.md"
  for chart in speedup_heatmap memory_efficiency latency_vs_params; do
    svg=$tmp/$variant/$chart.svg
    test -s "$svg" || { echo "FAIL: $svg missing or empty"; exit 1; }
    if [ "$mode" = xml ]; then
      xmllint --noout "$svg" || { echo "FAIL: $variant/$chart.svg is not well-formed XML"; exit 1; }
      if grep -Eq '<script|<image|href=|@import|url\((http|file|data)' "$svg"; then
        echo "FAIL: $variant/$chart.svg refers outside itself"; exit 1
      fi
      echo "ok: $variant/$chart.svg is well-formed and self-contained"
    else
      png=$tmp/$variant-$chart.png
      screenshot "file://$svg" "$png" 1200,900 "$tmp/browser.log" "$tmp/profile" || true
      test -s "$png" || { cat "$tmp/browser.log"; echo "FAIL: no screenshot of $variant/$chart.svg"; exit 1; }
      python3 "$here/png_check.py" "$png"
      if [ -n "${QA_PNG_DIR:-}" ]; then mkdir -p "$QA_PNG_DIR"; cp "$png" "$QA_PNG_DIR/"; fi
    fi
  done
done
