# Entry points for developers and CI; deploy/local/README.md describes the local stack.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# `pip install uv` may put uv where PATH does not look (a pyenv shim not yet rehashed).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
STACK = $(UV) run --frozen python deploy/local/stack.py
PART ?=
DEMO_CLOCK ?=
ASYNCAPI_DIR ?= contracts/asyncapi
SERVICE_NAMES := identity certificate review qualification exam order

.PHONY: help bootstrap up down status logs clean test images compose-smoke lock asyncapi

help:
	@echo "make bootstrap   install missing tools, sync the uv environment, fetch Kafka, build FerretDB and versitygw"
	@echo "make up          start the whole stack on 127.0.0.1 (DEMO_CLOCK=1 gives the services a settable clock)"
	@echo "make down        stop what 'make up' started; data stays in .stack/data"
	@echo "make status      show each part with its state, pid, port and memory"
	@echo "make logs        show the end of every log (PART=kafka for one part)"
	@echo "make clean       stop the stack and delete .stack/data"
	@echo "make test        build the test images, then run the unit and integration tests"
	@echo "make images      build the Kafka, FerretDB and versitygw images with Podman (no registry needed)"
	@echo "make compose-smoke  build every image and run deploy/compose under Podman, checked through the gateway"
	@echo "make lock        update uv.lock"
	@echo "make asyncapi    regenerate contracts/asyncapi/<service>-svc.json from the services' subscribers"
	@echo "make faults      run the demo clean, then under kills, restarts and bad messages, and compare (FAULTS_ARGS=\"--seed N\")"

bootstrap:
	bash deploy/local/bootstrap-system.sh
	$(UV) sync --frozen
	$(STACK) build

up: bootstrap
	$(STACK) up $(if $(filter 1,$(DEMO_CLOCK)),--demo-clock)

down:
	$(STACK) down

status:
	$(STACK) status

logs:
	$(STACK) logs $(PART)

clean: down
	rm -rf .stack/data

# The integration tests run on containers started by testcontainers when Podman or Docker works,
# so the infrastructure images are built first (cached: a second build takes seconds).
test: images
	$(UV) run --frozen pytest

images:
	deploy/images/build.sh --install infra

compose-smoke:
	deploy/images/build.sh --install all
	BANGKE_COMPOSE_SMOKE=1 $(UV) run --frozen pytest tests/smoke

lock:
	$(UV) lock

# Drives the running stack through the gateway; it checks every service's /readyz first and says
# how to start the stack when one is not ready. It moves the services' clock (.stack/demo-clock).
demo:
	$(UV) run --frozen python -m scenarios.demo

# The same generation as tests/test_asyncapi_current.py, which compares the checked-in files with it.
asyncapi:
	mkdir -p $(ASYNCAPI_DIR)
	$(UV) run --frozen python -c 'import importlib, json, pathlib, sys; \
	  [pathlib.Path(sys.argv[1], f"{name}-svc.json").write_text( \
	    json.dumps(importlib.import_module(f"{name}_svc.asyncapi").app.schema.to_specification().to_jsonable(), \
	               indent=2, ensure_ascii=False) + "\n") for name in sys.argv[2:]]' \
	  $(ASYNCAPI_DIR) $(SERVICE_NAMES)

# End-to-end latency, throughput and memory on the running stack of `make up` (scenarios/bench).
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--rate 20" for a run that seeds fewer engineers.
.PHONY: bench
BENCH_ARGS ?=
bench:
	$(UV) run --frozen python -m scenarios.bench $(BENCH_ARGS)

# The demo once clean and once under faults (kill -9 of every service, Kafka and FerretDB restarts,
# duplicated and malformed messages), then the final states compared (scenarios/faults/README.md).
.PHONY: faults
FAULTS_ARGS ?=
faults:
	$(UV) run --frozen python -m scenarios.faults $(FAULTS_ARGS)
