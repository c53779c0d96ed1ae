"""Makes the `github_double` fixture available to tests under tests/doubles/."""

from tests.doubles.github_api import github_double  # noqa: F401
