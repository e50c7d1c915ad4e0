# The platform's gunicorn settings (gevent, ACME_WEB_WORKERS workers, ...), exactly as the storefront's.
from acme_platform.gunicorn_conf import configure

configure(globals(), port_env="BENCH_PORT", default_port=8110)
