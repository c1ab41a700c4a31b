# Quick start: `make run` serves masq on http://127.0.0.1:8080; `make test` runs the test suite.
# Both need only python3 (3.11+); they build .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8080
PIP := $(VENV)/bin/pip --disable-pip-version-check

.PHONY: run demo test install clean

run: $(VENV)/.installed
	$(VENV)/bin/masq serve --host $(HOST) --port $(PORT)

demo: $(VENV)/.installed
	$(VENV)/bin/masq demo

test: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info
