"""The campaigns module's models, one file per part (see docs/campaigns.md)."""

from .access import ModuleAccess

__all__ = ["ModuleAccess"]
