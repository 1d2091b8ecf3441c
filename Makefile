# podlab developer entry points. `make help` lists them.
# The two commands a newcomer needs are `make up` and `make test`; everything else is for
# working on one part.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_ARGS ?=
# `make test` runs the tests in this many processes (pytest-xdist; tests/conftest.py groups them).
TEST_WORKERS ?= 2
# Areas are the folders of tests/; `make test-<area>` runs one of them.
AREAS := $(patsubst tests/%/,%,$(sort $(dir $(wildcard tests/*/__init__.py))))
LINT_PATHS := $(wildcard envlogger hub mlflow-server) tests bench charts/podlab/hack
TYPED_PATHS := $(wildcard envlogger/src hub/src mlflow-server/src) tests charts/podlab/hack $(if $(wildcard bench/*/*.py),bench)

.PHONY: help setup test lint typecheck bench lock image-locks images chart-docs up down status kube-tools tf-tools terraform-docs tflint kube-up kube-down kube-status clean $(addprefix test-,$(AREAS))

help: ## list the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16
	@echo "test-<area>     one test area: $(AREAS)"

setup: ## install everything the tests and the local platform need (idempotent)
	@bash .ci/setup.sh

test: setup lint typecheck ## set up, lint, type check and run every test
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

$(addprefix test-,$(AREAS)): test-%: setup ## run the tests of one area (see `make help`)
	$(PY) -m pytest tests/$* $(PYTEST_ARGS)

lint: setup ## ruff (lint and format check)
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

typecheck: setup ## mypy over the packages, tests and benchmarks
	$(PY) -m mypy $(TYPED_PATHS)

bench: setup ## run every benchmark in bench/ (prints tables, writes bench/results/)
	@set -e; found=0; for b in bench/*/run.py; do \
	  [ -e "$$b" ] || continue; found=1; echo "==> $$b"; $(PY) "$$b"; done; \
	  [ $$found -eq 1 ] || { echo "no benchmarks in bench/*/run.py yet" >&2; exit 1; }

chart-docs: ## regenerate charts/podlab/values.schema.json and the values reference in docs/
	$(PY) charts/podlab/hack/chart_schema.py

lock: ## re-resolve requirements-*.in into the .lock files, then the image locks that follow them
	@bash .ci/lock.sh
	@bash images/lock.sh

image-locks: ## re-resolve the image lock files (images/*/requirements.in, mlflow-server/), hashes included
	@bash images/lock.sh

images: ## build the container images (needs Docker + buildx); PUSH=1 REGISTRY=<registry> pushes
	@bash images/build.sh $(if $(PUSH),--push) $(if $(REGISTRY),--registry $(REGISTRY))

up: setup ## run the whole platform locally (podlab.yaml, data in .podlab/)
	$(PY) -m podlab up

down: ## stop the local platform (data is kept)
	@if [ -x $(PY) ]; then $(PY) -m podlab down; else echo "podlab is not set up"; fi

status: ## show each local component, its URL and health
	$(PY) -m podlab status

kube-tools: ## build kube-apiserver & co., etcd and kwok from the Go module proxy (cached; part of setup)
	@bash .ci/kube-tools.sh

tf-tools: ## build terraform-docs and tflint from the Go module proxy (cached; part of setup)
	@bash .ci/tf-tools.sh

terraform-docs: tf-tools ## regenerate the tables of terraform/README.md and terraform/modules/*/README.md
	cd terraform && terraform-docs -c .terraform-docs.yml .

tflint: tf-tools ## lint terraform/ and each module (terraform/.tflint.hcl)
	cd terraform && tflint --config="$$PWD/.tflint.hcl" --recursive

kube-up: setup ## start the Kubernetes test bed (real control plane, kwok nodes, pod runner)
	$(PY) -m podlab.localstack.kube up

kube-down: ## stop the Kubernetes test bed (its data in .podlab/kube is kept)
	@if [ -x $(PY) ]; then $(PY) -m podlab.localstack.kube down; else echo "podlab is not set up"; fi

kube-status: ## show each test bed component and its health
	$(PY) -m podlab.localstack.kube status

clean: ## remove caches and test logs (keeps .venv and tools; `rm -rf .venv tools` for a cold start)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .test-logs
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -not -path './tools/*' -exec rm -rf {} +
