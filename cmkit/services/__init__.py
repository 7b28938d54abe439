"""The operations behind the facade, one concern a module; each runs in one unit of work."""
