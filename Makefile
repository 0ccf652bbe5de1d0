# Two commands on a fresh machine: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
DEMO_DATA ?= $(SHARED)/data/medline
DEMO_OUT ?= runs/demo-medline
STAMP := $(VENV)/.installed

.PHONY: install browser demo test test-all clean

# Re-installs only when setup.cfg or constraints.txt changed. setup.cfg holds compatible ranges,
# constraints.txt the exact versions tested here (torch: the CPU wheel on local disk).
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,plots,teachers,baselines,seismic]'
	$(PY) -m splare_pyserini.java_env
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the explain HTML test (Debian's package; needs root and apt).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; } || \
	    echo "could not install chromium: the HTML rendering test will fail (apt-get install chromium)"; }

demo: install
	$(PY) -m eval.beir --data $(DEMO_DATA) --out $(DEMO_OUT)

# pytest exits 5 when it collects no test: reported, not hidden as a pass of something that never ran.
test: install browser
	SPLARE_SHARED=$(SHARED) $(PY) -m pytest -q tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test-all: install browser
	SPLARE_SHARED=$(SHARED) $(PY) -m pytest -q tests --runslow

clean:
	rm -rf runs $(VENV)
