#!/usr/bin/env bash
# The platform's observability, checked against real parts (run by `make test`):
#  - the apps' SLO rules (hash-service, main-api, auxiliary-service): promtool check rules and
#    their unit tests;
#  - each environment's Alertmanager configuration (values/kube-prometheus-stack.yaml): amtool
#    check-config, and which receiver the SLO alerts and the Watchdog reach;
#  - every dashboard (helm/*/dashboards/*.json of the apps, manifests/dashboards/*.json): a real
#    Prometheus (Debian's package) scrapes a running hash-service, main-api and auxiliary-service
#    (aux on moto's server, main on aux) and a running agent (`sextant run` in local mode against
#    the test API server), then every panel's PromQL must parse, and every query whose metrics
#    those export must return data (scripts/lib/dashboards.py).
#    Queries of kube-state-metrics/cAdvisor series only parse here: no cluster runs them.
# Everything listens on 127.0.0.1 and is stopped with its process group on exit. Quiet on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/check.sh
source "$root/scripts/lib/check.sh"
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
py="$root/.tools/venv/bin/python"
[ -x "$py" ] || py=python3

for tool in promtool prometheus amtool; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "observability.sh: FAILED: $tool not found; run \`make tools\` as root (Debian packages prometheus, prometheus-alertmanager)" >&2
    exit 1
  }
done
apps=(hash-service main-api auxiliary-service)
for app in "${apps[@]}"; do
  step "promtool check rules ($app)" promtool check rules "helm/$app/alerts/$app-rules.yaml"
  step "promtool test rules ($app)" promtool test rules "helm/$app/alerts/$app-rules.test.yaml"
done

# route ENV EXPECTED LABEL=VALUE...: the receiver Alertmanager picks for an alert with these labels.
route() {
  local env="$1" expected="$2"; shift 2
  amtool config routes test --config.file="$work/alertmanager-$env.yml" --verify.receivers="$expected" "$@" 2>&1 |
    grep -v '^Warning: --config.file'
}
for env in dev prod; do
  "$py" -c 'import sys, yaml; v = yaml.safe_load(open(sys.argv[1])); yaml.safe_dump(v["alertmanager"]["config"], open(sys.argv[2], "w"))' \
    "environments/$env/values/kube-prometheus-stack.yaml" "$work/alertmanager-$env.yml"
  step "amtool check-config ($env)" amtool check-config "$work/alertmanager-$env.yml"
  step "Watchdog goes nowhere ($env)" route "$env" null alertname=Watchdog severity=none
done
step "dev: every alert to Slack" route dev slack-dev alertname=HashServiceErrorBudgetBurnFast severity=critical
step "prod: critical pages" route prod pagerduty alertname=HashServiceNoReadyPods severity=critical
step "prod: warnings to Slack" route prod slack-prod alertname=HashServiceLatencyP99High severity=warning

for b in sextant kube-testkit hash-service main-api auxiliary-service; do
  [ -x "$bin/$b" ] || cargo build --quiet --bin "$b" >/dev/null
done

pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
  done
  rm -rf "$work"
}
trap stop_all EXIT
# start NAME CMD...: in its own process group (setsid), output to $work/NAME.log.
start() {
  local name="$1"; shift
  setsid "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
}
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds, at most SECONDS.
wait_for() {
  local what="$1" limit="$2" deadline; shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "observability.sh: FAILED: $what within ${limit}s" >&2
      tail -n 20 "$work"/*.log >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

app_port="$(free_port)"
main_port="$(free_port)"
aux_port="$(free_port)"
moto_port="$(free_port)"
agent_port="$(free_port)"
prom_port="$(free_port)"
start testkit "$bin/kube-testkit" serve --addr 127.0.0.1:0 --kubeconfig "$work/kubeconfig"
wait_for "kube-testkit writes its kubeconfig" 20 test -s "$work/kubeconfig"
LISTEN_ADDR="127.0.0.1:$app_port" SHUTDOWN_DELAY_SECONDS=0 start app "$bin/hash-service"
# The two-service pattern: main-api → auxiliary-service → moto's S3 and SSM.
start moto "$root/.tools/bin/moto_server" -H 127.0.0.1 -p "$moto_port"
LISTEN_ADDR="127.0.0.1:$aux_port" SHUTDOWN_DELAY_SECONDS=0 AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" \
  AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true \
  PARAMETER_PATH=/sextant/check/ start aux "$bin/auxiliary-service"
LISTEN_ADDR="127.0.0.1:$main_port" SHUTDOWN_DELAY_SECONDS=0 AUXILIARY_SERVICE_URL="http://127.0.0.1:$aux_port" \
  start main "$bin/main-api"
# The agent follows a scratch copy of the local environment, so that the check can break it.
repo="$work/repo"
mkdir -p "$repo/environments"
cp -R helm "$repo/"
cp -R environments/local "$repo/environments/"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=check -c user.email=check@localhost commit -qm local
KUBECONFIG="$work/kubeconfig" SEXTANT_ENVIRONMENTS=local SEXTANT_LISTEN_ADDR="127.0.0.1:$agent_port" \
  SEXTANT_LEADER_ELECTION=false SEXTANT_CACHE_DIR="$work/cache" SEXTANT_HELM="$root/.tools/bin/helm" \
  start agent "$bin/sextant" run --repo-path "$repo"
# The labels the ServiceMonitors give these targets in a cluster (job = Service name).
cat >"$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: hash-service
    static_configs:
      - targets: ["127.0.0.1:$app_port"]
        labels: {namespace: hash-service, pod: hash-service-0, container: hash-service, service: hash-service}
  - job_name: main-api
    static_configs:
      - targets: ["127.0.0.1:$main_port"]
        labels: {namespace: main-api, pod: main-api-0, container: main-api, service: main-api}
  - job_name: auxiliary-service
    static_configs:
      - targets: ["127.0.0.1:$aux_port"]
        labels: {namespace: auxiliary-service, pod: auxiliary-service-0, container: auxiliary-service, service: auxiliary-service}
  - job_name: sextant
    static_configs:
      - targets: ["127.0.0.1:$agent_port"]
        labels: {namespace: sextant-system, pod: sextant-0, container: sextant, service: sextant}
YAML
start prometheus prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" --log.level=warn
wait_for "hash-service is ready" 30 curl -sf "http://127.0.0.1:$app_port/readyz"
wait_for "the agent applied local" 120 sh -c "curl -s http://127.0.0.1:$agent_port/metrics | grep -q '^sextant_sync_total{.*result=\"succeeded\"'"
wait_for "Prometheus is ready" 30 curl -sf "http://127.0.0.1:$prom_port/-/ready"
# Traffic for the RED panels: answers 200, 414 (input over 4 KiB) and 404, bounded.
long="$(head -c 5000 /dev/zero | tr '\0' a)"
for i in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$app_port/hash/input$i"
done
curl -s -o /dev/null "http://127.0.0.1:$app_port/hash/$long"
curl -s -o /dev/null "http://127.0.0.1:$app_port/nowhere"
# Through main-api: 200s once moto answers, a 404 (absent parameter) and a 400 (invalid name).
wait_for "moto's server answers" 30 curl -sf "http://127.0.0.1:$moto_port/moto-api/"
wait_for "main-api is ready" 30 curl -sf "http://127.0.0.1:$main_port/readyz"
wait_for "main-api answers through auxiliary-service" 30 curl -sf "http://127.0.0.1:$main_port/api/s3-buckets"
for i in $(seq 10); do
  curl -s -o /dev/null "http://127.0.0.1:$main_port/api/s3-buckets"
  curl -s -o /dev/null "http://127.0.0.1:$main_port/api/parameters"
  curl -s -o /dev/null "http://127.0.0.1:$main_port/api/parameters/absent$i"
done
curl -s -o /dev/null "http://127.0.0.1:$main_port/api/parameters/bad%20name"
# For the agent's event panels: a webhook delivery (ignored: no secret is configured) and a
# commit that does not render (a reconcile error; the last good revision stays applied).
curl -s -o /dev/null -X POST "http://127.0.0.1:$agent_port/hooks/github"
printf 'replicaCount: [unclosed\n' >>"$repo/environments/local/values/hash-service.yaml"
wait_for "the agent reports the broken values as a reconcile error" 60 sh -c \
  "curl -s http://127.0.0.1:$agent_port/metrics | grep -q '^sextant_reconcile_errors_total{'"

scraped() {
  curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode 'query=count(up == 1) == 4 and count(http_requests_total) > 0 and count(main_api_aux_calls_total) > 0' |
    grep -q '"result":\[{'
}
wait_for "Prometheus scrapes the three apps and the agent" 60 scraped
step "dashboards: every query parses; the agent's and the app's return data" \
  "$py" scripts/lib/dashboards.py "http://127.0.0.1:$prom_port" \
  helm/hash-service/dashboards/hash-service.json helm/main-api/dashboards/main-api.json \
  helm/auxiliary-service/dashboards/auxiliary-service.json manifests/dashboards/sextant.json
exit "$failed"
