#!/usr/bin/env bash
# The trusted review of one pull request, from a checkout of the default branch.
#
# The pull request's commits are fetched as git objects into refs of our own and never checked
# out: the work tree, and everything that runs here (this script, make, catalog), stays the
# default branch's. `catalog review` exports the pull request's files from git and reads them as
# data. Writes DIR/review.md and DIR/review.json; exits 0 whatever the verdict (the verdict is in
# review.json), non-zero only when the review could not be made.
#
# Environment: PR_NUMBER, HEAD_SHA (the commit to review; the fetched head must be it), BASE_REF
# (the branch the pull request merges into), AUTHOR, CI_STATE (success, failure or pending),
# APPROVED_BY (logins, space-separated, may be empty), OUT (the directory to write), and
# optionally GH_TOKEN (to fetch from a private repository) and ORIGIN (default: origin).
set -euo pipefail

: "${PR_NUMBER:?}" "${HEAD_SHA:?}" "${BASE_REF:?}" "${AUTHOR:?}" "${CI_STATE:?}" "${OUT:?}"
origin=${ORIGIN:-origin}
catalog=${CATALOG:-.venv/bin/catalog}

if ! [[ "$PR_NUMBER" =~ ^[1-9][0-9]{0,9}$ ]] || ! [[ "$HEAD_SHA" =~ ^[0-9a-f]{40}$ ]]; then
  echo "::error::expected a pull request number and a full commit SHA" >&2
  exit 2
fi

# With a token (a private repository), the fetch alone carries it; nothing is written to .git/config.
auth=()
if [ -n "${GH_TOKEN:-}" ]; then
  basic=$(printf 'x-access-token:%s' "$GH_TOKEN" | base64 -w0)
  echo "::add-mask::$basic"
  auth=(-c "http.extraheader=AUTHORIZATION: basic $basic")
fi
git "${auth[@]}" fetch --no-tags --quiet "$origin" \
  "+refs/pull/$PR_NUMBER/head:refs/catalog-review/head" "+refs/heads/$BASE_REF:refs/catalog-review/base"

fetched=$(git rev-parse --verify --quiet "refs/catalog-review/head^{commit}")
if [ "$fetched" != "$HEAD_SHA" ]; then
  echo "::notice::pull request #$PR_NUMBER is now at $fetched, not $HEAD_SHA; a newer run reviews it"
  exit 3
fi

approvals=()
for login in ${APPROVED_BY:-}; do
  approvals+=(--approved-by "$login")
done
mkdir -p "$OUT"
# What the review prints may quote the pull request's text: nothing in it is a workflow command.
stop=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "::stop-commands::$stop"
status=0
"$catalog" review --base refs/catalog-review/base --head "$HEAD_SHA" --author "$AUTHOR" --ci "$CI_STATE" \
  "${approvals[@]}" --output-dir "$OUT" || status=$?
echo "::$stop::"
# 1: the report has errors (they are in it); anything else: no report.
if [ "$status" -gt 1 ] || [ ! -f "$OUT/review.json" ]; then
  echo "::error::the review could not be made (exit status $status)" >&2
  exit 1
fi
