"""See DESIGN.md in docs/ for what this package holds."""
