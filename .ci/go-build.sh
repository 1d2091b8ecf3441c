# Sourced by .ci/kube-tools.sh and .ci/tf-tools.sh: builds Go programs pinned by a wrapper module
# .ci/go/NAME (go.mod + go.sum, hashes pinned) from the Go module proxy into a cache outside the
# repository, and links them into tools/bin.
#
#   go_tool GROUP NAME MODULE PKG...
#
# builds PKG... into $CACHE/GROUP/NAME-VERSION-KEY/, where VERSION is the version .ci/go/NAME/go.mod
# requires of MODULE and KEY hashes go.mod, go.sum, the Go version and $RECIPE (the caller's;
# bump it when the build commands change). A warm run finds the folder and builds nothing. Each
# cold build prints a progress line before and its time after. The caller may define
#   go_ldflags_NAME VERSION      prints extra -ldflags (e.g. -X version stamps)
#   go_after_NAME OUT DIR MODULE  completes the build in OUT (renames, extra files)
# (NAME with '-' replaced by '_'). GO_TOOL_OUT is the build's folder afterwards.
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CACHE=${PODLAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podlab}
BIN="$ROOT/tools/bin"
RECIPE=${RECIPE:-1}
mkdir -p "$BIN"

step() { printf '==> %s\n' "$*"; }

command -v go >/dev/null 2>&1 || { printf 'go tools: Go is not installed: install Go >= 1.26 (https://go.dev/dl/), then re-run %s\n' "'make setup'" >&2; exit 1; }
GO_VERSION=$(go env GOVERSION)

# module_version DIR MODULE -> the version DIR/go.mod requires of MODULE
module_version() { awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }
  $1 == "require" && $2 == m { print $3; exit }' "$1/go.mod"; }

go_tool() {
  local group=$1 name=$2 module=$3; shift 3
  local dir="$ROOT/.ci/go/$name" hook=${name//-/_} version key out started ldflags=""
  version=$(module_version "$dir" "$module")
  [ -n "$version" ] || { printf 'go tools: %s/go.mod does not require %s\n' "$dir" "$module" >&2; exit 1; }
  key=$(cat "$dir/go.mod" "$dir/go.sum" <(echo "$GO_VERSION $RECIPE") | sha256sum | cut -c1-12)
  out="$CACHE/$group/$name-$version-$key"
  mkdir -p "$CACHE/$group"
  if [ -f "$out/.complete" ]; then
    step "$name $version is built ($out)"
  else
    if declare -F "go_ldflags_$hook" >/dev/null; then ldflags=$("go_ldflags_$hook" "$version"); fi
    step "building $name $version from the Go module proxy: $* (cold: minutes on 2 cores)"
    started=$(date +%s)
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" \
      -o "$out.tmp/" "$@") || { printf 'go tools: building %s %s failed (see above); the Go module proxy must be reachable\n' "$name" "$version" >&2; exit 1; }
    if declare -F "go_after_$hook" >/dev/null; then "go_after_$hook" "$out.tmp" "$dir" "$module"; fi
    touch "$out.tmp/.complete"
    rm -rf "$out" && mv "$out.tmp" "$out"
    local old
    for old in "$CACHE/$group/$name-"*; do  # earlier versions or recipes of this module
      if [ "$old" != "$out" ] && [ -d "$old" ]; then rm -rf "$old"; fi
    done
    step "built $name $version in $(( $(date +%s) - started ))s"
  fi
  local file
  for file in "$out"/*; do
    if [ -f "$file" ] && [ -x "$file" ]; then ln -sfn "$file" "$BIN/$(basename "$file")"; fi
  done
  GO_TOOL_OUT=$out
}
