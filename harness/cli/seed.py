"""Command-line modules for seed; filled by the seed work."""
