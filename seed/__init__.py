"""The case-study data: schema as SQLAlchemy tables and the deterministic generator."""
