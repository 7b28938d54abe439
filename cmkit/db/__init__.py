"""Data access: schema, migrations, engine and the unit of work. Commits happen only in the unit of work."""
