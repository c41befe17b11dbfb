# Thin wrappers; README.md documents each target.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lab test release grade bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .[cluster]
	touch $(STAMP)

## lab: set up .venv if needed, then open JupyterLab on notebooks/ (--allow-root when run as root)
lab: $(STAMP)
	$(BIN)/course lab

## test: set up .venv if needed, then run every unit test and every solution notebook (fast mode)
test: $(STAMP)
	COURSE_MODE=fast COURSE_OFFLINE=1 $(BIN)/python -m pytest

## release: write notebooks/ from solutions/
release: $(STAMP)
	$(BIN)/course release

## grade: grade submissions, e.g. make grade SUBMISSIONS="submissions/*.ipynb"
grade: $(STAMP)
	$(BIN)/course grade $(SUBMISSIONS) --csv grades.csv

## bench: the speed and quality tables (full mode)
bench: $(STAMP)
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) datasets/cache
