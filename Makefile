# Every target is idempotent: it creates .venv and installs what is missing.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: setup graphviz chromium node serve-assets demo test bench fuzz docs clean

setup: $(STAMP) graphviz chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch and torchvision come from this machine's disk (pip's cap).
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(STAMP)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  echo "installing Debian's graphviz"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; }

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (browser tests of the HTML diagrams)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The playground's editor (CodeMirror) is built from archlang/serve/frontend/ into
# archlang/serve/static/ at development time; the built files are committed.
node:
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing Debian's nodejs and npm (to build the playground's editor)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

serve-assets: node
	cd archlang/serve/frontend && npm ci --no-audit --no-fund && node build.mjs

docs: setup
	$(BIN)/python -m archlang.backends.diagram.docs
	$(BIN)/python docs/gen_errors.py
	$(BIN)/python editors/vscode/gen_grammar.py
	$(BIN)/python docs/playground_shot.py

demo: setup
	$(BIN)/archlang summary specs/lenet5.arch
	$(BIN)/archlang render specs/resnet50.arch -o build/resnet50.svg
	$(BIN)/archlang train specs/lenet5.arch --data digits --epochs 10 --out build/runs/lenet5

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/run.py

fuzz: setup
	$(BIN)/python -m tests.fuzz --cases 5000
	$(BIN)/python -m tests.fuzz_data --cases 500

clean:
	rm -rf build .pytest_cache
