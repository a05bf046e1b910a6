#!/usr/bin/env bash
# What the trusted review needs to know from GitHub about one pull request, as step outputs:
# number, head (SHA), base (branch), author, ci (success, failure or pending: the outcome of the
# pull request's own "Pull request" workflow for that head) and approved_by (the logins whose
# latest review approves that head). `skip=true` when there is nothing to review: the run was not
# for an open pull request, or the pull request has moved on (a newer run reviews it).
#
# The base is always the default branch: the catalog publishes from it, and owners and published
# versions are read there, whatever branch the pull request names.
#
# Environment: GH_TOKEN, REPO, EVENT_NAME, and by event: PR_NUMBER (pull_request_target,
# workflow_dispatch); RUN_HEAD_SHA, RUN_PATH, RUN_EVENT, RUN_CONCLUSION, RUN_PULL_REQUESTS
# (workflow_run). Everything read from an event or an API is data: it is checked, never run.
set -euo pipefail

: "${GH_TOKEN:?}" "${REPO:?}" "${EVENT_NAME:?}" "${GITHUB_OUTPUT:?}"
PR_WORKFLOW=pr.yml # the workflow whose conclusion is the pull request's checks (by its file, not its name)

skip() {
  echo "::notice::$1; nothing to review"
  echo "skip=true" >> "$GITHUB_OUTPUT"
  exit 0
}

number=${PR_NUMBER:-}
if [ "$EVENT_NAME" = workflow_run ]; then
  case "$RUN_EVENT" in pull_request | pull_request_review) ;; *) skip "the run was for a $RUN_EVENT event" ;; esac
  # A pull request from this repository is named by the run; one from a fork is found by its head.
  number=$(jq -r '.[0].number // empty' <<< "${RUN_PULL_REQUESTS:-[]}")
  if [ -z "$number" ]; then
    number=$(gh api --paginate "repos/$REPO/pulls?state=open&per_page=100" \
      --jq ".[] | select(.head.sha == \"$RUN_HEAD_SHA\") | .number" | head -n 1)
  fi
  [ -n "$number" ] || skip "no open pull request has head $RUN_HEAD_SHA"
fi
[[ "$number" =~ ^[1-9][0-9]{0,9}$ ]] || skip "no pull request number"

pull=$(gh api "repos/$REPO/pulls/$number")
[ "$(jq -r .state <<< "$pull")" = open ] || skip "pull request #$number is not open"
head=$(jq -r .head.sha <<< "$pull")
if [ "$EVENT_NAME" = workflow_run ] && [ "$head" != "$RUN_HEAD_SHA" ]; then
  skip "pull request #$number is at $head, not at $RUN_HEAD_SHA that the run checked"
fi

# The pull request's own checks for this head: the latest run of the workflow, or none yet. A
# finished run of pr.yml says it directly; a workflow a pull request adds under the same name does not.
if [ "$EVENT_NAME" = workflow_run ] && [ "$RUN_PATH" = ".github/workflows/$PR_WORKFLOW" ]; then
  conclusion=$RUN_CONCLUSION
else
  conclusion=$(gh api "repos/$REPO/actions/workflows/$PR_WORKFLOW/runs?head_sha=$head&event=pull_request&per_page=20" \
    --jq '[.workflow_runs[] | select(.status == "completed")] | sort_by(.run_number) | last | .conclusion // "pending"' \
    || echo pending)
fi
case "$conclusion" in
  success) ci=success ;;
  pending | "") ci=pending ;;
  *) ci=failure ;; # failure, cancelled, timed_out, action_required, skipped...: not a pass
esac

# Each reviewer's latest approving or rejecting review; an approval counts for the head it saw.
approved_by=$(gh api --paginate "repos/$REPO/pulls/$number/reviews?per_page=100" --jq '.[]' |
  jq -rs --arg head "$head" '
    map(select(.state == "APPROVED" or .state == "CHANGES_REQUESTED" or .state == "DISMISSED"))
    | group_by(.user.login) | map(last)
    | map(select(.state == "APPROVED" and .commit_id == $head) | .user.login) | join(" ")')

{
  echo "skip=false"
  echo "number=$number"
  echo "head=$head"
  echo "base=$(jq -r .base.repo.default_branch <<< "$pull")"
  echo "author=$(jq -r .user.login <<< "$pull")"
  echo "ci=$ci"
  echo "approved_by=$approved_by"
} >> "$GITHUB_OUTPUT"
