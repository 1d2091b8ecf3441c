#!/usr/bin/env bash
# Resolves each image's requirements.in into a complete, hashed requirements.lock.
#
#   images/lock.sh [NAME...]
#       Re-resolve against PyPI as of now (`make image-locks`). A lock whose packages do not
#       change keeps its file, recorded date included, so re-running is a no-op.
#   images/lock.sh --verify [--out DIR] [NAME...]
#       Check each committed lock against its inputs without letting the index choose anything:
#       resolve again with every committed pin as a constraint (and the recorded date), write
#       the results to DIR (default: a temp dir) and exit 1 with a diff of the pins if the
#       resolution differs (a package added to or dropped from the .in, a dev-lock version
#       moved) or fails (pins that contradict each other or the inputs). tests/images runs
#       this: a lock is consistent with its input when this prints nothing.
#
# NAME is one of: build-tools hub singleuser singleuser-gpu mlflow (default: all).
#
# Why it works this way:
# - The locks are for the images, not for this machine: CPython 3.12 on linux x86_64
#   (manylinux_2_28), whatever Python or OS runs this script.
# - Every package the dev environment also has gets the version of requirements-dev.lock (a
#   constraint), so the images run what `make test` tested.
# - uv resolves with --exclude-newer <date>, the date is recorded in the header. That alone
#   does not make --verify repeatable: the index reachable here is a mirror that can receive
#   a file later than its upload date (cuda-pathfinder 1.9.1, uploaded 2026-11-19, appeared
#   after a lock made on 2026-11-22 and turned the check red). So --verify also constrains
#   every package to its committed pin: what the index publishes later cannot change it.
# - uv comes from a throwaway venv (as in .ci/lock.sh), pinned, because its output format is
#   part of the lock. Set UV=/path/to/uv to use another binary of the same version.
# - The CPU build of torch is not on PyPI: images/singleuser/torch-cpu.txt pins it with its
#   index; the lock holds its dependencies (from the PyPI release of the same version, with
#   the CUDA-only requirements overridden away) and names it in its header.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

UV_VERSION=0.13.9
PYTHON_VERSION=3.12
PLATFORM=x86_64-manylinux_2_28
INDEX=https://pypi.org/simple
CONSTRAINTS=requirements-dev.lock
PYTHON=${PYTHON:-python3}

# name | input | output | extra uv options | file of packages from other indexes
LOCKS=(
  "build-tools|images/build-tools.in|images/build-tools.lock||"
  "hub|images/hub/requirements.in|images/hub/requirements.lock||"
  "singleuser|images/singleuser/requirements.in|images/singleuser/requirements.lock|--override images/singleuser/torch-cpu-overrides.txt --no-emit-package torch|images/singleuser/torch-cpu.txt"
  "singleuser-gpu|images/singleuser-gpu/requirements.in|images/singleuser-gpu/requirements.lock||"
  "mlflow|mlflow-server/requirements.in|mlflow-server/requirements.lock||"
)
DATE_PREFIX="# Resolved from $INDEX as of "

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

verify=0
out=""
names=()
while [ $# -gt 0 ]; do
  case $1 in
    --verify) verify=1 ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "images/lock.sh: unknown option $1" >&2; usage 2 ;;
    *) names+=("$1") ;;
  esac
  shift
done

selected=()
for entry in "${LOCKS[@]}"; do
  name=${entry%%|*}
  if [ ${#names[@]} -eq 0 ] || [[ " ${names[*]} " == *" $name "* ]]; then selected+=("$entry"); fi
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "images/lock.sh: no lock named ${names[*]}; known: build-tools hub singleuser singleuser-gpu mlflow" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -n "$out" ]; then mkdir -p "$out"; else out=$tmp/out; mkdir -p "$out"; fi

if [ -z "${UV:-}" ]; then
  "$PYTHON" -m venv "$tmp/uv-venv"
  "$tmp/uv-venv/bin/python" -m pip install -q "uv==$UV_VERSION"
  UV=$tmp/uv-venv/bin/uv
fi
if ! "$UV" --version | grep -qx "uv $UV_VERSION.*"; then
  echo "images/lock.sh: $UV is $("$UV" --version), the locks are made with uv $UV_VERSION" >&2
  exit 2
fi

recorded_date() {  # recorded_date LOCKFILE
  sed -n "s|^${DATE_PREFIX}\([0-9TZ:-]*\).*|\1|p" "$1" | head -n 1
}

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)

pins_of() {  # pins_of LOCKFILE -> "name==version" lines, sorted
  grep -E '^[A-Za-z0-9][A-Za-z0-9._-]*==' "$1" | sed -E 's/[ \\].*$//' | sort
}

resolve() {  # resolve NAME INPUT EXTRA OTHER DATE RESULT [PINS]
  local name=$1 input=$2 extra=$3 other=$4 date=$5 result=$6 pinned=${7:-}
  local -a extra_args=()
  read -r -a extra_args <<<"$extra"
  if [ -n "$pinned" ]; then extra_args+=(-c "$pinned"); fi
  # --no-config: no uv.toml/pyproject settings and no UV_* environment of this machine leak in.
  # --python: any local interpreter will do (the target is --python-version); without it uv
  # spends seconds looking for, and trying to download, a CPython 3.12.
  env -u UV_INDEX_URL -u UV_EXTRA_INDEX_URL -u UV_INDEX -u UV_FIND_LINKS -u UV_CONSTRAINT \
    "$UV" pip compile --no-config --quiet "$input" -o "$tmp/$name.body" \
    --python "$PYTHON" --no-python-downloads \
    --python-version "$PYTHON_VERSION" --python-platform "$PLATFORM" \
    --default-index "$INDEX" --exclude-newer "$date" -c "$CONSTRAINTS" \
    --generate-hashes --no-header "${extra_args[@]}"
  {
    echo "# Generated by \`make image-locks\` (images/lock.sh) from $input. Do not edit."
    echo "# Target: CPython $PYTHON_VERSION on $PLATFORM; uv $UV_VERSION; packages that"
    echo "# $CONSTRAINTS also has get its versions (the images run what the tests ran)."
    echo "${DATE_PREFIX}$date (uv --exclude-newer)."
    echo "# Complete: pip install --require-hashes --no-deps --no-build-isolation -r <this file>"
    if [ -n "$other" ]; then
      echo "# From other indexes (not hashed here; installed with --no-deps from $other):"
      local index="" line
      while read -r line; do
        case $line in
          ''|'#'*) ;;
          --index-url*|--extra-index-url*) index=${line#* } ;;
          *) echo "#   $line  --index-url $index" ;;
        esac
      done <"$other"
    fi
    cat "$tmp/$name.body"
  } >"$result"
}

pids=()
for entry in "${selected[@]}"; do
  IFS='|' read -r name input output extra other <<<"$entry"
  if [ $verify -eq 1 ]; then
    if [ ! -f "$output" ]; then
      echo "images/lock.sh: $output does not exist: run \`make image-locks\`" >&2
      exit 1
    fi
    date=$(recorded_date "$output")
    if [ -z "$date" ]; then
      echo "images/lock.sh: $output has no '${DATE_PREFIX}<date>' line: run \`make image-locks\`" >&2
      exit 1
    fi
    pins_of "$output" >"$tmp/$name.pins"
    pinned=$tmp/$name.pins
  else
    date=$now
    pinned=""
  fi
  resolve "$name" "$input" "$extra" "$other" "$date" "$out/$name.lock" "$pinned" >"$tmp/$name.log" 2>&1 &
  pids+=("$!:$name")
done

failed=0
for item in "${pids[@]}"; do
  if ! wait "${item%%:*}"; then
    echo "images/lock.sh: resolving ${item#*:} failed:" >&2
    sed 's/^/    /' "$tmp/${item#*:}.log" >&2
    failed=1
  fi
done
[ $failed -eq 0 ] || exit 1

status=0
for entry in "${selected[@]}"; do
  IFS='|' read -r name input output extra other <<<"$entry"
  new=$out/$name.lock
  if [ $verify -eq 1 ]; then
    if ! diff -u --label "$output (committed pins)" --label "$output (resolved from $input)" \
        <(pins_of "$output") <(pins_of "$new"); then
      echo "images/lock.sh: $output does not match $input: run \`make image-locks\` and commit" >&2
      status=1
    fi
  elif [ -f "$output" ] && diff -q <(grep -v "^$DATE_PREFIX" "$output") <(grep -v "^$DATE_PREFIX" "$new") >/dev/null; then
    echo "    $output: unchanged"
  else
    cp "$new" "$output"
    echo "    wrote $output ($(grep -c '^[A-Za-z0-9].*==' "$output") pins)"
  fi
done
exit $status
