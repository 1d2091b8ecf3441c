#!/usr/bin/env bash
# Makes a Terraform filesystem mirror holding hashicorp/aws available at tools/tf-mirror, for the
# Terraform tests (they never reach a registry; see tests/terraform/harness.py):
#   1. $PODLAB_TF_PLUGIN_MIRROR, when set;
#   2. else a mirror already on the machine (a terraform-provider-aws_* binary in the usual
#      .../registry.terraform.io/hashicorp/aws/VERSION/OS_ARCH/ layout);
#   3. else the official provider shipped zstd-compressed beside the checkout
#      (../shared/terraform/terraform-provider-aws_*_linux_amd64.zst, or found on the machine),
#      laid out as a mirror in the cache outside the repository ($PODLAB_CACHE_DIR, default
#      ~/.cache/podlab/tf-mirror), checked against its sha256 when a README beside it names one.
# Without any of them the link is not made and the Terraform tests fail with what to do.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${PODLAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podlab}
LINK="$ROOT/tools/tf-mirror"
step() { printf '==> %s\n' "$*"; }
mkdir -p "$ROOT/tools"

# find_file PATTERN: the first regular file of that name, usual places first, then everywhere.
find_file() {
  local root found
  for root in /opt /usr/share /usr/local "$HOME" /var /; do
    found=$(find "$root" -maxdepth 9 \( -path /proc -o -path /sys -o -path "$ROOT" -o -path "$CACHE" \) -prune \
      -o -name "$1" -type f -print -quit 2>/dev/null || true)
    if [ -n "$found" ]; then echo "$found"; return; fi
  done
}

mirror=${PODLAB_TF_PLUGIN_MIRROR:-}
if [ -z "$mirror" ]; then
  provider=$(find_file 'terraform-provider-aws_v*_x5')
  if [ -n "$provider" ]; then
    # .../registry.terraform.io/hashicorp/aws/VERSION/OS_ARCH/terraform-provider-aws_vX_x5
    mirror=$(cd "$(dirname "$provider")/../../../../.." && pwd)
  fi
fi
if [ -z "$mirror" ]; then
  archive=$(ls "$ROOT"/../shared/terraform/terraform-provider-aws_*_linux_amd64.zst 2>/dev/null | head -n 1 || true)
  [ -n "$archive" ] || archive=$(find_file 'terraform-provider-aws_*_linux_amd64.zst')
  if [ -n "$archive" ]; then
    name=$(basename "$archive" _linux_amd64.zst)           # terraform-provider-aws_v5.100.0_x5
    version=${name#terraform-provider-aws_v}; version=${version%_x5}
    mirror="$CACHE/tf-mirror"
    target="$mirror/registry.terraform.io/hashicorp/aws/$version/linux_amd64/$name"
    if [ ! -x "$target" ]; then
      step "laying out hashicorp/aws $version from $archive as a mirror in $mirror"
      command -v zstd >/dev/null 2>&1 || { echo "tf-mirror: zstd is missing: apt-get install -y zstd" >&2; exit 1; }
      mkdir -p "$(dirname "$target")"
      zstd -d -q -f "$archive" -o "$target.tmp"
      expected=$(grep -oE '[0-9a-f]{64}' "$(dirname "$archive")/README.md" 2>/dev/null | head -n 1 || true)
      if [ -n "$expected" ] && [ "$(sha256sum "$target.tmp" | cut -d' ' -f1)" != "$expected" ]; then
        rm -f "$target.tmp"
        echo "tf-mirror: $archive does not decompress to the sha256 its README names" >&2
        exit 1
      fi
      chmod +x "$target.tmp" && mv "$target.tmp" "$target"
    fi
  fi
fi
if [ -n "$mirror" ]; then
  ln -sfn "$mirror" "$LINK"
  step "Terraform provider mirror: $mirror"
else
  rm -f "$LINK"
  step "no Terraform provider mirror on this machine: the Terraform tests will use the registry"
fi
