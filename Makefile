# imgpipe: `make help` lists every target. The two that matter: `make up && make e2e`, and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON    ?= python3
RUN_DIR   ?= .run
VENV      ?= .venv
PY        := $(VENV)/bin/python
EMULATOR  ?= ministack
# The emulator backends and the Python each runs on: read from their one table (pipeline/local/emulator.py
# BACKEND_TABLE, one `Backend("name", "3.x", ...)` line each; tests/static holds this reading to the code's).
BACKEND_TABLE := $(shell sed -n 's/^    Backend."\([a-z0-9_-]*\)", "\([0-9.]*\)".*/\1:\2/p' pipeline/local/emulator.py)
BACKENDS  := $(foreach b,$(BACKEND_TABLE),$(firstword $(subst :, ,$(b))))
python_of = $(lastword $(subst :, ,$(filter $(1):%,$(BACKEND_TABLE))))
ifeq ($(filter $(EMULATOR),$(BACKENDS)),)
$(error EMULATOR=$(EMULATOR) is not an emulator here: choose one of $(BACKENDS))
endif
# What `make up` was given (PORT, API_PORT, MODE) is remembered in $(RUN_DIR)/up.mk until `make down`, so that a plain
# `make e2e` or `make down` afterwards talks to that stack; the command line still wins.
-include $(RUN_DIR)/up.mk
PORT      ?= 4566
API_PORT  ?= 8080
ENDPOINT  := http://127.0.0.1:$(PORT)
# The local stack: short visibility timeout so a poison message reaches the DLQ in about half a minute.
LOCAL_ENV := AWS_ENDPOINT_URL=$(ENDPOINT) AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \
             AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
             VISIBILITY_TIMEOUT_S=$${VISIBILITY_TIMEOUT_S:-10} ALARM_INTERVAL_S=$${ALARM_INTERVAL_S:-5} \
             WORKER_WAIT_S=$${WORKER_WAIT_S:-2}
# MODE=compose runs the stack in docker compose, MODE=embedded as processes on 127.0.0.1; MODE=auto (the default)
# is compose where a Docker engine answers, embedded elsewhere. (`make help` asks no engine.)
MODE      ?= auto
ifeq ($(MODE),auto)
ifneq ($(filter-out help,$(or $(MAKECMDGOALS),help)),)
DOCKER_OK := $(shell docker info >/dev/null 2>&1 && echo yes)
endif
override MODE := $(if $(DOCKER_OK),compose,embedded)
endif
ifeq ($(filter $(MODE),compose embedded),)
$(error MODE=$(MODE) is not a mode here: choose compose, embedded or auto)
endif
# LocalStack (localstack-core) runs on Python 3.13: a python3.13 on PATH that runs (a pyenv shim may not), else pyenv's.
PYTHON313 ?= $(or $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null),$(lastword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13)))
# MiniStack runs Lambda functions on its own Python: on 3.12, the Lambda runtime's, it runs the real zip
# (make build's x86_64 wheels). Else the host's Python, and a zip built for it.
PYTHON312 ?= $(or $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null),$(lastword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12)),$(PYTHON))
PYTEST_ARGS ?=


.PHONY: help venv emulators up down e2e compose-tests images test-containers test check unit integration e2e-tests fuzz lint audit bench bench-peers soak typecheck build tf-check tf-approve tf-mutate tf-lock tf-local lock clean

help: ## list every target
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  variables: EMULATOR=ministack|moto|localstack  MODE=auto|compose|embedded  LAMBDA=1  PORT=4566  API_PORT=8080  PYTEST_ARGS=..."

# Every virtualenv installs from a hash-locked requirements/*.lock (make lock writes them from the *.txt pins):
# the same commit installs the same bytes, and a file that differs from its hash is refused.
PIP_LOCKED := pip install -q --require-hashes --no-deps -r

$(VENV)/.installed: pyproject.toml requirements/dev.lock
	@echo "make: installing the project's tools into $(VENV) from requirements/dev.lock (about 2 minutes, once)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/$(PIP_LOCKED) requirements/dev.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

# Each emulator's virtualenv: the Python its table entry names, its lock, then whatever else it needs offline
# (`pipeline emulator provision`: LocalStack's DynamoDB Local and host executor; nothing for the others).
PYTHON_FOR_3.11 = $(PYTHON)
PYTHON_FOR_3.12 = $(PYTHON312)
PYTHON_FOR_3.13 = $(PYTHON313)
EMULATOR_VENVS := $(BACKENDS:%=.venv-%/.installed)
$(EMULATOR_VENVS): .venv-%/.installed: requirements/%.lock | $(VENV)/.installed
	@if [ -z "$(PYTHON_FOR_$(call python_of,$*))" ]; then echo "EMULATOR=$* needs Python $(call python_of,$*) (pyenv install $(call python_of,$*), or Debian's python$(call python_of,$*)), or set PYTHON$(subst .,,$(call python_of,$*))=/path/to/python$(call python_of,$*)" >&2; exit 1; fi
	@echo "make: installing $* into .venv-$* (once; LocalStack takes a few minutes)"
	$(PYTHON_FOR_$(call python_of,$*)) -m venv .venv-$*
	.venv-$*/bin/$(PIP_LOCKED) requirements/$*.lock
	$(PY) -m pipeline emulator provision --backend $* --bin-dir .venv-$*/bin
	touch $@
.venv-localstack/.installed: localstack/host-executor/imgpipe_localstack/__init__.py

# The bench's peers: pyvips (prebuilt libvips) in a virtualenv of its own, sharp from npm into bench/peers/.
.venv-peers/.installed: requirements/peers.lock
	$(PYTHON) -m venv .venv-peers
	.venv-peers/bin/$(PIP_LOCKED) requirements/peers.lock
	touch $@

bench/peers/node_modules/.installed: bench/peers/package.json bench/peers/package-lock.json
	npm ci --prefix bench/peers --no-audit --no-fund --silent
	touch $@

.venv-checkov/.installed: requirements/checkov.lock
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/$(PIP_LOCKED) requirements/checkov.lock
	touch $@

# uv resolves each *.txt (exact pins of what we choose) into a *.lock with every transitive pin and its hashes,
# for the Python that virtualenv runs on (the Lambda zip: 3.12 on manylinux; dev: 3.11 here, 3.12 in the test image).
UV_COMPILE = $(VENV)/bin/uv pip compile --generate-hashes --no-header --quiet --index-url https://pypi.org/simple
lock: $(VENV)/.installed ## re-resolve requirements/*.lock from the *.txt pins (needs PyPI)
	$(UV_COMPILE) --universal --python-version 3.11 requirements/dev.txt requirements/runtime.txt -o requirements/dev.lock
	$(UV_COMPILE) --python-version 3.12 --python-platform x86_64-manylinux_2_28 requirements/runtime.txt -o requirements/runtime.lock
	$(UV_COMPILE) --python-version 3.11 requirements/checkov.txt -o requirements/checkov.lock
	$(UV_COMPILE) --python-version 3.11 requirements/peers.txt -o requirements/peers.lock
	$(foreach b,$(BACKENDS),$(UV_COMPILE) --python-version $(call python_of,$(b)) requirements/$(b).txt -o requirements/$(b).lock && ) true

venv: $(VENV)/.installed ## create the project virtualenv (.venv) with every tool

emulators: $(EMULATOR_VENVS) ## install every embedded emulator, each in its own virtualenv

COMPOSE_PROFILE := $(EMULATOR)
# Which image each service runs (upstream's, or the stand-in `make images` built) is resolved into this file.
COMPOSE_ENV := $(RUN_DIR)/compose.env
COMPOSE := PORT=$(PORT) API_PORT=$(API_PORT) docker compose -f docker-compose.yml$(if $(LAMBDA), -f docker-compose.lambda.yml)
RESOLVE_IMAGES = $(PY) -m pipeline.local.containers resolve --profile $(COMPOSE_PROFILE) --out $(COMPOSE_ENV)

up: $(VENV)/.installed ## start the emulator, create the resources, start the worker (all in the background)
ifeq ($(MODE),compose)
	@echo "make up: a Docker engine answers -> docker compose, profile $(COMPOSE_PROFILE) on $(ENDPOINT) (MODE=embedded runs without Docker)"
	@mkdir -p $(RUN_DIR) && rm -f $(RUN_DIR)/env
	@printf 'PORT ?= $(PORT)\nAPI_PORT ?= $(API_PORT)\nMODE ?= $(MODE)\n' > $(RUN_DIR)/up.mk
	@$(RESOLVE_IMAGES)
ifeq ($(LAMBDA),)
	$(COMPOSE) --env-file $(COMPOSE_ENV) --profile $(COMPOSE_PROFILE) up -d --build --wait
else ifeq ($(COMPOSE_PROFILE),moto)
	@echo "make up: LAMBDA=1 needs an emulator that runs functions: EMULATOR=ministack (or localstack with a registry)" >&2; exit 2
else
	@if grep -q '^LOCALSTACK_IMAGE=imgpipe-standin/' $(COMPOSE_ENV); then echo "make up: LAMBDA=1 on LocalStack needs upstream's image, its Lambda runtime image and GitHub at first use, none of which the offline stand-in has: use EMULATOR=ministack LAMBDA=1 (MiniStack runs the real zip in its container)" >&2; exit 2; fi
	$(COMPOSE) --env-file $(COMPOSE_ENV) --profile $(COMPOSE_PROFILE) up -d --wait $(COMPOSE_PROFILE)
	$(PY) scripts/build_zip.py --arch x86_64 --python-version 3.12 --out dist/lambda-x86_64.zip
	$(LOCAL_ENV) LAMBDA_ZIP=$(CURDIR)/dist/lambda-x86_64.zip TF_LOCAL_MODE=lambda TF_LOCAL_E2E=0 TF_LOCAL_DIR=$(abspath $(RUN_DIR))/tf-local \
	  TF_LOCAL_HTTP_API=$(if $(filter localstack,$(COMPOSE_PROFILE)),false,true) scripts/tf_local.sh && cp $(RUN_DIR)/tf-local/env $(RUN_DIR)/env
endif
	@echo "make up: stack is up on $(ENDPOINT)$(if $(LAMBDA),, with the page and API on http://127.0.0.1:$(API_PORT)/); logs: docker compose -p imgpipe logs; next: make e2e"
	@echo "make up: for the CLI here: export AWS_ENDPOINT_URL=$(ENDPOINT) PATH=$(CURDIR)/$(VENV)/bin:\$$PATH$(if $(LAMBDA),; . $(RUN_DIR)/env); then imgpipe status"
else
	@echo "make up: no Docker engine -> embedded $(EMULATOR) on $(ENDPOINT)$(if $(filter ministack,$(EMULATOR)), (EMULATOR=moto or EMULATOR=localstack for the others))"
	@$(MAKE) --no-print-directory .venv-$(EMULATOR)/.installed
	@mkdir -p $(RUN_DIR) && rm -rf $(RUN_DIR)/env $(RUN_DIR)/tf-local
	@printf 'PORT ?= $(PORT)\nAPI_PORT ?= $(API_PORT)\nMODE ?= $(MODE)\n' > $(RUN_DIR)/up.mk
	$(PY) -m pipeline emulator start --backend $(EMULATOR) --bin-dir .venv-$(EMULATOR)/bin --port $(PORT) \
	    --pidfile $(RUN_DIR)/emulator.pid --log $(RUN_DIR)/emulator.log
	$(LOCAL_ENV) $(PY) -m pipeline bootstrap > $(RUN_DIR)/stack.json
	@if [ -f $(RUN_DIR)/worker.pid ] && kill -0 $$(cat $(RUN_DIR)/worker.pid) 2>/dev/null; then \
	  echo "make up: the worker is already running (pid $$(cat $(RUN_DIR)/worker.pid))"; \
	else $(LOCAL_ENV) nohup $(PY) -m pipeline worker > $(RUN_DIR)/worker.log 2>&1 & echo $$! > $(RUN_DIR)/worker.pid; fi
	@if [ -f $(RUN_DIR)/api.pid ] && kill -0 $$(cat $(RUN_DIR)/api.pid) 2>/dev/null; then \
	  echo "make up: the API is already running (pid $$(cat $(RUN_DIR)/api.pid), port $$(cat $(RUN_DIR)/api.port 2>/dev/null)); make down first to move it"; \
	else $(LOCAL_ENV) nohup $(PY) -m pipeline api --port $(API_PORT) > $(RUN_DIR)/api.log 2>&1 & echo $$! > $(RUN_DIR)/api.pid; \
	  echo $(API_PORT) > $(RUN_DIR)/api.port; fi
	@# Success only once the API says it serves: a taken port ends it at once, and its one line is the error here.
	@for i in $$(seq 75); do \
	  if grep -q '^api: http' $(RUN_DIR)/api.log 2>/dev/null; then exit 0; fi; \
	  if ! kill -0 $$(cat $(RUN_DIR)/api.pid) 2>/dev/null; then \
	    echo "make up: the API did not start: $$(grep -v '^{' $(RUN_DIR)/api.log | tail -n 1) (make down stops the rest)" >&2; exit 2; fi; \
	  sleep 0.2; done; echo "make up: the API did not answer within 15 s; see $(RUN_DIR)/api.log" >&2; exit 2
	@echo "make up: worker pid $$(cat $(RUN_DIR)/worker.pid), page and API on http://127.0.0.1:$$(cat $(RUN_DIR)/api.port)/, logs in $(RUN_DIR)/; next: make e2e"
	@echo "make up: for the CLI here: export AWS_ENDPOINT_URL=$(ENDPOINT) PATH=$(CURDIR)/$(VENV)/bin:\$$PATH; then imgpipe status"
endif

down: ## stop the worker and the emulator (or the compose stack)
	@rm -f $(RUN_DIR)/env $(RUN_DIR)/up.mk
ifeq ($(MODE),compose)
	$(COMPOSE) --profile localstack --profile moto --profile ministack --profile tests down -v --remove-orphans
else
	@if [ -x $(PY) ]; then $(PY) -m pipeline stop $(RUN_DIR)/api.pid $(RUN_DIR)/worker.pid $(RUN_DIR)/emulator.pid; fi
endif

# Reads $(RUN_DIR)/env when `make up` left one (Lambda mode: the names terraform gave the resources).
e2e: $(VENV)/.installed ## upload samples/ to the running stack and check every outcome (after make up)
	@$(LOCAL_ENV) bash -c 'if [ -f $(RUN_DIR)/env ]; then . $(RUN_DIR)/env; fi; exec $(PY) -m pipeline e2e --samples samples'

compose-tests: $(VENV)/.installed ## run the integration + e2e suites in a container on the compose network (after make up, Docker only)
	@$(RESOLVE_IMAGES)
	$(COMPOSE) --env-file $(COMPOSE_ENV) --profile $(COMPOSE_PROFILE) --profile tests run --rm --build tests

images: $(VENV)/.installed ## build offline stand-ins for the images compose and the test fixtures name (needs Docker; see docs/containers.md)
	$(PY) -m pipeline.local.containers images

test-containers: $(VENV)/.installed ## the containers leg: an engine (started here if root with apt), make up/e2e/compose-tests/down per profile, testcontainers
	scripts/containers_leg.sh

LOCALSTACK_LEG ?= 1
# The containers leg (scripts/containers_leg.sh): skipped in one line where no engine answers and none can be started.
CONTAINERS_LEG ?= 1
test: $(VENV)/.installed .venv-ministack/.installed .venv-moto/.installed tests/iam/node_modules/.installed $(if $(filter 1,$(LOCALSTACK_LEG)),.venv-localstack/.installed) .venv-checkov/.installed lint ## lint, types, unit, integration, e2e, terraform (on EMULATOR), integration + e2e on LocalStack, then the containers leg
	EMULATOR=$(EMULATOR) $(PY) -m pytest $(PYTEST_ARGS)
ifeq ($(LOCALSTACK_LEG),1)
ifneq ($(EMULATOR),localstack)
	EMULATOR=localstack $(PY) -m pytest tests/integration tests/e2e $(LOCALSTACK_PYTEST_ARGS)
endif
endif
ifeq ($(CONTAINERS_LEG),1)
	scripts/containers_leg.sh
endif

# Before every commit, in under 4 minutes on 2 cores: lint, types, unit and static tests, and the integration suite
# on embedded MiniStack, and the terraform rules and review gate (the fuzzers, e2e, terraform runs, LocalStack and
# Docker are left to make test).
check: $(VENV)/.installed .venv-ministack/.installed ## the fast loop before a commit: ruff, mypy, unit, static, integration on MiniStack (no fuzzers)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	EMULATOR=ministack FAULT_PLANS=20 $(PY) -m pytest tests/unit tests/static tests/integration \
	  tests/terraform/test_rules.py tests/terraform/test_reviewed.py -q -x --durations=5 \
	  --ignore tests/unit/test_fuzz_imaging.py --ignore tests/unit/test_fuzz_containers.py $(PYTEST_ARGS)

unit: $(VENV)/.installed ## unit tests only (no network)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: $(VENV)/.installed .venv-$(EMULATOR)/.installed ## integration tests against the embedded emulator
	EMULATOR=$(EMULATOR) $(PY) -m pytest tests/integration $(PYTEST_ARGS)

e2e-tests: $(VENV)/.installed .venv-$(EMULATOR)/.installed ## e2e tests (worker, duplicates, DLQ, alarm, make up/e2e/down)
	EMULATOR=$(EMULATOR) $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

ARCH       ?= arm64
PY_TARGET  ?= 3.12
ZIP        ?= dist/lambda.zip
HOST_PY    := $(shell $(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

build: $(VENV)/.installed ## build dist/lambda.zip: the package + manylinux wheels (ARCH=arm64|x86_64, PY_TARGET=3.12)
	$(PY) scripts/build_zip.py --arch $(ARCH) --python-version $(PY_TARGET) --out $(ZIP)

TF_LOCK_PLATFORMS := linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64
tf-lock: ## recompute terraform/.terraform.lock.hcl for every platform (needs registry.terraform.io; CI checks it)
	terraform -chdir=terraform providers lock $(addprefix -platform=,$(TF_LOCK_PLATFORMS))

tests/iam/node_modules/.installed: tests/iam/package.json tests/iam/package-lock.json
	cd tests/iam && npm ci --no-audit --no-fund --loglevel=error
	touch $@

tf-check: $(VENV)/.installed .venv-checkov/.installed ## terraform fmt -check, init -backend=false, validate, terraform test (mock provider), checkov
	@cfg=$$(scripts/tf-cli-config.sh $(CURDIR)/.tfcli/terraformrc) && export TF_CLI_CONFIG_FILE=$$cfg && \
	  terraform -chdir=terraform fmt -check -recursive && \
	  terraform -chdir=terraform init -backend=false -input=false -no-color >/dev/null && \
	  terraform -chdir=terraform validate -no-color && \
	  terraform -chdir=terraform test -no-color
	.venv-checkov/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download

tf-approve: $(VENV)/.installed ## write terraform/ as it now is into tests/terraform/reviewed.json (the review gate): review its diff
	$(VENV)/bin/python -m tests.terraform.test_reviewed --write

MUTANTS ?= 60
tf-mutate: $(VENV)/.installed ## terraform mutation testing: MUTANTS (60, or all) generated mutants against validate, the static tests and terraform test; the score and every survivor
	$(VENV)/bin/python -m tests.terraform.mutate --count $(MUTANTS)

# MiniStack runs functions on its own Python (3.12 where there is one: then this is make build's x86_64 zip);
# LocalStack runs them in the real python3.12 image. The code is always the same, only the wheels' ABI could differ.
MINISTACK_PY = $(shell .venv-ministack/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null || echo $(HOST_PY))
TF_ZIP_PY = $(if $(filter localstack,$(EMULATOR))$(filter compose,$(MODE)),3.12,$(MINISTACK_PY))
tf-local: $(VENV)/.installed ## apply terraform/ with tflocal to the running emulator (make up first), then run the e2e on it
	$(PY) scripts/build_zip.py --arch x86_64 --python-version $(TF_ZIP_PY) --out dist/lambda-local.zip
	$(LOCAL_ENV) LAMBDA_ZIP=$(CURDIR)/dist/lambda-local.zip \
	  TF_LOCAL_MODE=$(if $(filter ministack,$(EMULATOR))$(filter compose,$(MODE)),lambda,worker) TF_LOCAL_DIR=$(abspath $(RUN_DIR))/tf-local \
	  TF_LOCAL_HTTP_API=$(if $(filter localstack,$(EMULATOR)),false,true) \
	  scripts/tf_local.sh

lint: $(VENV)/.installed ## ruff (lint + format check), mypy, and the dependency audit
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	scripts/audit.sh

audit: $(VENV)/.installed ## pip-audit of the runtime dependencies (says plainly when it cannot reach its service)
	scripts/audit.sh

bench: $(VENV)/.installed .venv-$(EMULATOR)/.installed .venv-peers/.installed bench/peers/node_modules/.installed ## imaging vs the reference handler, end to end, and peak memory of the worst input per format
	$(PY) bench/run.py --backend $(EMULATOR)
	$(PY) bench/memory.py
	$(PY) bench/cold_start.py --python $(PYTHON312)
	$(PY) bench/peers.py

bench-peers: $(VENV)/.installed .venv-peers/.installed bench/peers/node_modules/.installed ## the pipeline's job by us, sharp, pyvips and the reference, side by side (make bench runs it too)
	$(PY) bench/peers.py $(PEERS_ARGS)

FUZZ_S ?= 600
fuzz: $(VENV)/.installed ## fuzz the imaging core: bytes for FUZZ_S s, then containers built from parts for FUZZ_S/2 s; finds land in tests/data/fuzz/
	FUZZ_S=$(FUZZ_S) $(PY) -m pytest tests/unit/test_fuzz_imaging.py tests/unit/test_fuzz_containers.py -q $(PYTEST_ARGS)

SOAK_COUNT ?= 10000
SOAK_SIZE  ?= 320x240
soak: $(VENV)/.installed .venv-$(EMULATOR)/.installed ## a burst of SOAK_COUNT uploads (SOAK_SIZE) through the embedded emulator and worker, then reconcile
	$(PY) scripts/soak.py --count $(SOAK_COUNT) --size $(SOAK_SIZE) --concurrency 8 --backend $(EMULATOR)

typecheck: $(VENV)/.installed ## mypy only
	$(VENV)/bin/mypy

clean: down ## remove virtualenvs, run files and build output
	rm -rf $(VENV) $(BACKENDS:%=.venv-%) .venv-checkov .venv-peers bench/peers/node_modules tests/iam/node_modules .tfcli $(RUN_DIR) dist .pytest_cache .mypy_cache .ruff_cache
