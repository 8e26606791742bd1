from .access import ModuleAccess

__all__ = ["ModuleAccess"]
