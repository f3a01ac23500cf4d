# Two commands: `make run` (set up + start the app), `make test` (set up + run every test).
# Setup is skipped when requirements have not changed since the last install (stamp files).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8501
CHROMIUM ?= /usr/bin/chromium
export TRANSFERLAB_HOME ?= $(CURDIR)/.transferlab

.PHONY: run test setup setup-dev worker clean

run: $(VENV)/.installed-app
	$(PY) -m streamlit run streamlit_app.py --server.address $(HOST) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: $(VENV)/.installed-dev $(CHROMIUM)
	$(PY) -m pytest

setup: $(VENV)/.installed-app
setup-dev: $(VENV)/.installed-dev

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-app: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed-app
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) for the browser tests"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
