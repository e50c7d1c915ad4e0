# gunicorn settings of the all-in-one deployable (make up SHAPE=monolith): the platform's, plus each
# installed service's worker hooks (fulfillment's consumer). See acme_platform.allinone.
from acme_platform.allinone import configure
configure(globals())
