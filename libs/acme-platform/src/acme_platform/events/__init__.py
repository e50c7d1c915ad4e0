"""Events through Postgres: a transactional outbox per domain, consumer groups, and cache invalidation."""
