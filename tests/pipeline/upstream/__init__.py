"""The upstream examples harness: Argo's and Tekton's own examples, judged as their engines do.

`catalog` decides which examples are in scope and what outcome their engine gives them,
`runner` loads and runs them with the local executor and classifies each, `reasons` turns
errors into short, stable reason strings for the ledger (`tests/data/upstream/expected.yaml`).
"""
