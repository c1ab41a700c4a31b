# Quick start: `make run` serves masq on http://127.0.0.1:8080 (`make run PORT=8451` elsewhere); `make demo`, in a
# second terminal, drives whatever `make run` serves. `make test` runs the test suite.
# All need only python3 (3.11+); they build .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8080
QUIET := --quiet --disable-pip-version-check

.PHONY: run demo test install clean

run: $(VENV)/.installed
	$(VENV)/bin/masq serve --host $(HOST) --port $(PORT)

# The demo finds the URL `make run` serves on in ./var, whatever PORT it was given.
demo: $(VENV)/.installed
	$(VENV)/bin/masq demo

test: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/bin/python:
	$(PYTHON) -m venv --without-pip $(VENV)

# The installer is uv (PyPI's `uv`): it downloads and unpacks in parallel and leaves compiling to the first import,
# so it installs in seconds what takes pip minutes. The uv on PATH when there is one; else pip puts uv into .venv;
# plain pip (set up in .venv) when uv cannot be had or fails, e.g. behind an index only pip is configured for.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	@uv=$$(command -v uv || { test -x $(VENV)/bin/uv && echo $(VENV)/bin/uv; } || \
	       { $(PYTHON) -m pip $(QUIET) --python $(VENV)/bin/python install uv >/dev/null 2>&1 && echo $(VENV)/bin/uv; }); \
	if [ -n "$$uv" ] && $$uv pip install --quiet --python $(VENV)/bin/python -e '.[test]'; then \
	  echo "installed masq into $(VENV) with $$uv"; \
	else \
	  echo "installing masq into $(VENV) with pip"; \
	  $(VENV)/bin/python -m ensurepip --default-pip >/dev/null && \
	  $(VENV)/bin/python -m pip $(QUIET) install -e '.[test]'; \
	fi
	touch $@

clean:
	rm -rf $(VENV) *.egg-info
