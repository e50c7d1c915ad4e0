"""The private index process: pypiserver's app behind the upload policy, served by waitress.

Run as a script with the tools venv's python (never imported by the orchestrator):

    python index_server.py <settings.json>

settings.json (written by index.py) holds pypiserver's own command-line arguments, the host/port and
the ownership registry's path; no secret is in it or on this command line (passwords live only in the
htpasswd file it names). This is pypiserver's `main()` minus the server choice, plus one middleware:
`pypi-server run` has no way to put a WSGI layer in front of its app.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def main(settings_path: str) -> None:
    settings = json.loads(Path(settings_path).read_text())
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # index_policy.py lives next to us

    import pypiserver
    import waitress
    from index_policy import Registry, UploadPolicy
    from pypiserver import bottle_wrapper
    from pypiserver.__main__ import init_logging
    from pypiserver.config import Config
    from pypiserver.pkg_helpers import guess_pkgname_and_version

    config = Config.from_args(["run", *settings["pypiserver_args"]])
    init_logging(level=config.log_level, filename=config.log_file, frmt=config.log_frmt,
                 stream=config.log_stream)
    app = pypiserver.setup_routes_from_config(pypiserver.app_from_config(config), config)

    def project_of(filename: str) -> str:
        guessed = guess_pkgname_and_version(filename)
        return guessed[0] if guessed else ""

    guarded = UploadPolicy(app, Registry.load(settings["owners"]), request_class=bottle_wrapper.BaseRequest,
                           check_password=config.auther, project_of=project_of,
                           exists=config.backend.exists)
    waitress.serve(guarded, host=settings["host"], port=settings["port"], ident="waitress")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: index_server.py <settings.json>")
    main(sys.argv[1])
