"""Per-domain observability: every call into a domain's public API is a span and a set of metrics.

Domains do not write any of it. A domain package ends its `__init__` with

    instrument_domain(__name__)

and the platform replaces every function named in the package's `__all__` by an observed one
(classes, values and exceptions stay as they are); `installed_domains()` does the same for a domain
that does not (one built against acme-platform 0.4.0), at registration. See calls.py for what one
observed call records, and acme_platform.web.tracing for how a service turns the SDK on.
"""
from .calls import instrument_domain, is_instrumented

__all__ = ["instrument_domain", "is_instrumented"]
