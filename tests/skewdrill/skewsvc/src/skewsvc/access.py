"""The drill service's database access (acmectl roles derives its login role from this)."""
from acme_platform.roles import ServiceAccess

ACCESS = ServiceAccess(service="skewsvc", connection_limit=30)
