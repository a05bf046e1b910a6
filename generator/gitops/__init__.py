"""The catalog's git history and the GitOps flow: the pull-request review, releases, CODEOWNERS."""
