# Maya ASR: one venv, two commands.
#   make demo   install (first time) and run the whole workflow on the embedded demo corpus, CPU
#   make test   install (first time) and run the test suite (CI: .ci/run = make lint, then make test)
PYTHON ?= python3
VENV   ?= .venv
CORES  ?= all
BIN    := $(VENV)/bin
# Re-install only when the dependency list changes; a second `make` is instant.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install browser demo test test-fast lint format dag plan gpu-check validate-storage validate-r2 bench bench-scale model-summary prod-readiness clean clean-results

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo ">> installing Maya ASR into $(VENV) (torch==2.13.0, nemo_toolkit[asr]==3.0.0, snakemake 9; log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[test]" >$(VENV)/install.log 2>&1 \
	  || { grep -v "^WARNING: Location" $(VENV)/install.log | tail -40; echo ">> install failed, see $(VENV)/install.log"; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $@
	@$(BIN)/python -c "import torch, nemo, snakemake; print('>> torch', torch.__version__, '| nemo', nemo.__version__, '| snakemake', snakemake.__version__)"

# Debian's Chromium renders reports/eval.html in a test (headless screenshot); Noto fonts so the
# 11 Indic scripts show as text, not boxes. Needs root for apt; without it the screenshot test
# skips and says why.
BROWSER_PKGS := chromium fonts-noto-core
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -q "Noto Sans Devanagari"; } || { \
	  echo ">> installing Debian's $(BROWSER_PKGS) (report screenshot test; log: /tmp/maya-apt.log)"; \
	  { apt-get install -y --no-install-recommends $(BROWSER_PKGS) || { apt-get update && apt-get install -y --no-install-recommends $(BROWSER_PKGS); }; } \
	  >/tmp/maya-apt.log 2>&1 || echo ">> could not install $(BROWSER_PKGS) (see /tmp/maya-apt.log); the screenshot test will skip"; }

demo: install
	$(BIN)/snakemake --cores $(CORES)
	@$(BIN)/python -c "import json; t=json.load(open('results/qc/summary.json'))['total']; \
	print(f\">> demo finished: {t['shards']} shards ({t['shards_failed']} failed), {t['clips_kept']} of {t['clips_in']} clips kept, {t['hours_kept']:.2f} h\")"
	@$(BIN)/python -c "import json; s=json.load(open('results/stage1/train_summary.json')); c=s['curve']; \
	print(f\">> stage 1: {s['steps']} steps in {s['wall_s']:.0f} s; val CER (TDT greedy) {100*c[0]['val_cer']:.1f}% at step 0 -> {100*c[-1]['val_cer']:.1f}%, CTC {100*c[0]['val_cer_ctc']:.1f}% -> {100*c[-1]['val_cer_ctc']:.1f}%\")"
	@$(BIN)/python -c "import json, pathlib; \
	[print(f\">> {p.parent.name}: {s['steps']} steps in {s['wall_s']:.0f} s; val CER (LLM greedy) {100*s['curve'][0]['val_cer']:.1f}% at step 0 -> {100*s['curve'][-1]['val_cer']:.1f}%\") \
	 for p in sorted(pathlib.Path('results').glob('stage[23]*/train_summary.json')) for s in [json.load(open(p))]]"
	@echo ">> report: reports/eval.html | per-language scores: results/eval/summary.csv | model: results/stage1/final.nemo | per-rule logs: logs/"

# Four xdist workers on the 2-core CI machine: the others fill the waits (SLURM jobs and polling, kill
# tests, the shared runs being built): 14:56 against 19:50 with three. One module per worker at a
# time (--dist loadfile), slowest first (tests/conftest.py).
TEST_WORKERS ?= 4
test: install browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

test-fast: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not workflow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

dag: install
	$(BIN)/snakemake --rulegraph | tee results/rulegraph.dot >/dev/null && echo ">> results/rulegraph.dot"

bench: install
	$(BIN)/python -m benchmarks

# Production scale, 3,551 shards x 15,000 clips: the Stage-1 data layer (~20 GB scratch), then every
# rule downstream of indexing through Snakemake at that size and at a quarter (~80 GB scratch at
# the peak, ~2 h on 2 cores). Both take --shards/--clips-per-shard to shrink: python -m benchmarks.scale --help.
bench-scale: install
	$(BIN)/python -m benchmarks.scale
	$(BIN)/python -m benchmarks.downstream

# Parameters per component of the production Stage-1 network (meta device, no weights allocated).
model-summary: install
	PYTHONPATH=. $(BIN)/python workflow_scripts/model_summary.py --configfile config.yaml config/prod.yaml

# The launch plan (results/plan/launch_plan.md): time, GPU-hours, memory, disk, storage, data loading per
# stage. `make plan` for the demo config; `make plan CONFIG=config/prod.yaml` for production.
plan: install
	$(BIN)/snakemake --cores all results/plan/launch_plan.md $(if $(CONFIG),--configfile $(CONFIG))
	@cat results/plan/launch_plan.md

# On a GPU machine: measure what the plan assumes (TDT loss, Stage-1 bf16 steps at the caps, a ZeRO-2
# Stage-2b step, decoding RTFx) with the production shapes; ~5 minutes, nothing downloaded.
gpu-check: install
	PYTHONPATH=. $(BIN)/python workflow_scripts/gpu_check.py $(if $(CONFIG),--configfile config.yaml $(CONFIG))

# The checkpoint store, end to end (seed README: make validate-r2): needs storage.* in the config and
# credentials in the environment or ~/.aws; forced, since a store can break between two runs.
validate-storage validate-r2: install
	$(BIN)/snakemake --cores 1 --forcerun validate_storage results/storage/validate.json $(if $(CONFIG),--configfile $(CONFIG))

# Production launch gate (seed README: make prod-readiness): GPUs, disk, artifacts, pretrained weights.
prod-readiness: install
	$(BIN)/snakemake --profile h200 results/stage1/readiness.json

clean-results:
	rm -rf results reports logs .snakemake

clean: clean-results
	rm -rf $(VENV)
