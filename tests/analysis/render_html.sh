#!/bin/sh
# render_html.sh MODE QSWEEP QSWEEP_ANALYZE - the HTML report of a real sweep: the tiny
# zoo (tests/fixtures/tiny-zoo.json) on the CPU backend, 3 models x 4 precisions x
# batch sizes 1 and 4, with one injected failure; and --compare of two such runs.
#   structure  every section, table and chart id is in the file, one speedup heatmap
#              per batch size, a latency and a throughput panel per model, the roofline
#              (the CPU's measured fp32 ceiling and bandwidth as roofs, a point per
#              successful cell), the failed cell with its message, nothing fetched from
#              outside; the memory
#              reductions come from weight bytes (the CPU backend has no peak counter)
#              and say so in the HTML, markdown, CSV and JSON
#   render     headless Chromium renders both pages: a screenshot that is not blank and
#              a DOM (--dump-dom) holding every id; exit 77 (skipped) only where
#              Chromium is not installed
# Environment: QSWEEP_MPIEXEC (launcher and options; default "mpiexec --oversubscribe"),
# QS_FIXTURE_DIR (tests/fixtures); QA_HTML_DIR=DIR keeps the pages and screenshots.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fix=${QS_FIXTURE_DIR:-$here/../fixtures}
mpiexec=${QSWEEP_MPIEXEC:-mpiexec --oversubscribe}
. "$here/chromium.sh"
mode=$1 qsweep=$2 analyze=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsa-html.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

case $mode in
  structure) ;;
  render) need_browser ;;
  *) echo "usage: render_html.sh structure|render QSWEEP QSWEEP_ANALYZE"; exit 2 ;;
esac

# the sweep: exit 3 means "finished, some cells failed" (the injected one)
# ("calibrate": true: the CPU's ceilings in /calibration, the roofline's roofs)
cat >"$tmp/s.json" <<JSON
{"models": ["tiny-vit", "tiny-deit", "tiny-dinov2"], "precisions": ["fp32", "fp16", "int8", "nf4"],
 "batch_sizes": [1, 4], "zoo": "$fix/tiny-zoo.json", "warmup": 1, "iterations": 5, "calibrate": true}
JSON
rc=0
$mpiexec -np 1 "$qsweep" run "$tmp/s.json" --backend cpu -o "$tmp/r.h5" --quiet \
  --inject-failure 'tiny-deit|int8|b4' >"$tmp/run.log" 2>&1 || rc=$?
[ "$rc" -eq 3 ] || { cat "$tmp/run.log"; fail "qsweep run: exit $rc, expected 3 (one injected failure)"; }
rc=0
$mpiexec -np 1 "$qsweep" run "$tmp/s.json" --backend cpu -o "$tmp/n.h5" --quiet >"$tmp/run2.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat "$tmp/run2.log"; fail "second qsweep run: exit $rc"; }
"$analyze" "$tmp/r.h5" --html "$tmp/report.html" --report "$tmp/report.md" --csv "$tmp/cells.csv" \
  --json "$tmp/summary.json" || fail "qsweep-analyze --html: exit $?"
"$analyze" --compare "$tmp/r.h5" "$tmp/n.h5" --html "$tmp/compare.html" || fail "--compare --html: exit $?"

# the ids every report of this sweep must have (2 batch sizes: b1, b4)
report_ids="run overview key-insights performance-summary category-summary category-leaders
  method-analysis batch-scaling results-b1 results-b4 latency-b1 speedup-b1 memory-b1 weights-b1
  latency-b4 speedup-b4 memory-b4 weights-b4 architecture summary-charts failed-cells notes
  table-run table-categories table-leaders table-methods table-latency-b1 table-speedup-b1
  table-memory-b1 table-weights-b1 table-percentiles-b1 table-latency-b4 table-speedup-b4
  table-memory-b4 table-weights-b4 table-percentiles-b4 table-architecture table-failed
  roofline calibration roofline-cells table-calibration table-roofline
  chart-latency-vs-batch chart-throughput-vs-batch chart-speedup-heatmap-b1
  chart-speedup-heatmap-b4 chart-memory-reduction chart-fidelity chart-latency-vs-params chart-roofline"
compare_ids="table-runs summary table-precisions cells table-cells not-compared"

has_ids() { # has_ids FILE IDS...: every id="X" in FILE
  f=$1
  shift
  for id in "$@"; do
    grep -q "id=\"$id\"" "$f" || fail "$(basename "$f"): no element with id=\"$id\""
  done
}
# the text of the element with id $2 up to its closing tag $3
element() { awk -v id="id=\"$2\"" -v end="$3" 'index($0, id) {on = 1} on {print} on && index($0, end) {exit}' "$1"; }

if [ "$mode" = structure ]; then
  html=$tmp/report.html
  # shellcheck disable=SC2086
  has_ids "$html" $report_ids
  # shellcheck disable=SC2086
  has_ids "$tmp/compare.html" $compare_ids
  n=$(grep -c 'data-chart="speedup-heatmap"' "$html")
  [ "$n" -eq 2 ] || fail "$n speedup heatmaps, expected one per batch size (2)"
  for chart in latency-vs-batch throughput-vs-batch; do
    panels=$(element "$html" "chart-$chart" "</figure>" | grep -c '<g class="panel" data-model=')
    [ "$panels" -eq 3 ] || fail "chart-$chart: $panels panels, expected one per model (3)"
  done
  failed=$(element "$html" table-failed "</table>")
  echo "$failed" | grep -q '<td>tiny-deit</td><td>int8</td><td class="num">4</td>' ||
    fail "table-failed does not list tiny-deit int8 batch 4"
  echo "$failed" | grep -q 'injected failure' || fail "table-failed lacks the failure's message"
  element "$tmp/compare.html" not-compared-list "</ul>" | grep -q 'tiny-deit int8, batch 4, tp 1: failed in base (injected failure)' ||
    fail "compare.html: the failed cell is not listed as not compared"
  for f in "$html" "$tmp/compare.html"; do
    dup=$(grep -o ' id="[^"]*"' "$f" | sort | uniq -d | head -3)
    [ -z "$dup" ] || fail "$(basename "$f"): ids used twice: $dup"
  done
  # self-contained: no scripts, stylesheets, images, frames or fetched URLs
  for f in "$html" "$tmp/compare.html"; do
    if grep -Eiq '<script|<link|<img|<iframe|<object|<embed|@import|url\((http|//)|src=' "$f"; then
      fail "$(basename "$f") refers outside itself"
    fi
    if sed 's#xmlns="http://www.w3.org/2000/svg"##g' "$f" | grep -iq 'http'; then
      fail "$(basename "$f") names an http resource"
    fi
    if grep -o 'href="[^"]*"' "$f" | grep -vq 'href="#'; then fail "$(basename "$f"): a link that is not an anchor"; fi
  done
  # the CPU backend has no peak counter: the memory reductions come from weight bytes
  element "$html" table-architecture "</table>" | grep -q '<td class="num">50.0% (from weight bytes)</td>' ||
    fail "architecture table: no fp16 memory reduction from weight bytes"
  grep -q 'Memory reduction vs fp32 (from weight bytes: no peak counter)' "$html" || fail "memory chart not labelled"
  grep -q -- '- \*\*FP16 average memory reduction\*\*: 50.0% (3 models, from weight bytes)' "$tmp/report.md" ||
    fail "report.md: FP16 average memory reduction not from weight bytes"
  grep -q ',memory_reduction_basis,speedup,memory_reduction_pct' "$tmp/cells.csv" || fail "cells.csv: no basis column"
  grep -q 'tiny-vit|fp16|b1|tp1,.*,weight_bytes,[0-9.]*,[0-9.]*,' "$tmp/cells.csv" || fail "cells.csv: tiny-vit fp16 not from weight bytes"
  # the roofline: the CPU's fp32 GEMM as the one roof, its copy bandwidth as the slope, one
  # point per successful cell (24 - 1 failed), fp32 cells with a share of their ceiling
  roof=$(element "$html" chart-roofline "</figure>")
  n=$(echo "$roof" | grep -c '<line class="roof" data-precision="fp32"')
  [ "$n" -eq 1 ] || fail "chart-roofline: $n fp32 roofs, expected 1"
  echo "$roof" | grep -q 'class="roof-bandwidth"' || fail "chart-roofline: no bandwidth roof"
  n=$(echo "$roof" | sed -n '/<g class="points">/,/<\/g>/p' | grep -c '<title>')
  [ "$n" -eq 23 ] || fail "chart-roofline: $n points, expected 23"
  echo "$roof" | grep -q 'tiny-vit fp32 b4: .* TFLOP/s at .* FLOP/B, .*% of the fp32 ceiling' || fail "chart-roofline: no share of the ceiling"
  n=$(element "$html" table-calibration "</table>" | grep -c '<td>copy_host</td>\|<td>gemm_fp32</td>')
  [ "$n" -eq 2 ] || fail "table-calibration: $n of copy_host and gemm_fp32"
  element "$html" table-roofline "</table>" | grep -q '<td>tiny-vit</td><td>fp32</td><td class="num">4</td><td class="num">[0-9.]*</td><td class="num">[0-9.]*</td><td class="num">[0-9.]*%</td>' ||
    fail "table-roofline: tiny-vit fp32 b4 without achieved rate, ceiling and share"
  head -1 "$tmp/cells.csv" | grep -q ',act_mb,n_samples,.*,achieved_tflops,bytes_moved_mb,arith_intensity,ceiling_tflops,ceiling_pct,roof_tflops' ||
    fail "cells.csv: no roofline columns"
  grep -q '"ceiling_pct":' "$tmp/summary.json" && grep -q '"calibration":' "$tmp/summary.json" || fail "summary.json: no roofline"
  grep -q '"memory_reduction_basis":[[:space:]]*"weight_bytes"' "$tmp/summary.json" || fail "summary.json: no weight_bytes basis"
  echo "ok: report.html and compare.html have every section, table and chart, and nothing from outside"
else
  for page in report compare; do
    png=$tmp/$page.png
    dom=$tmp/$page.dom
    screenshot "file://$tmp/$page.html" "$png" 1280,2400 "$tmp/browser.log" "$tmp/profile" || true
    test -s "$png" || { cat "$tmp/browser.log"; fail "no screenshot of $page.html"; }
    python3 "$here/png_check.py" "$png"
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
      --dump-dom "file://$tmp/$page.html" >"$dom" 2>"$tmp/browser.log" || true
    test -s "$dom" || { cat "$tmp/browser.log"; fail "no DOM dump of $page.html"; }
    if [ "$page" = report ]; then ids=$report_ids; else ids=$compare_ids; fi
    # shellcheck disable=SC2086
    has_ids "$dom" $ids
    if [ "$page" = report ]; then
      n=$(grep -o '<svg' "$dom" | wc -l)
      [ "$n" -eq 8 ] || fail "the browser's DOM has $n inline charts, expected 8"
    fi
    echo "ok: $page.html renders (not blank) and its DOM has every id"
    if [ -n "${QA_HTML_DIR:-}" ]; then mkdir -p "$QA_HTML_DIR"; cp "$tmp/$page.html" "$png" "$QA_HTML_DIR/"; fi
  done
fi
