"""CI mode: efficiency rules from .dive-ci, their evaluation and the reports."""
