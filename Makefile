# Acme Platform: local stack and test entry points.
# Everything is done by the stdlib-only orchestrator in deploy/acme_stack (see deploy/README.md);
# these targets only name its commands. Needs python3 >= 3.11 and the PostgreSQL server binaries.

PYTHON ?= python3
STACK  := $(PYTHON) deploy/stack.py

.DEFAULT_GOAL := help
.PHONY: help up down status clean test relock relock-tools publish

help:
	@echo "make up            start postgres, the private index, publish libs, install + start services"
	@echo "make down          stop everything 'make up' started (data stays in .run/)"
	@echo "make status        what is running"
	@echo "make test          all test suites against a throwaway postgres + index"
	@echo "make relock        regenerate deploy/index/mirror.{in,lock} and services/*/requirements.lock"
	@echo "make relock-tools  recompile deploy/requirements-tools.txt"
	@echo "make publish       build + publish libs/ to the private index"
	@echo "make clean         make down, then remove .run/"

up down status clean test relock relock-tools publish:
	@$(STACK) $@
