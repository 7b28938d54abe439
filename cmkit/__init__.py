"""cmkit: keep a helpdesk's central customer database clean and correct.

import cmkit
cmkit.init(url, config)            # create or upgrade the schema, store the configuration
cm = cmkit.connect(url, user="admin")
"""

from cmkit.connection import connect, init
from cmkit.errors import (
    CMError,
    ConfigError,
    DiskFull,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StaleVersion,
    ValidationError,
)
from cmkit.facade import CustomerManager
from cmkit.services.activity_registry import activity
from cmkit.values import Customer, Outcome, Ticket

__version__ = "0.1.0"

__all__ = [
    "CMError",
    "ConfigError",
    "Customer",
    "CustomerManager",
    "DiskFull",
    "NotFound",
    "Outcome",
    "PermissionDenied",
    "PreconditionFailed",
    "StaleVersion",
    "Ticket",
    "ValidationError",
    "activity",
    "connect",
    "init",
]
