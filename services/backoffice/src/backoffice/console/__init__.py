"""The operator console: staff log in with a browser and see (and act on) what runs.

Server-rendered pages (Flask/Jinja, no front-end build) under /console/, and the same data as JSON under
/v1/console/ for scripts. Modules: session (log-in, cookie, CSRF), access (who may see a page), reports
(the data behind each page), dependencies (pins and what the index offers), graph (the SVG), views.
"""
from .views import blueprints

__all__ = ["blueprints"]
