"""The promotion module's models, one file per part (see docs/sales.md)."""

from .access import ModuleAccess

__all__ = ["ModuleAccess"]
