# Every target creates its own virtual environment on first use, so on a fresh machine
# `make demo` and `make test` are the only commands anyone needs.
.PHONY: install demo test test-fast style quality clean

VENV ?= .venv
PYTHON := $(VENV)/bin/python
# The exact pair verified in docs/environment.md: CUDA builds that also run on CPU, with which the
# Qwen-VL processors and `transformers serve` work. Do not mix with a +cpu torch.
TORCH_PINS := torch==2.15.0 torchvision==0.29.2
PYTEST_ARGS ?=
CHECK_DIRS := src tests benchmarks spaces scripts

$(VENV)/.installed: setup.py
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet $(TORCH_PINS)
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# The demo and the tests build their own tiny models: nothing is fetched from the Hub, so say so and
# skip the retries a Hub lookup makes on a machine without access.
demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/edit-handbook demo --output-dir outputs/demo

# pytest exits 5 when it collects nothing; that is not a failure of the code under test.
test: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest tests $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

style: install
	$(VENV)/bin/ruff format $(CHECK_DIRS)
	$(VENV)/bin/ruff check --fix $(CHECK_DIRS)

quality: install
	$(VENV)/bin/ruff check $(CHECK_DIRS)
	$(VENV)/bin/ruff format --check $(CHECK_DIRS)

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
