# Acme Platform: local stack and test entry points.
# Everything is done by the stdlib-only orchestrator in deploy/acme_stack (see deploy/README.md);
# these targets only name its commands. Needs python3 >= 3.11 (PostgreSQL: the system's, else an embedded one).

PYTHON ?= python3
STACK  := $(PYTHON) deploy/stack.py

.DEFAULT_GOAL := help
.PHONY: help up dev down status clean test drill-failover check generate codeowners relock relock-tools publish

help:
	@echo "make up            start postgres, the private index, publish libs, install + start services"
	@echo "make up SHAPE=monolith  the same, with every service in ONE gunicorn (:8005, /storefront/..., /backoffice/...)"
	@echo "make dev           like make up, but libs/ and services/ run editable from the working tree, reloading on save"
	@echo "make down          stop everything 'make up' started (data stays in .run/)"
	@echo "make status        what is running"
	@echo "make test          make check, then all test suites against a throwaway postgres + index"
	@echo "make drill-failover  the standby failover drill alone: orders acknowledged, present, seconds to recover"
	@echo "make check         static checks: import boundaries, schema ownership in SQL, CODEOWNERS, ruff, mypy (path:line: message)"
	@echo "make generate      rewrite .github/CODEOWNERS and libs|services/*/.importlinter from the declared owners"
	@echo "make relock        regenerate deploy/index/mirror.{in,lock} and services/*/requirements.lock"
	@echo "make relock-tools  recompile deploy/requirements-tools.txt"
	@echo "make publish       build + publish libs/ to the private index"
	@echo "make clean         make down, then remove .run/"
	@echo "make release      LIB=acme-<domain>: tests, version/changelog, semver + migration gates, build, upload"
	@echo "make bump         SERVICE=<name> LIB=acme-<domain> VERSION=<v>: pin a published version, re-lock"
	@echo "make deps         which service pins which library version, what is newer on the index (JSON=1)"
	@echo "make drill-multihost  the multi-host drill alone: 5 network namespaces, HAProxy, an app host killed under load (root)"
	@echo "make manifests    render + validate deploy/k8s offline, hadolint every Dockerfile (tools venv)"
	@echo "make bench        L vs H vs F benchmark into bench/results/ (needs make up; < 10 min)"
	@echo "make bench-quick  the same in < 2 min"

down status clean test drill-failover check generate relock relock-tools publish dev:
	@$(STACK) $@

# SHAPE=monolith: storefront, backoffice and fulfillment's consumer in one gunicorn (deploy/README.md).
up:
	@$(STACK) up $(if $(SHAPE),--shape "$(SHAPE)")

# CODEOWNERS is one of the files `make generate` derives from the declarations.
codeowners: generate

# Release pipeline (deploy/acme_stack/{release,bump,deps}.py; see deploy/README.md).
.PHONY: release bump deps
release:
	@$(STACK) release "$(LIB)"

bump:
	@$(STACK) bump --service "$(SERVICE)" --lib "$(LIB)" --version "$(VERSION)"

deps:
	@$(STACK) deps $(if $(filter-out 0,$(JSON)),--json)

# Benchmarks (bench/README.md): never part of make test.
.PHONY: bench bench-quick
bench:
	@$(PYTHON) bench/run.py

bench-quick:
	@$(PYTHON) bench/run.py --quick

# The multi-host drill alone (tests/test_multihost_drill.py, deploy/README.md): network namespaces, HAProxy; root.
.PHONY: drill-multihost
drill-multihost:
	@ACME_TEST_FILES=test_multihost_drill.py $(STACK) test

# Cluster manifests (deploy/k8s/README.md): offline render + validation with the tools venv's pinned tools.
.PHONY: manifests
manifests:
	@test -x .run/tools/bin/python || { echo "no tools venv (.run/tools): run make up or make test first"; exit 1; }
	@.run/tools/bin/python deploy/k8s/validate.py
