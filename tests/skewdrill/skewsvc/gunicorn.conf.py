from acme_platform.gunicorn_conf import configure
configure(globals(), port_env="SKEWSVC_PORT", default_port=8099)
