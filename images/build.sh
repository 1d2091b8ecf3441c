#!/usr/bin/env bash
# Builds podlab's images (`make images`) where a container engine with BuildKit exists.
#
#   images/build.sh [--push] [--registry REGISTRY] [--tag TAG] [--platform PLATFORM]
#                   [--dry-run] [NAME...]
#
# NAME: hub singleuser singleuser-gpu mlflow (default: all four). Build context: the
# repository root; Dockerfiles: images/NAME/Dockerfile, mlflow-server/Dockerfile.
#
# Tags (docs/admin-guide.md, "Images"): every image gets two,
#   [REGISTRY/]podlab/NAME:VERSION            the release tag the chart's defaults name
#   [REGISTRY/]podlab/NAME:VERSION-gSHA       immutable: one per commit (-dirty: uncommitted)
# VERSION defaults to the podlab package version (hub/pyproject.toml); --tag overrides it.
# REGISTRY (or $PODLAB_REGISTRY), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com.
#
# Records, in .podlab/images/ (not committed): NAME.metadata.json (buildx --metadata-file,
# with the image digest) and digests.txt, the digest of every image built and of every base
# image it was built FROM, resolved at build time. Deploy by digest for exact reproducibility.
#
# --push pushes (with SBOM and provenance attestations) instead of loading into the local
# engine. --dry-run prints the commands and needs no engine. Exit status 3: no engine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ALL=(hub singleuser singleuser-gpu mlflow)
dockerfile_of() {
  case $1 in
    hub|singleuser|singleuser-gpu) echo "images/$1/Dockerfile" ;;
    mlflow) echo "mlflow-server/Dockerfile" ;;
    *) return 1 ;;
  esac
}

push=0
dry_run=0
registry=${PODLAB_REGISTRY:-}
tag=""
platform=linux/amd64
names=()
while [ $# -gt 0 ]; do
  case $1 in
    --push) push=1 ;;
    --dry-run) dry_run=1 ;;
    --registry) registry=${2:?--registry needs a value}; shift ;;
    --tag) tag=${2:?--tag needs a value}; shift ;;
    --platform) platform=${2:?--platform needs a value}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "images/build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      if ! dockerfile_of "$1" >/dev/null; then
        echo "images/build.sh: unknown image $1; known: ${ALL[*]}" >&2
        exit 2
      fi
      names+=("$1") ;;
  esac
  shift
done
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")

if [ -z "$tag" ]; then
  tag=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' hub/pyproject.toml | head -n 1)
  [ -n "$tag" ] || { echo "images/build.sh: no version in hub/pyproject.toml; pass --tag" >&2; exit 2; }
fi
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
short=${revision:0:12}
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  short="$short-dirty"
fi
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
prefix=${registry:+${registry%/}/}podlab
out=.podlab/images

run() {
  if [ $dry_run -eq 1 ]; then printf '%q ' "$@"; echo; else "$@"; fi
}

if [ $dry_run -eq 0 ]; then
  if ! docker buildx version >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    cat >&2 <<'MSG'
images/build.sh: no container engine: `docker info` / `docker buildx version` failed.
Build on a machine with Docker (or another engine with BuildKit and buildx), or use
`images/build.sh --dry-run` to see the commands. Everything checkable without an engine is
checked by `make test-images` (hadolint, checkov, locks, startup script, activity extension).
MSG
    exit 3
  fi
  mkdir -p "$out"
  : >"$out/digests.txt.new"
fi

for name in "${names[@]}"; do
  dockerfile=$(dockerfile_of "$name")
  image=$prefix/$name
  args=(docker buildx build --file "$dockerfile" --platform "$platform"
    --tag "$image:$tag" --tag "$image:$tag-g$short"
    --label "org.opencontainers.image.version=$tag"
    --label "org.opencontainers.image.revision=$revision"
    --label "org.opencontainers.image.created=$created"
    --metadata-file "$out/$name.metadata.json")
  if [ $push -eq 1 ]; then
    args+=(--provenance=mode=max --sbom=true --push)
  else
    args+=(--load)
  fi
  echo "==> $image:$tag ($dockerfile)" >&2
  run "${args[@]}" .
  if [ $dry_run -eq 0 ]; then
    digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("containerimage.digest", "?"))' "$out/$name.metadata.json")
    echo "$image:$tag $digest" >>"$out/digests.txt.new"
    for base in $(sed -n 's/^FROM[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$dockerfile" | sort -u); do
      base_digest=$(docker buildx imagetools inspect "$base" --format '{{json .Manifest}}' \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
      echo "  base $base $base_digest" >>"$out/digests.txt.new"
    done
  fi
done

if [ $dry_run -eq 0 ]; then
  mv "$out/digests.txt.new" "$out/digests.txt"
  echo "digests (also in $out/digests.txt):" >&2
  cat "$out/digests.txt" >&2
fi
