from acme_platform.gunicorn_conf import configure
configure(globals(), port_env="STOREFRONT_PORT", default_port=8001)
