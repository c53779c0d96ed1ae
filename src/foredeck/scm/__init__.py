"""Source control: the GitHub REST client (`github`), its credentials (`github_auth`), webhook
payloads (`webhooks`), refs to check out (`refs`) and git checkouts (`git`).

Nothing is imported here, so importing one module does not pull in the others' dependencies.
"""
