# Machine-learning surrogates for global fits — build, test and book.
#
#   make book       install (if needed) and build the HTML book into _build/html, executing every notebook
#   make check-book open every page of the built book in headless Chromium and check it (after make book)
#   make test       install (if needed); import-linter, unit tests + nbval over every notebook (not slow)
#   make test-slow  the slow end-to-end tests (pytest -m slow)
#   make lint       ruff over the package, tests and benchmarks; import-linter (the layers)
#   make clean      remove build outputs (keeps .venv);  make distclean also removes .venv
#
# Everything runs from the pinned environment in .venv (Python 3.12, requirements.lock).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3.12
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Progress bars off for every command run from here (notebook kernels inherit it). The tests also
# use the headless Agg backend; the book must NOT (ipykernel only installs its inline backend, which
# puts figures into the pages, when MPLBACKEND is unset).
export LECTURE_UTILS_PROGRESS := 0
TEST_ENV = LECTURE_UTILS_PROGRESS=0 MPLBACKEND=Agg LECTURE_UTILS_TEST_CACHE=$(ARTEFACT_CACHE)
BOOK_ENV = env -u MPLBACKEND LECTURE_UTILS_PROGRESS=0 LECTURE_UTILS_CACHE=$(ARTEFACT_CACHE)

PYTEST_ARGS ?=
BOOK_ARGS ?=

# Notebook outputs are cached under _build (execute_notebooks: cache in _config.yml). The cache is
# keyed by the code in each notebook only, so it is wiped whenever the package can give other
# results: its fingerprint (the code without docstrings and comments, and the shipped files;
# lecture_utils._cache.package_fingerprint) or the pinned environment changed. Editing documentation
# keeps it.
NB_CACHE := _build/.jupyter_cache
NB_FINGERPRINT := _build/.jupyter_cache.fingerprint
# Trained models, compiled libraries and sampled posteriors of `make test` and `make book`: one
# folder under _build, so the book reuses what the tests built (the keys hold everything a result
# depends on; the tests never read ~/.cache).
ARTEFACT_CACHE := $(CURDIR)/_build/cache
# MathJax installed into the book's static files (see the mathjax rule below).
MATHJAX_DIR := book/_static/mathjax
MATHJAX_STAMP := $(MATHJAX_DIR)/.installed
NPM_DIR := _build/npm

.PHONY: help venv test test-slow book check-book mathjax lint clean distclean nb-cache

help:
	@sed -n '3,9p' Makefile | sed 's/^# *//'

venv: $(STAMP)

# (Re)create the environment when it is missing, is not Python 3.12, or is older than the lock or
# pyproject.toml. The interpreter is the first of PY312_CANDIDATES that really is Python 3.12
# ($(PYTHON) first; a pyenv shim whose global version is not 3.12 is skipped). setuptools/wheel are
# pinned in the lock, so the editable install needs no network build environment.
PY312_CANDIDATES := $(PYTHON) python3.12 \
    $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.12*/bin/python3.12) \
    /usr/local/bin/python3.12 /usr/bin/python3.12 python3
IS_PY312 := -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'

$(STAMP): requirements.lock pyproject.toml
	@if ! $(BIN)/python $(IS_PY312) 2>/dev/null; then \
	    py=""; \
	    for cand in $(PY312_CANDIDATES); do \
	        if "$$cand" $(IS_PY312) >/dev/null 2>&1; then py="$$cand"; break; fi; \
	    done; \
	    if [ -z "$$py" ]; then \
	        echo "error: no Python 3.12 among: $(PY312_CANDIDATES)" >&2; \
	        echo "       run make PYTHON=/path/to/python3.12 ..." >&2; exit 1; \
	    fi; \
	    echo ">>> creating $(VENV) with $$py ($$("$$py" -c 'import sys; print(sys.executable)'))"; \
	    rm -rf $(VENV); \
	    "$$py" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

test: venv
	$(BIN)/lint-imports
	$(TEST_ENV) $(BIN)/python -m pytest -m "not slow" --durations=15 $(PYTEST_ARGS)

# pytest exits 5 when nothing is selected: no slow test is not a failure.
test-slow: venv
	$(TEST_ENV) $(BIN)/python -m pytest -m slow --durations=15 $(PYTEST_ARGS) || { status=$$?; \
	    if [ $$status -eq 5 ]; then echo "no slow tests selected"; else exit $$status; fi; }

# Wipe the notebook cache when the package's fingerprint or the environment changed.
nb-cache: venv
	@mkdir -p _build
	@fp="$$($(BIN)/python -c 'from lecture_utils._cache import package_fingerprint as f; print(f())') \
	    $$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-64)"; \
	if [ "$$fp" != "$$(cat $(NB_FINGERPRINT) 2>/dev/null)" ]; then \
	    echo ">>> package or environment changed: clearing the notebook cache"; \
	    rm -rf $(NB_CACHE); echo "$$fp" > $(NB_FINGERPRINT); \
	fi

# -W: warnings are errors; -n: nitpicky references; --keep-going: report every problem before failing.
# A raising cell fails the build (allow_errors: false + nb_execution_raise_on_error in _config.yml);
# its traceback is printed (nb_execution_show_tb). The kernel gets no MPLBACKEND (inline figures).
book: venv nb-cache $(MATHJAX_STAMP)
	$(BOOK_ENV) $(BIN)/jupyter-book build . -W -n --keep-going $(BOOK_ARGS)

# MathJax is served from the book itself (_config.yml: mathjax_path), so pages typeset formulas
# offline and make no request to a CDN. It comes from the npm package pinned in package.json /
# package-lock.json (integrity-checked by `npm ci`), installed under _build/npm and copied into
# book/_static/mathjax (git-ignored there: 10+ MB of generated files, rebuilt from the pin).
# Only the component the book loads (tex-mml-chtml.js) and the files it loads lazily (input and
# output extensions, fonts, accessibility menu) are copied.
mathjax: $(MATHJAX_STAMP)

$(MATHJAX_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is needed to install MathJax" \
	    "(Debian: apt-get install -y npm)" >&2; exit 1; }
	rm -rf $(NPM_DIR) $(MATHJAX_DIR)
	mkdir -p $(NPM_DIR) $(MATHJAX_DIR)
	cp package.json package-lock.json $(NPM_DIR)/
	cd $(NPM_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	cp $(NPM_DIR)/node_modules/mathjax/es5/tex-mml-chtml.js $(MATHJAX_DIR)/
	cp -R $(addprefix $(NPM_DIR)/node_modules/mathjax/es5/,input output a11y sre ui adaptors) \
	    $(MATHJAX_DIR)/
	cp $(NPM_DIR)/node_modules/mathjax/LICENSE $(MATHJAX_DIR)/LICENSE
	touch $@

# The built book in a real browser: tests/test_browser.py (Playwright driving the system
# Chromium) serves _build/html on localhost and checks every page of _toc.yml. BOOK_CHECK=1 makes
# a missing build, Playwright or Chromium a failure instead of a skip. Screenshots of every page
# go to _build/screenshots/. Run `make book` first (this target does not rebuild).
check-book: venv
	$(TEST_ENV) BOOK_CHECK=1 $(BIN)/python -m pytest tests/test_browser.py -p no:cacheprovider \
	    $(PYTEST_ARGS)

# Binder installs binder/requirements.txt: a verbatim copy of the lock (tests/test_binder.py checks it).
binder/requirements.txt: requirements.lock
	{ echo '# Binder environment: an exact copy of ../requirements.lock (tests/test_binder.py checks that the'; \
	  echo '# pins agree; regenerate with: make binder/requirements.txt). The package itself is installed by postBuild.'; \
	  cat requirements.lock; } > $@

# (benchmarks/ may not exist yet in a fresh clone: git keeps no empty folders)
lint: venv
	$(BIN)/ruff check $(wildcard lecture_utils tests benchmarks book/_ext)
	$(BIN)/lint-imports

clean:
	rm -rf _build .pytest_cache .ruff_cache .import_linter_cache .grimp_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(MATHJAX_DIR)
