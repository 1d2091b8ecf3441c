#!/usr/bin/env bash
# Builds the local Kubernetes test bed's binaries from the Go module proxy and links them into
# tools/bin (called by .ci/setup.sh; `make kube-tools` runs it alone):
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (.ci/go/k8s,  v1.34.x)
#   etcd                                                              (.ci/go/etcd, v3.6.x)
#   kwok, kwokctl                                                     (.ci/go/kwok, v0.8.x)
#   netpolicy (np-guard netpol-analyzer, NetworkPolicy connectivity)  (.ci/go/netpol, v1.2.0)
#   podshim.so: the pod runner's LD_PRELOAD helper (hub/src/podlab/localstack/kube/podshim.c)
#
# Each build lands in a cache outside the repository, keyed by the module's version, a hash of
# its go.mod/go.sum and the Go version: $PODLAB_CACHE_DIR (default ~/.cache/podlab)/kube/...
# (.ci/go-build.sh). A warm run only checks that the folders exist and relinks; nothing is
# rebuilt. The version ldflags make `kube-apiserver --version` print the real release (Helm
# and kwokctl read it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SHIM_SRC=hub/src/podlab/localstack/kube/podshim.c
RECIPE=1  # bump when the build commands change: every cached build is made again
# go_tool, step, CACHE and BIN (the cache and build recipe shared with .ci/tf-tools.sh)
source "$ROOT/.ci/go-build.sh"

fail() { printf 'kube-tools: %s\n' "$*" >&2; exit 1; }

# sum.golang.org has no entry for netpol-analyzer v1.2.0; its go.sum pins the hashes instead.
export GONOSUMDB=github.com/np-guard

# The version ldflags make `kube-apiserver --version` print the real release.
go_ldflags_k8s() {
  local version=$1 major minor pkg
  major=${version#v}; major=${major%%.*}
  minor=${version#v*.}; minor=${minor%%.*}
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean -X %s.buildDate=1970-01-01T00:00:00Z ' \
      "$pkg" "$version" "$pkg" "$major" "$pkg" "$minor" "$pkg" "$pkg"
  done
}
# go names the binary after the module path's last element
go_after_etcd() { mv "$1/v3" "$1/etcd" 2>/dev/null || mv "$1/server" "$1/etcd"; }
# The CRDs of kwok's Exec/Logs/PortForward objects, which the pod runner creates per pod.
go_after_kwok() {
  local src
  src=$(cd "$2" && go list -m -f '{{.Dir}}' "$3")
  mkdir -p "$1/crds"
  cp "$src"/kustomize/crd/bases/kwok.x-k8s.io_{execs,logs,portforwards}.yaml "$1/crds/"
}

go_tool kube k8s k8s.io/kubernetes k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl
go_tool kube etcd go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3
go_tool kube kwok sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
ln -sfn "$GO_TOOL_OUT/crds" "$ROOT/tools/kwok-crds"
go_tool kube netpol github.com/np-guard/netpol-analyzer github.com/np-guard/netpol-analyzer/cmd/netpolicy

# The pod runner's LD_PRELOAD helper: C, so it also reaches programs that are not Python.
command -v cc >/dev/null 2>&1 || fail "no C compiler: install gcc (apt-get install -y gcc), then re-run 'make setup'."
key=$(cat "$SHIM_SRC" | sha256sum | cut -c1-12)
out="$CACHE/kube/podshim-$key"
if [ ! -f "$out/podshim.so" ]; then
  step "compiling the pod runner's podshim.so"
  mkdir -p "$out"
  cc -shared -fPIC -O2 -Wall -Werror -o "$out/podshim.so.tmp" "$SHIM_SRC" -ldl
  mv "$out/podshim.so.tmp" "$out/podshim.so"
  for old in "$CACHE/kube/podshim-"*; do
    if [ "$old" != "$out" ] && [ -d "$old" ]; then rm -rf "$old"; fi
  done
fi
mkdir -p "$ROOT/tools/lib"
ln -sfn "$out/podshim.so" "$ROOT/tools/lib/podshim.so"
step "kube tools: $("$BIN/kube-apiserver" --version), etcd $("$BIN/etcd" --version | awk 'NR==1{print $3}'), $("$BIN/kwok" --version 2>&1 | head -1)"

# The pod runner runs containers as their runAsUser (uid 1000 for user pods): that user must be
# able to reach the project's Python and the cache (podshim.so). A folder on the way without
# the "group and others may enter" bits (often /root, mode 0700; a container without runAsGroup
# runs with gid 0, so the group bit counts too) gets those bits only: nothing can be listed.
open_for_pods() {
  local path=$1
  while [ "$path" != "/" ]; do
    if [ -d "$path" ] && [ $(( 8#$(stat -c %a "$path") & 8#011 )) -ne $(( 8#011 )) ]; then
      if [ "$(id -u)" -ne 0 ]; then
        fail "$path is closed to other users, so the pod runner's non-root pods cannot reach $1: run 'chmod go+x $path' as root"
      fi
      chmod go+x "$path"
      step "made $path enterable by its group and other users (go+x) for the pod runner's non-root pods"
    fi
    path=$(dirname "$path")
  done
}
for target in "$(readlink -f "$ROOT/.venv/bin/python" 2>/dev/null || true)" "$out/podshim.so" "$ROOT/.venv/bin"; do
  if [ -n "$target" ] && [ -e "$target" ]; then open_for_pods "$(dirname "$target")"; fi
done
