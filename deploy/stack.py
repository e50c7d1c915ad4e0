#!/usr/bin/env python3
"""Entry point that works without PYTHONPATH: `python3 deploy/stack.py up`."""
import sys
from pathlib import Path

# Putting deploy/ on sys.path here (instead of PYTHONPATH in the Makefile) keeps PYTHONPATH
# out of the environment of every service and test process the orchestrator starts.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from acme_stack.cli import main

sys.exit(main())
