# Thin wrappers; README.md documents each target.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SITE_STAMP := $(VENV)/.installed-site

.PHONY: lab check test site slides release grade bench gpu-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .[cluster]
	touch $(STAMP)

# the site's extra (Jupyter Book, offline MathJax, Playwright) for `make site` and `make test` only
$(SITE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .[cluster,site]
	touch $(SITE_STAMP)

## lab: set up .venv if needed, then open JupyterLab on notebooks/ (--allow-root when run as root)
lab: $(STAMP)
	$(BIN)/course lab

## check: the quick tier while you work (under 2 minutes): the unit tests, without the slow ones and the site
check: $(STAMP)
	COURSE_MODE=fast COURSE_OFFLINE=1 $(BIN)/python -m pytest tests -m "not slow and not site"

## test: set up .venv if needed, then run every unit test, every solution notebook (fast mode) and the site's browser test
test: $(SITE_STAMP)
	COURSE_MODE=fast COURSE_OFFLINE=1 $(BIN)/python -m pytest

## site: the course as a website in site/_build/html (executes the notebooks in fast mode unless make test just did)
site: $(SITE_STAMP)
	$(BIN)/python -m course_lib.publishing.site

## slides: one reveal.js lecture deck per notebook in site/_build/slides (opens offline; executes the notebooks in fast mode unless make test or make site just did)
slides: $(SITE_STAMP)
	$(BIN)/course slides

## release: write notebooks/ from solutions/
release: $(STAMP)
	$(BIN)/course release

## grade: grade submissions, e.g. make grade SUBMISSIONS="submissions/*.ipynb"
grade: $(STAMP)
	$(BIN)/course grade $(SUBMISSIONS) --csv grades.csv

## gpu-check: every notebook in full mode on this machine's GPU (CUDA or MPS): one table of times and headline numbers
gpu-check: $(STAMP)
	COURSE_OFFLINE=1 $(BIN)/python scripts/gpu_check.py

## bench: the speed and quality tables (full mode)
bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) datasets/cache site/_build
