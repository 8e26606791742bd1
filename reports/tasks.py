"""Celery tasks of the reports module: thin, they take ids and call a service."""

from __future__ import annotations
