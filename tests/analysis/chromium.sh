# chromium.sh - sourced by the render tests (render_svg.sh, render_html.sh).
#   need_browser         sets $browser to the first Chromium found, or exits 77
#                        (skipped) where none is installed; needs python3 (PNG check)
#   screenshot URL PNG SIZE LOG PROFILE
#                        headless screenshot of URL at SIZE (W,H) into PNG; 0 if it came
# A private profile; no sandbox, which root (CI containers) cannot use. A browser that
# wrote its screenshot but was slow to exit still passes: the PNG is checked by the
# caller. One retry where no screenshot came (a cold start on a loaded machine).
need_browser() {
  browser=""
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
  done
  if [ -z "$browser" ]; then echo "SKIP: chromium is not installed"; exit 77; fi
  command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found (PNG check)"; exit 1; }
}

screenshot() {
  for try in 1 2; do
    rm -f "$2"
    rc=0
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
      --user-data-dir="$5" --screenshot="$2" --window-size="$3" "$1" >"$4" 2>&1 || rc=$?
    test -s "$2" && return 0
    echo "note: $browser exit $rc and no screenshot of $1 (try $try)"
  done
  return 1
}
