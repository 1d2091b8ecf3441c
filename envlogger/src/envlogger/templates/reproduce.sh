# The part of every reproduce script that does not depend on the run (envlogger/reproduce.py
# puts the run's assignments above it and its command below). Expects: COMMIT
# PYTHON_DEFAULT DEFAULT_TARGET RECORDED_ROOT RECORDED_REMOTE SUBMODULES DIFF_BASE64
# NOT_EMBEDDED REQUIREMENTS REDACTED RUN_DIR.
set -euo pipefail
TARGET="${1:-$DEFAULT_TARGET}"
if [ -e "$TARGET" ]; then
  echo "envlogger: $TARGET already exists; pass a new directory" >&2; exit 1
fi
REPO="${ENVLOGGER_REPO:-}"
if [ -z "$REPO" ]; then
  if [ -n "$RECORDED_ROOT" ] && [ -d "$RECORDED_ROOT/.git" ]; then REPO="$RECORDED_ROOT"
  elif [ -n "$RECORDED_REMOTE" ]; then REPO="$RECORDED_REMOTE"
  else echo "envlogger: set ENVLOGGER_REPO to a clone of the repository" >&2; exit 1; fi
fi
PYTHON="${ENVLOGGER_PYTHON:-$PYTHON_DEFAULT}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"
echo "envlogger: cloning $REPO at $COMMIT into $TARGET/src" >&2
git clone --quiet --no-checkout "$REPO" "$TARGET/src"
git -C "$TARGET/src" checkout --quiet --detach "$COMMIT"
if [ "$SUBMODULES" = "1" ]; then
  git -C "$TARGET/src" submodule --quiet update --init --recursive
fi
printf '%s\n' "$DIFF_BASE64" | base64 -d > "$TARGET/envlogger.diff"
if [ -s "$TARGET/envlogger.diff" ]; then
  git -C "$TARGET/src" apply --whitespace=nowarn "$TARGET/envlogger.diff"
fi
for message in ${NOT_EMBEDDED[@]+"${NOT_EMBEDDED[@]}"}; do
  echo "envlogger: not embedded, restore by hand: $message" >&2
done
printf '%s' "$REQUIREMENTS" > "$TARGET/requirements.txt"
# shellcheck disable=SC2086  # the arguments are words to split, as on a command line
"$PYTHON" -m venv ${ENVLOGGER_VENV_ARGS:-} "$TARGET/venv"
export ENVLOGGER_SRC="$TARGET/src"
# shellcheck disable=SC2086
"$TARGET/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  ${ENVLOGGER_PIP_ARGS:-} -r "$TARGET/requirements.txt"
if [ "${ENVLOGGER_NO_RUN:-0}" = "1" ]; then
  echo "envlogger: ready in $TARGET (ENVLOGGER_NO_RUN=1, not rerunning)" >&2; exit 0
fi
if [ "$REDACTED" = "1" ]; then
  echo "envlogger: some arguments were redacted as *** when recorded; edit the last line of this script to supply them" >&2
fi
cd "$TARGET/src/$RUN_DIR"
