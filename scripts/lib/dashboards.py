"""Checks Grafana dashboards' PromQL against a running Prometheus (scripts/checks/observability.sh).

Every Prometheus query of every panel must parse (Prometheus answers status "success"); a query
whose metrics are all exported by the scraped targets must return at least one series, retried
until a deadline while the first samples arrive (but for FORGE_ONLY's and PROMOTION_ONLY's, which
the local run cannot export: those only parse). Grafana's variables are replaced first:
$__rate_interval and $__interval by a window that holds several 1 s scrapes, a variable by its
current value or, for multi-value and "All" ones, by ".*". Loki (LogQL) targets are listed but
not run: no Loki runs here.

    python3 dashboards.py PROMETHEUS_URL DASHBOARD.json...
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

DEADLINE_SECONDS = 60
# The agent's and the apps' own metric names: their queries must return data.
OURS = ("sextant_", "http_request", "hash_service_", "main_api_", "auxiliary_service_")
# The agent's metrics of drift pull requests exist only where the pull-request loop runs: with a
# forge, against a Git remote (never in the local mode this check runs), and with a request
# open. Their queries must parse; their names are checked by scripts/checks/manifests.sh.
FORGE_ONLY = {
    "sextant_drift_pull_requests",
    "sextant_drift_pull_request_opened_timestamp_seconds",
    "sextant_forge_requests_total",
    # Pull request previews run only with a forge, a Git remote and spec.preview.enabled.
    "sextant_previews_total",
    "sextant_preview_duration_seconds",
}
# Promotion's series exist only where an environment promotes from or to the agent's own, with a
# forge and a Git remote; the registry's only once a digest was verified. The local run has none
# of these (its lead-time histogram is exported empty, so that query returns data): they parse.
PROMOTION_ONLY = {
    "sextant_promotion_gate",
    "sextant_promotion_checks",
    "sextant_promotions_total",
    "sextant_rollbacks_total",
    "sextant_registry_requests_total",
    "sextant_promotion_verifications_total",
}
PROMQL_FUNCTIONS = {
    "sum", "rate", "irate", "increase", "histogram_quantile", "count", "max", "min", "avg", "by",
    "without", "time", "vector", "or", "and", "unless", "on", "ignoring", "group_left", "delta",
    "group_right", "absent", "topk", "bottomk", "label_replace", "clamp_min", "clamp_max", "bool",
    "offset", "le", "changes", "resets", "deriv", "abs", "round", "scalar", "sort", "sort_desc",
    "max_over_time", "min_over_time", "avg_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "quantile_over_time", "timestamp", "ceil", "floor", "humanize",
}


def family(name):
    """A histogram's series name without its _bucket, _sum or _count suffix."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def get(base, path, **params):
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400 carries Prometheus' parse error
        return json.load(e)


def substitute(expr, variables):
    expr = expr.replace("$__rate_interval", "30s").replace("$__interval", "5s")
    expr = expr.replace("${__range}", "1h").replace("$__range", "1h")
    for name, value in variables.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


def variables_of(dashboard):
    out = {}
    for v in dashboard.get("templating", {}).get("list", []):
        cur = v.get("current") or {}
        value = cur.get("value")
        if v.get("multi") or v.get("includeAll") or value in (None, [], "$__all") or isinstance(value, list):
            out[v["name"]] = ".*"
        else:
            out[v["name"]] = str(value)
    return out


def metric_names(expr):
    # Names outside strings and label matchers, less PromQL's own words.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "{}", bare)
    bare = re.sub(r"\[[^\]]*\]", "[]", bare)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", bare))
    return {n for n in names if n not in PROMQL_FUNCTIONS and not re.fullmatch(r"[0-9eE]+", n)}


def panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])


def main():
    base, files = sys.argv[1], sys.argv[2:]
    problems, counts = [], {"parsed": 0, "with data": 0, "cluster only": 0, "logql": 0}
    pending = []
    for f in files:
        d = json.load(open(f))
        variables = variables_of(d)
        for p in panels(d):
            for t in p.get("targets", []):
                ds = (t.get("datasource") or p.get("datasource") or {}).get("type", "prometheus")
                if ds == "loki":
                    counts["logql"] += 1
                    continue
                if "expr" not in t:
                    continue
                expr = substitute(t["expr"], variables)
                where = f"{f}: panel {p.get('title')!r} {t.get('refId')}"
                r = get(base, "/api/v1/query", query=expr)
                if r.get("status") != "success":
                    problems.append(f"{where}: does not parse: {r.get('error')}\n    {expr}")
                    continue
                counts["parsed"] += 1
                pending.append((where, expr))
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        exported = set(get(base, "/api/v1/label/__name__/values").get("data", []))
        still = []
        for where, expr in pending:
            names = metric_names(expr)
            ours = {n for n in names if n in exported}
            if ours != names or not names:
                # Needs series no target here exports (kube-state-metrics, cAdvisor): a query
                # about the agent or the app may not be among them.
                missing = sorted(
                    n for n in names - ours
                    if n.startswith(OURS) and family(n) not in FORGE_ONLY | PROMOTION_ONLY
                )
                if missing:
                    problems.append(f"{where}: the agent or app exports no {missing}\n    {expr}")
                continue
            if get(base, "/api/v1/query", query=expr).get("data", {}).get("result"):
                counts["with data"] += 1
            else:
                still.append((where, expr))
        if not still or time.monotonic() > deadline:
            break
        pending = still
        time.sleep(1)
    for where, expr in still:
        problems.append(f"{where}: returns no data although its metrics are scraped\n    {expr}")
    cluster_only = counts["parsed"] - counts["with data"] - len(still)
    counts["cluster only"] = cluster_only
    for p in problems:
        print(p, file=sys.stderr)
    print(json.dumps(counts))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
