from acme_platform.gunicorn_conf import configure
from fulfillment.gunicorn_hooks import run_consumer_in_worker
configure(globals(), port_env="FULFILLMENT_PORT", default_port=8003)
run_consumer_in_worker(globals())  # one worker; its consumer loop starts after the platform's hooks
