#!/usr/bin/env bash
# Builds the Terraform linters from the Go module proxy and links them into tools/bin (called by
# .ci/setup.sh; `make tf-tools` runs it alone):
#   terraform-docs  (.ci/go/terraform-docs, v0.20.0): the README tables of terraform/ and its modules
#   tflint          (.ci/go/tflint, v0.64.0, its terraform ruleset built in): terraform/.tflint.hcl
# Each lands in $PODLAB_CACHE_DIR (default ~/.cache/podlab)/tf/NAME-VERSION-HASH/, the same cache
# as the kube tools (.ci/go-build.sh); a warm run builds nothing. tflint never downloads a
# plugin here: the terraform ruleset it bundles is the one .tflint.hcl enables.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RECIPE=1  # bump when the build commands change: every cached build is made again
source "$ROOT/.ci/go-build.sh"

go_tool tf terraform-docs github.com/terraform-docs/terraform-docs github.com/terraform-docs/terraform-docs
go_tool tf tflint github.com/terraform-linters/tflint github.com/terraform-linters/tflint
step "terraform tools: $("$BIN/terraform-docs" --version | head -1), $("$BIN/tflint" --version | head -1)"
