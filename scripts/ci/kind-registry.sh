#!/usr/bin/env bash
# A local image registry for a kind cluster (kind's documented local-registry recipe): a
# `registry:2` container on 127.0.0.1:5001, attached to the `kind` network, and every node's
# containerd told that localhost:5001 is that container. Idempotent. Images pinned by digest go
# through it, because `kind load` does not keep registry digests (kubernetes-sigs/kind#2394).
#
#   scripts/ci/kind-registry.sh CLUSTER
# The cluster's containerd must read /etc/containerd/certs.d (config_path): kind's newer node
# images do, and .github/kind/e2e.yaml sets it for older ones; checked, and named when missing.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 CLUSTER" >&2; exit 2; }
cluster="$1"
name=kind-registry
port=5001
# registry:2 (distribution 2.8.3), pinned by digest.
image=registry:2@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373

if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
  echo "kind-registry: starting $name on 127.0.0.1:$port"
  docker run -d --restart=always -p "127.0.0.1:$port:5000" --network bridge --name "$name" "$image" >/dev/null
fi
if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$name")" = null ]; then
  docker network connect kind "$name"
fi
for node in $(kind get nodes --name "$cluster"); do
  # Set by kind's newer node images, or by a containerdConfigPatches at creation; quoting differs
  # between containerd 1.x and 2.x, hence the effective config and a loose match.
  if ! docker exec "$node" containerd config dump 2>/dev/null |
    grep -Eq "config_path *= *[\"']/etc/containerd/certs.d[\"']"; then
    echo "kind-registry: node $node's containerd does not read /etc/containerd/certs.d;" \
      "create the cluster with the containerdConfigPatches of .github/kind/e2e.yaml" >&2
    exit 1
  fi
  docker exec "$node" mkdir -p "/etc/containerd/certs.d/localhost:$port"
  printf '[host."http://%s:5000"]\n' "$name" |
    docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/localhost:$port/hosts.toml"
done
echo "kind-registry: localhost:$port serves cluster $cluster"
