"""Source control: the SCM providers and what they are built of.

`providers.provider_from_settings` builds the configured provider (`provider.ScmProvider`):
GitHub (`github_provider`, over the REST client `github` / `github_http` and its credentials
`github_auth`) or repositories on disk (`local/`). GitHub's objects are modelled once in
`github_types`, for the REST client and webhook payloads (`webhooks`: verification) alike; web
links are `links`. A bot's pull requests and branch pushes (CD's bump pull requests) are
`branches` (the checkout and its push) and `github_pulls` (GitHub's side). Checkouts (`git`,
recorded by `clone_records`) and the local provider run git through `gitrun`.

Nothing is imported here, so importing one module does not pull in the others' dependencies.
"""
