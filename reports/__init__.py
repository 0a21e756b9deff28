"""Report templates; generated reports go to reports/out/ (git-ignored)."""
