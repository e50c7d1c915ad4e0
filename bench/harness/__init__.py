"""The bench harness (bench/run.py runs it in its own venv). It reads and drives the stack through the
orchestrator's own code, deploy/acme_stack (stdlib-only, so importable from any python3 >= 3.11)."""
import sys
from pathlib import Path

_DEPLOY = str(Path(__file__).resolve().parents[2] / "deploy")
if _DEPLOY not in sys.path:
    sys.path.insert(0, _DEPLOY)
