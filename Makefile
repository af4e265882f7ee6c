# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CORES  ?= 2
# pytest-xdist workers; tests/conftest.py groups the tests so shared fixtures run once
TEST_WORKERS ?= 2
# Everything beside the checkout that tests and benchmarks may use (never the product).
SHARED ?= $(abspath ../shared)

.PHONY: venv demo test test-slow test-cluster lint benchmarks lock clean-demo

# The lock is a complete freeze, installed with --no-deps: resemblyzer asks for webrtcvad, which pip
# would build from source; webrtcvad-wheels, in the lock, is the same module as a binary wheel.
# setuptools, which torch needs and `pip freeze` leaves out, is pinned here.
$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools==84.2.1
	$(BIN)/python -m pip install -q --no-deps -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

venv: $(STAMP)

# The whole pipeline, every rule, on the small synthetic corpus: offline, a few minutes on 2 cores.
# It ends by scoring two recordings of actors 19 and 22 with the demo's final model, the family
# representative best on validation UA (`ser predict`, which prints its validation scores). They
# are the final split's validation actors: a torch final model never trained on them, a linear
# one pools them into the inner cross-validation that chose its C.
DEMO_AUDIO := demo/resources/synthetic/audio
demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 --directory demo \
		--configfile workflow/presets/demo.yaml --snakefile Snakefile all final
	@echo "Report: $(CURDIR)/demo/reports/report.html"
	@FINAL=demo/$$($(BIN)/python -c 'import json; print(json.load(open("demo/results/final/chosen.json"))["folder"])') && \
	echo "Final model (the validation-best family representative): $(CURDIR)/$$FINAL/model_card.md" && \
	$(BIN)/ser predict $$FINAL \
		$(DEMO_AUDIO)/Actor_19/03-01-05-02-01-01-19.wav $(DEMO_AUDIO)/Actor_22/03-01-03-02-01-01-22.wav

# The fast suite: every test but whole pipeline runs and the SLURM cluster.
test: $(STAMP)
	SER_SHARED=$(SHARED) $(BIN)/python -m pytest -q -m "not cluster and not slow" \
		--durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The slow tests: real Snakemake runs of the pipeline on real actors, fault injection, the demo.
test-slow: $(STAMP)
	SER_SHARED=$(SHARED) $(BIN)/python -m pytest -q -m "slow and not cluster" \
		--durations=15 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# A real single-node SLURM on loopback: installs slurmctld/slurmd/munge when missing (root).
test-cluster: $(STAMP)
	SER_SHARED=$(SHARED) $(BIN)/python -m pytest -q -m cluster

lint: $(STAMP)
	$(BIN)/snakemake --lint --configfile config.yaml

# Every benchmark's quick mode (benchmarks/quick.py: a few files, one round), one after another;
# run a script without --quick for its measurement.
benchmarks: $(STAMP)
	SER_SHARED=$(SHARED) $(BIN)/python benchmarks/quick.py

# Re-pin the tested set after changing pyproject.toml's dependencies.
lock: $(STAMP)
	@echo "# Tested set: CPython 3.11, torch 2.14.1 (CUDA 13 build, runs on CPU too). Regenerate with \`make lock\`." > requirements.lock
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^ser==' >> requirements.lock

clean-demo:
	rm -rf demo
