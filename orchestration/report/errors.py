"""The run report's one error, which every part of ``orchestration.report`` raises and the CLI prints as one line."""
from __future__ import annotations


class ReportError(ValueError):
    """A run report cannot be written or read: a malformed summary, or a run directory without a complete report."""
