# Two commands on a fresh machine (Python 3.11+ and make):
#   make book   install into .venv if needed, execute every notebook (default profile), render HTML
#   make test   same install, then the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= quick
STAMP  := $(VENV)/.installed-stamp

# Where the data layer looks first. Left alone when set; otherwise the verified copies beside this
# checkout (../shared/datasets, as CI lays it out) when they exist. Without either, datasets are
# downloaded into the user cache with checksum verification.
SHARED_DATA := $(abspath $(wildcard ../shared/datasets))
ifeq ($(origin LEARNING_RULES_DATA), undefined)
ifneq ($(SHARED_DATA),)
export LEARNING_RULES_DATA := $(SHARED_DATA)
endif
endif

.PHONY: book test install clean bench

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,test]"
	@touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/learning-rules build --profile $(PROFILE)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf _build .venv
