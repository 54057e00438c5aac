"""The report stage's config (``medmat report``, a study's ``report:``)."""

from __future__ import annotations

from pydantic import Field

from medmat.config import StrictConfig


class ReportConfig(StrictConfig):
    """What ``write_report`` draws from results.json."""

    out: str | None = Field(None, description="Report folder (default RUN_DIR/report).")
    figures: bool = Field(True, description="Draw the figures (matplotlib) into the report.")
    html: bool = Field(True, description="Also write the self-contained report.html.")
