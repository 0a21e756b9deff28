"""Command-line modules for migrate; filled by the migrations work."""
