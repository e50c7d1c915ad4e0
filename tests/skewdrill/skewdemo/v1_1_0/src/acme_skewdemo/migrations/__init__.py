"""Alembic environment of the skewdemo domain (schema `skewdemo`)."""
