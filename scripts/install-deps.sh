#!/usr/bin/env bash
# Install what qsweep needs to build and test, where it is missing (Debian/Ubuntu).
# Without root or apt-get it prints exactly what to install and exits 1.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --fuzz   also clang and its sanitizer runtime (check.sh's fuzz stage)
#   scripts/install-deps.sh --ci     --fuzz, and the tools CI's extra tests use (chromium, slurm)
#   QSWEEP_SKIP_DEPS=1               skip (dependencies provided another way, e.g. environment modules)
set -euo pipefail
# QSWEEP_SKIP_DEPS=1: the dependencies come from elsewhere (modules, a prefix); check nothing
if [ "${QSWEEP_SKIP_DEPS:-0}" = "1" ]; then echo "install-deps: skipped (QSWEEP_SKIP_DEPS=1)"; exit 0; fi
pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libcjson-dev libxml2-utils)
fuzz=0 ci=0
for arg in "$@"; do
  case "$arg" in
    --ci) ci=1; fuzz=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "install-deps: unknown argument '$arg' (use --fuzz and/or --ci)" >&2; exit 2 ;;
  esac
done
# libFuzzer is in clang's runtime package; libclang-rt-dev follows the distribution's
# default clang (14 on Debian 12, 18 on Ubuntu 24.04)
[ "$fuzz" = 1 ] && pkgs+=(clang libclang-rt-dev)
[ "$ci" = 1 ] && pkgs+=(chromium slurmctld slurmd slurm-client munge)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: missing: ${missing[*]}"
if ! command -v apt-get >/dev/null; then
  echo "install-deps: no apt-get here; install these (or your system's equivalents): ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: not root and no sudo; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
