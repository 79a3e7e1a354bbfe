# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:$(PATH)
ENV ?= prod

.PHONY: tools build demo test test-rust lint bench fmt

tools:
	@bash scripts/install-tools.sh

build: tools
	cargo build --workspace --bins

## Set up, then run the agent's main job on the repo's own environments against the test API
## server (no cluster needed): plan, apply, kubectl get, diff, drift, heal.
demo: build
	ENV=$(ENV) bash scripts/demo.sh

## Run every test: Rust (unit, integration against real helm/kubectl), then manifest lints.
test: tools
	bash scripts/test.sh

bench: tools
	cargo bench -p sextant --bench render
	cargo bench -p sextant --bench apply
	cargo bench -p sextant --bench daemon

fmt:
	cargo fmt --all

## The app pipeline on this machine: build, tag, integration test, deploy to the kind cluster of
## infra/envs/local, 10 ready replicas and >= 100 requests/s (docs/pipelines.md).
.PHONY: pipeline
pipeline:
	bash scripts/pipeline.sh
