# Custom training loops in TensorFlow: course bundle.
#   make demo   - set up everything, then build, autograde the bundled examples, print grades
#   make test   - set up everything, then run the whole test suite (what CI runs)
# Other targets: setup, data, build, lab, book, book-fast, bench, bench-loop, bench-grading,
# accuracy, lint, freeze, clean-state.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# On the course machines the data mirror is ../shared/data; elsewhere files are downloaded.
SHARED_DATA := $(abspath $(CURDIR)/../shared/data)
ifeq ($(origin TFCOURSE_DATA_MIRROR), undefined)
  ifneq ($(wildcard $(SHARED_DATA)/README.md),)
    export TFCOURSE_DATA_MIRROR := $(SHARED_DATA)
  endif
endif
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test setup system-packages data build lab book book-fast bench bench-loop \
	bench-grading accuracy lint freeze clean-state

demo: setup data
	$(PY) -m autograder demo

test: setup data
	$(PY) -m pytest $(PYTEST_ARGS)

setup: $(STAMP) system-packages

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# bubblewrap sandboxes the grading kernels; chromium drives the browser tests.
system-packages:
	@missing=""; \
	command -v bwrap >/dev/null || missing="$$missing bubblewrap"; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "warning: missing system packages:$$missing"; \
	    echo "  install them with: sudo apt-get install$$missing"; \
	    echo "  (grading refuses to run without bubblewrap unless --no-sandbox is given)"; \
	  fi; \
	fi

data: $(STAMP)
	$(PY) -m tfcourse.data fetch

build: $(STAMP)
	$(PY) -m autograder.build

lab: setup data
	$(PY) -m autograder.student.lab

book: setup data
	$(PY) -m autograder.student.book

book-fast: setup data
	$(PY) -m autograder.student.book --fast

bench: bench-loop bench-grading

bench-loop: setup
	$(PY) benchmarks/bench_fashion_loop.py

bench-grading: setup data
	$(PY) benchmarks/bench_grading.py

accuracy: setup data
	$(PY) -m autograder.qa.accuracy --repeat 2

# examples/variants/ are student-style answer fragments (original course idioms, names from the
# notebook): checked for syntax only.
lint: $(STAMP)
	$(VENV)/bin/ruff check tfcourse autograder tests benchmarks nbgrader_config.py examples/bad_submissions
	$(VENV)/bin/ruff check --select E9,F63,F7 examples
	$(VENV)/bin/ruff check --isolated --select F,E9,W6 authoring  # cell markers are long lines; pyflakes only

freeze: $(STAMP)
	$(PY) -m pip freeze --exclude-editable > /tmp/tfcourse-freeze.txt && echo "see /tmp/tfcourse-freeze.txt"

clean-state:
	rm -rf course_state
