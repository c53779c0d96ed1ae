"""The GitHub double for the plugin tests (the database fixtures come from tests/hook)."""

from tests.doubles import github_api

github_double = github_api.github_double
