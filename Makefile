# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:$(PATH)
ENV ?= prod
DEMO_ENV ?= local

.PHONY: tools build demo test test-rust lint bench fmt deploy destroy configure local-up local-down

tools:
	@bash scripts/install-tools.sh

build: tools
	cargo build --workspace --bins

## Set up, then run the agent's main job on the repo's `local` environment against the test API
## server (no cluster, no internet): plan, apply, kubectl get, diff, drift, heal; then a drift
## pull request in a fake GitHub: kubectl scale in prod, the PR, its merge, the sync; then a
## promotion dev -> prod: CI bumps dev, dev's gate soaks and the registry verifies, the PR, its
## merge, prod on the digest; last a digest prod keeps unready: rolled back at once, the revert
## PR, the digest rejected. Needs docker-registry for the promotion (skipped without it).
demo: build
	ENV=$(DEMO_ENV) bash scripts/demo.sh

## Run every test: Rust (unit, integration against real helm/kubectl), then manifest lints.
test: tools
	bash scripts/test.sh

bench: tools
	cargo bench -p sextant --bench render
	cargo bench -p sextant --bench apply
	cargo bench -p sextant --bench daemon
	cargo bench -p sextant-registry --bench verify
	cargo bench -p sextant-registry --bench signatures
	cargo build --release -p hash-service
	cargo bench -p sextant --bench promotion
	cargo bench -p sextant --bench scale

fmt:
	cargo fmt --all

## The app pipeline on this machine: build, tag, integration test, deploy to the kind cluster of
## infra/envs/local, 10 ready replicas and >= 100 requests/s (docs/pipelines.md).
.PHONY: pipeline
pipeline:
	bash scripts/pipeline.sh

## AWS (docs/infra.md): state bucket -> infra/envs/$(ENV) -> the agent's install, and back.
## Needs terraform >= 1.10 or OpenTofu, the AWS CLI with credentials, AWS_REGION, kubectl.
deploy:
	bash infra/scripts/deploy.sh deploy $(ENV)

destroy:
	bash infra/scripts/deploy.sh destroy $(ENV)

## Terraform's outputs of infra/envs/$(ENV) into environments/$(ENV) (format kept), then the
## deployable mark if no placeholder is left. OUTPUTS=<file> (or -) takes a saved
## `terraform output -json` instead of asking terraform (docs/platform.md, "Bring-up").
configure:
	bash infra/scripts/configure.sh $(ENV) $(OUTPUTS)

## A kind cluster on this machine with the agent following this repository (infra/envs/local).
## Needs Docker, kind, terraform >= 1.10 or OpenTofu.
local-up:
	bash infra/scripts/local.sh up

local-down:
	bash infra/scripts/local.sh down
