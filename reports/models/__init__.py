from .access import ModuleAccess
from .jobs import DocumentJob  # noqa: F401
from .saved import SavedReport, ScheduledRun  # noqa: F401

__all__ = ["ModuleAccess"]
