#!/usr/bin/env bash
# make deploy ENV=<env> / make destroy ENV=<env>: an AWS environment from nothing, in order.
# ENV=shared first, once per account (the GitHub OIDC provider, the ECR repositories, the
# ecr-push role: infra/envs/shared); then ENV=dev and ENV=prod, which look those up.
#
#   deploy:  1. infra/bootstrap (workspace <env>): the state bucket and its KMS key
#            2. infra/envs/<env>, its S3 backend configured from step 1's outputs
#            3. the agent's install: manifests/ with the IRSA role and ECR repository from step 2
#               (not for shared, which has no cluster)
#   destroy: the same in reverse: the agent and every LoadBalancer Service (their load balancers
#            hold ENIs and security groups in the VPC), then infra/envs/<env>; the state bucket
#            stays unless DESTROY_STATE=yes (it is emptied of every version first).
#
# Needs: terraform >= 1.10 or OpenTofu, the AWS CLI v2 with credentials for the account,
# AWS_REGION, kubectl, and infra/envs/<env>/terraform.tfvars (from terraform.tfvars.example).
# The Secrets sextant-git and sextant-webhook are created by hand once (README, "Installing the
# agent"); deploy stops and says so when they are missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=infra/scripts/require.sh
source "$root/infra/scripts/require.sh"

action="${1:-}"
env="${2:-}"
me="make $action ENV=$env"
case "$action" in deploy | destroy) ;; *) echo "usage: deploy.sh deploy|destroy shared|dev|prod" >&2; exit 2 ;; esac
case "$env" in shared | dev | prod) ;; *) echo "$me: ENV must be shared, dev or prod" >&2; exit 2 ;; esac

need_tf
need aws "the AWS CLI v2 (credentials, aws eks update-kubeconfig)"
need kubectl "kubectl (make tools installs it into .tools/bin)"
[ -n "${AWS_REGION:-}" ] || missing+=("AWS_REGION: the region to deploy to, e.g. export AWS_REGION=eu-west-1")
[ -f "infra/envs/$env/terraform.tfvars" ] ||
  missing+=("infra/envs/$env/terraform.tfvars: copy infra/envs/$env/terraform.tfvars.example and fill it in")
require_all "$me"

if ! aws sts get-caller-identity >/dev/null 2>&1; then
  echo "$me: no usable AWS credentials (aws sts get-caller-identity failed): aws sso login, or set AWS_PROFILE" >&2
  exit 2
fi

boot=(-chdir=infra/bootstrap)
envdir=(-chdir="infra/envs/$env")
bootstrap() {
  "$tf" "${boot[@]}" init -input=false >/dev/null
  "$tf" "${boot[@]}" workspace select -or-create "$env" >/dev/null
}
init_env() {
  "$tf" "${envdir[@]}" init -input=false -reconfigure \
    -backend-config="bucket=$("$tf" "${boot[@]}" output -raw state_bucket)" \
    -backend-config="region=$AWS_REGION" \
    -backend-config="kms_key_id=$("$tf" "${boot[@]}" output -raw state_kms_key_arn)"
}
env_vars() {
  printf '%s\n' -var="region=$AWS_REGION"
  [ "$env" = shared ] && return 0
  printf '%s\n' -var="state_bucket=$("$tf" "${boot[@]}" output -raw state_bucket)" \
    -var="state_kms_key_arn=$("$tf" "${boot[@]}" output -raw state_kms_key_arn)"
}
kubeconfig() {
  aws eks update-kubeconfig --region "$AWS_REGION" --name "$("$tf" "${envdir[@]}" output -raw cluster_name)" >/dev/null
}

# manifests/ as this environment's cluster needs them: the agent's ServiceAccount annotated with
# its IRSA role, its image from this environment's ECR repository (the digest is kept).
render_manifests() {
  local out="$1" role registry
  role="$("$tf" "${envdir[@]}" output -raw agent_role_arn)"
  registry="$("$tf" "${envdir[@]}" output -json ecr_repository_urls | python3 -c 'import json,sys; print(json.load(sys.stdin)["sextant"])')"
  cp manifests/*.yaml "$out/"
  sed -i -E "s|^(    eks.amazonaws.com/role-arn: ).*|\1$role|" "$out/01-serviceaccount.yaml"
  sed -i -E "s|^(          image: )[^@]*/sextant@|\1$registry@|" "$out/05-deployment.yaml"
  grep -q "role-arn: $role" "$out/01-serviceaccount.yaml"
  grep -q "image: $registry@sha256:" "$out/05-deployment.yaml"
}

if [ "$action" = deploy ]; then
  echo "== 1/3 state: infra/bootstrap (workspace $env)"
  bootstrap
  "$tf" "${boot[@]}" apply -input=false -var="region=$AWS_REGION" -var="environment=$env"
  echo "== 2/3 environment: infra/envs/$env"
  init_env
  mapfile -t vars < <(env_vars)
  "$tf" "${envdir[@]}" apply -input=false "${vars[@]}"
  if [ "$env" = shared ]; then
    echo "== 3/3 agent: none for shared; next: make deploy ENV=dev"
    exit 0
  fi
  echo "== 3/3 agent: manifests/"
  kubeconfig
  kubectl apply -f manifests/00-namespace.yaml
  for secret in sextant-git sextant-webhook; do
    kubectl -n sextant-system get secret "$secret" >/dev/null 2>&1 || {
      echo "$me: Secret sextant-system/$secret is missing; create it (README, \"Installing the agent\"), then run $me again" >&2
      exit 1
    }
  done
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  render_manifests "$work"
  kubectl apply -f "$work"
  kubectl -n sextant-system rollout status deployment/sextant --timeout=300s
else
  echo "== 1/3 agent and load balancers"
  bootstrap
  init_env
  if [ "$env" != shared ] && kubeconfig 2>/dev/null; then
    kubectl delete -f manifests/ --ignore-not-found --wait=true || true
    kubectl get services -A -o jsonpath='{range .items[?(@.spec.type=="LoadBalancer")]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}' |
      while read -r ns name; do kubectl -n "$ns" delete service "$name" --wait=true; done
  fi
  echo "== 2/3 environment: infra/envs/$env"
  mapfile -t vars < <(env_vars)
  "$tf" "${envdir[@]}" destroy -input=false "${vars[@]}"
  if [ "${DESTROY_STATE:-}" = yes ]; then
    echo "== 3/3 state: emptying and destroying the state bucket"
    bucket="$("$tf" "${boot[@]}" output -raw state_bucket)"
    python3 "$root/infra/scripts/empty-bucket.py" "$bucket"
    "$tf" "${boot[@]}" destroy -input=false -var="region=$AWS_REGION" -var="environment=$env"
  else
    echo "== 3/3 state: kept (its versions are the only history of this environment); DESTROY_STATE=yes removes it"
  fi
fi
