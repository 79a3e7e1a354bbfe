#!/usr/bin/env bash
# The failure alert of the pipelines: a failed run on main opens one GitHub issue per workflow,
# labelled `ci-failure`, or, when that issue is already open, adds a comment to it, so a broken
# main is one issue that collects every failed run until someone closes it.
#
#   scripts/ci/alert-failure.sh WORKFLOW_NAME
# Needs `gh` with GH_TOKEN (issues: write) and GitHub's GITHUB_REPOSITORY, GITHUB_SERVER_URL,
# GITHUB_RUN_ID and GITHUB_SHA, all set by Actions.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 WORKFLOW_NAME" >&2; exit 2; }
workflow="$1"
: "${GITHUB_REPOSITORY:?}" "${GITHUB_SERVER_URL:?}" "${GITHUB_RUN_ID:?}" "${GITHUB_SHA:?}"
label=ci-failure
title="CI failure: $workflow on main"
run_url="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"
body="The \`$workflow\` workflow failed on main at $GITHUB_SHA: $run_url"

# The label must exist before an issue can carry it; --force makes this idempotent.
gh label create "$label" --repo "$GITHUB_REPOSITORY" --color B60205 \
  --description "A pipeline failed on main (scripts/ci/alert-failure.sh)" --force >/dev/null

number="$(gh issue list --repo "$GITHUB_REPOSITORY" --label "$label" --state open --limit 100 \
  --json number,title --jq ".[] | select(.title == \"$title\") | .number" | head -n 1)"
if [ -n "$number" ]; then
  gh issue comment "$number" --repo "$GITHUB_REPOSITORY" --body "$body"
  echo "alert-failure: commented on #$number ($title)"
else
  gh issue create --repo "$GITHUB_REPOSITORY" --title "$title" --label "$label" --body "$body"
  echo "alert-failure: opened an issue: $title"
fi
