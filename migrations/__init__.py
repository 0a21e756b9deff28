"""Numbered plain-SQL migrations of the case-study schema (``NNNN_name.sql``, optional ``NNNN_name.down.sql``)."""
