"""The throwaway stack `make test` runs the suites against: PostgreSQL and the private index on free
ports in a temp dir, the mirror, this tree's libraries published; and the environment each suite gets.
The same components `make up` runs (postgres.Cluster, index.ensure, mirror.sync, publish.publish_all),
only throwaway."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from .. import config, index, mirror, postgres, proc, publish, relock, supervisor, tools
from ..config import Layout
from ..ui import Progress, StackError, rel


class ThrowawayStack:
    def __init__(self, root: Path):
        self.root = root
        self.tmp = Path(tempfile.mkdtemp(prefix="acme-test-"))
        # The postgres OS user must traverse into the cluster directory.
        os.chmod(self.tmp, 0o755)
        self.layout = Layout(root=root, run=self.tmp, tools=config.tools_dir(root))
        self.cluster: postgres.Cluster | None = None
        self.idx: index.Index | None = None

    def setup(self) -> None:
        ui = Progress(5)
        ui.step("tools venv (shared with make up)…")
        ui.item(tools.ensure(self.layout, self.layout.log("tools")))
        ui.step("throwaway PostgreSQL on a free port…")
        self.cluster = postgres.Cluster(self.layout, proc.free_port(), throwaway=True)
        self.cluster.ensure()
        ui.item(f"127.0.0.1:{self.cluster.port} ({self.cluster.server.describe()})")
        ui.step("throwaway package index on a free port…")
        self.idx, _ = index.ensure(self.layout, proc.free_port(), with_test_fixtures=True)
        ui.item(self.idx.simple_url)
        ui.step("mirroring third-party wheels…")
        ui.item(mirror.sync(self.layout, self.layout.log("mirror")))
        if relock.mirror_in_is_stale(self.root):
            ui.item(relock.STALE_WARNING)
        ui.step("publishing libraries from this tree…")
        publish.publish_all(self.layout, self.idx, ui)

    # -- what every suite is handed ------------------------------------------------------------
    def suite_env(self, venv: Path) -> dict[str, str]:
        assert self.cluster is not None and self.idx is not None, "setup() starts both first"
        pg = self.cluster.info()
        return proc.isolated_env({
            "ACME_TEST_DATABASE_URL": pg.url("postgres"),
            # The read-only deploy login (downloads); uploads take the owning team's publish login
            # from ACME_TEST_INDEX_TEAMS/<team>.
            "ACME_TEST_INDEX_URL": self.idx.simple_url_with_auth(),
            "ACME_TEST_INDEX_UPLOAD_URL": self.idx.upload_url,
            "ACME_TEST_INDEX_USER": self.idx.user,
            "ACME_TEST_INDEX_PASSWORD": self.idx.password,
            "ACME_TEST_INDEX_TEAMS": str(self.idx.teams),
            "ACME_TEST_TOOLS_BIN": str(self.layout.tools_bin),
            "ACME_TEST_SERVICE_VENVS": str(self.service_venvs),
            "ACME_REPO_ROOT": str(self.root),
            # What a suite wants kept for people to look at (the console's screenshots): copied to
            # .run/test-logs/artifacts with the logs when the run ends.
            "ACME_TEST_ARTIFACTS": str(self.artifacts),
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONDONTWRITEBYTECODE": "1",
            # Suites' temp files (and anything they start there) live inside our temp dir, so the
            # final cleanup finds and removes whatever a killed suite left behind.
            "TMPDIR": str(self.suite_tmp),
        }, drop=("DATABASE_URL",))

    def _shared_dir(self, name: str) -> Path:
        """A folder inside the run's temp dir that every suite (whatever user it runs as) may write."""
        path = self.tmp / name
        if not path.exists():
            path.mkdir()
            os.chmod(path, 0o1777)
        return path

    @property
    def suite_tmp(self) -> Path:
        return self._shared_dir("tmp")

    @property
    def artifacts(self) -> Path:
        return self._shared_dir("artifacts")

    @property
    def service_venvs(self) -> Path:
        return self.tmp / "service-venvs"

    # -- the end -------------------------------------------------------------------------------
    @property
    def saved_logs(self) -> Path:
        return self.root / ".run" / "test-logs"

    def save_logs(self) -> None:
        """Keep the last run's logs after the temp dir is gone (the only thing written to .run/)."""
        try:
            shutil.rmtree(self.saved_logs, ignore_errors=True)
            for sub in ("logs", "suite-logs", "artifacts"):
                if (self.tmp / sub).is_dir():
                    shutil.copytree(self.tmp / sub, self.saved_logs / sub)
        except OSError:
            pass

    def teardown(self) -> None:
        """Stop the servers, kill whatever a suite left running under the temp dir, keep the logs, remove it."""
        try:
            supervisor.stop(self.layout.pids, index.NAME, timeout=5)
        except Exception as e:  # noqa: BLE001 - cleanup must go on whatever failed before
            print(f"warning: stopping the test index: {e}", file=sys.stderr)
        if self.cluster is not None:
            try:
                self.cluster.stop("immediate")
            except Exception as e:  # noqa: BLE001 - cleanup must go on whatever failed before
                print(f"warning: stopping the test cluster: {e}", file=sys.stderr)
        leftovers = supervisor.kill_under(self.tmp)
        if leftovers:
            print(f"warning: killed {leftovers} process(es) left running under {self.tmp}", file=sys.stderr)
        self.save_logs()
        keep = os.environ.get("ACME_TEST_KEEP", "").strip() not in ("", "0")
        if keep:
            print(f"kept {self.tmp} (ACME_TEST_KEEP)")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def print_error(self, e: StackError) -> None:
        if e.detail:
            print(e.detail, file=sys.stderr)
        where = ""
        if e.log:
            # The temp dir is removed at the end; its logs are copied to .run/test-logs.
            try:
                where = f" (log: {rel(self.saved_logs / Path(e.log).relative_to(self.tmp), self.root)})"
            except ValueError:
                where = f" (log: {e.log})"
        print(f"error: {e.message}{where}", file=sys.stderr)
