# The two commands a newcomer needs: `make demo` and `make test`.
# The demo needs only a plain install (no extras); the tests need `.[dev]`, which holds `all`.
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed-base
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(BASE): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $(BASE)

$(STAMP): $(BASE)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(BASE)
	$(PY) -m foredeck.demo --workdir .foredeck/demo $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/lint-imports --no-cache  # the layers of docs/architecture.md (.importlinter)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP)
	$(VENV)/bin/pytest -n auto --maxprocesses=4  # both cores (pytest-xdist); at most 4 workers

test: lint typecheck pytest

# install_size.py is left out: it installs into fresh venvs from the package index (minutes).
bench: $(STAMP)
	for b in bench/*.py; do \
		case $$b in bench/install_size.py) continue;; esac; \
		echo "== $$b"; $(PY) $$b || exit 1; \
	done

clean:
	rm -rf $(VENV) .foredeck .pytest_cache .mypy_cache .ruff_cache
