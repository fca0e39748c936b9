# Maya ASR: one venv, two commands.
#   make demo   install (first time) and run the whole workflow on the embedded demo corpus, CPU
#   make test   install (first time) and run the test suite
PYTHON ?= python3
VENV   ?= .venv
CORES  ?= all
BIN    := $(VENV)/bin
# Re-install only when the dependency list changes; a second `make` is instant.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install demo test test-fast lint dag bench model-summary clean clean-results

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo ">> installing Maya ASR into $(VENV) (torch==2.13.0, nemo_toolkit[asr]==3.0.0, snakemake 9; log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test]" >$(VENV)/install.log 2>&1 \
	  || { grep -v "^WARNING: Location" $(VENV)/install.log | tail -40; echo ">> install failed, see $(VENV)/install.log"; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $@
	@$(BIN)/python -c "import torch, nemo, snakemake; print('>> torch', torch.__version__, '| nemo', nemo.__version__, '| snakemake', snakemake.__version__)"

demo: install
	$(BIN)/snakemake --cores $(CORES)
	@$(BIN)/python -c "import json; t=json.load(open('results/qc/summary.json'))['total']; \
	print(f\">> demo finished: {t['shards']} shards ({t['shards_failed']} failed), {t['clips_kept']} of {t['clips_in']} clips kept, {t['hours_kept']:.2f} h\")"
	@echo ">> QC: results/qc/summary.json | splits: results/splits/report.json | tokenizers: results/tokenizer/ (fertility.csv) | per-rule logs: logs/"

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not workflow"

lint: install
	$(BIN)/snakemake --lint

dag: install
	$(BIN)/snakemake --rulegraph | tee results/rulegraph.dot >/dev/null && echo ">> results/rulegraph.dot"

bench: install
	$(BIN)/python -m benchmarks

# Parameters per component of the production Stage-1 network (meta device, no weights allocated).
model-summary: install
	PYTHONPATH=. $(BIN)/python workflow_scripts/model_summary.py --configfile config.yaml config/prod.yaml

clean-results:
	rm -rf results reports logs .snakemake

clean: clean-results
	rm -rf $(VENV)
