"""Data access: schema, migrations, engine and the unit of work. Commits happen only in the unit of work."""

# Modules whose tables extend Base.metadata: imported here so that migrations and tests see every table.
from cmkit.db import details_schema  # noqa: E402,F401
