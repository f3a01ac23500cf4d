# Two commands: `make run` (set up + start the app), `make test` (set up, lint with ruff, run every test).
# Setup is skipped when requirements have not changed since the last install (stamp files).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8501
CHROMIUM ?= /usr/bin/chromium
# pytest workers for `make test`: the browser tests on one, the rest beside them (TEST_WORKERS=0: one process)
TEST_WORKERS ?= 2
export TRANSFERLAB_HOME ?= $(CURDIR)/.transferlab

# A class on a LAN: `make run HTTPS=1 HOST=192.168.1.20` serves TLS (browsers allow the camera only on
# HTTPS or localhost) with CERT/KEY, or a self-signed pair made on first use for that address.
HTTPS  ?=
TLS    := $(TRANSFERLAB_HOME)/tls
CERT   ?= $(TLS)/cert.pem
KEY    ?= $(TLS)/key.pem
PUBLIC_HOST := $(if $(filter 0.0.0.0,$(HOST)),$(shell hostname -I 2>/dev/null | cut -d' ' -f1),$(HOST))
SCHEME := $(if $(HTTPS),https,http)
TLS_FLAGS := $(if $(HTTPS),--server.sslCertFile $(CERT) --server.sslKeyFile $(KEY))

.PHONY: run test setup setup-dev setup-ray worker clean

# Share links and join codes use TRANSFERLAB_PUBLIC_URL when set (yours, or the network address of HOST);
# on a loopback HOST it stays unset, so links carry the address the browser used (127.0.0.1 opens on no phone).
LOOPBACK := $(filter 127.% localhost ::1,$(HOST))
PUBLIC_URL ?= $(if $(LOOPBACK),,$(SCHEME)://$(PUBLIC_HOST):$(PORT))

run: $(VENV)/.installed-app $(if $(HTTPS),$(CERT))
	$(if $(PUBLIC_URL),TRANSFERLAB_PUBLIC_URL=$(PUBLIC_URL)) $(PY) -m ui.serve \
		--server.address $(HOST) --server.port $(PORT) $(TLS_FLAGS) \
		--server.headless true --browser.gatherUsageStats false

test: $(VENV)/.installed-dev $(VENV)/.installed-ray $(CHROMIUM)
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

setup: $(VENV)/.installed-app
setup-dev: $(VENV)/.installed-dev
setup-ray: $(VENV)/.installed-ray

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-app: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed-app
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

# Ray is an optional extra (more than one GPU server); the tests use it, `make run` does not need it.
$(VENV)/.installed-ray: requirements-ray.txt $(VENV)/.installed-app
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-ray.txt
	touch $@

$(CERT):
	@mkdir -p $(dir $(CERT)) $(dir $(KEY))
	openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=TransferLab $(PUBLIC_HOST)" \
		-addext "subjectAltName=IP:$(PUBLIC_HOST),DNS:localhost" -keyout $(KEY) -out $(CERT) 2>/dev/null \
	|| openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=TransferLab $(PUBLIC_HOST)" \
		-addext "subjectAltName=DNS:$(PUBLIC_HOST),DNS:localhost" -keyout $(KEY) -out $(CERT)
	@chmod 600 $(KEY)
	@echo "self-signed certificate for $(PUBLIC_HOST): browsers will ask once to trust it"

clean:
	rm -rf $(VENV) .pytest_cache

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) for the browser tests"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
