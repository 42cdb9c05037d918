"""The run report: what was found, used and skipped (and why), bytes written, time taken."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Skip:
    """One scene (or a whole AOI/sensor group) left out, with a reason key and a human-readable detail.

    Attributes:
        aoi: the ``<aoi>/<sensor>`` group the scene was searched for.
    """

    aoi: str
    item_id: str
    reason: str
    detail: str


@dataclass
class RunReport:
    """Mutable record of one run, filled in stage by stage and saved as ``run-report.json``."""

    benchmark: str
    found: dict[str, int] = field(default_factory=dict)
    used: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    bytes_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    up_to_date: bool = False
    chips: dict[str, Any] = field(default_factory=dict)

    def skip(self, aoi: str, item_id: str, reason: str, detail: str) -> None:
        """Record a scene that was left out."""
        self.skipped.append(Skip(aoi, item_id, reason, detail))

    def record_chips(self, summaries: Any) -> None:
        """Record what the chip stage made (:class:`~ml4earth_stac.chipping.ChipSummary` per sensor)."""
        self.chips = {summary.sensor: _chip_record(summary) for summary in summaries}

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the wall time of a ``with`` block to ``seconds[stage]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    @property
    def scenes_used(self) -> int:
        """Scenes written to the cube, over all AOIs."""
        return sum(len(ids) for ids in self.used.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (also what the flow returns)."""
        data = asdict(self)
        data["scenes_found"] = sum(self.found.values())
        data["scenes_used"] = self.scenes_used
        data["skip_reasons"] = dict(Counter(s.reason for s in self.skipped))
        return data

    def save(self, path: Path) -> None:
        """Write the report as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str))

    def print_summary(self, console: Console | None = None) -> None:
        """Print the run summary table and the skip reasons."""
        console = console or Console()
        table = Table(title=f"ml4earth run summary: {self.benchmark}")
        for column in ("AOI/sensor", "found", "used", "skipped"):
            table.add_column(column, justify="right" if column != "AOI/sensor" else "left")
        skipped = Counter(s.aoi for s in self.skipped)
        for aoi in sorted(set(self.found) | set(self.used)):
            table.add_row(
                aoi, str(self.found.get(aoi, 0)), str(len(self.used.get(aoi, []))), str(skipped[aoi])
            )
        console.print(table)
        for skip in self.skipped:
            console.print(f"  [yellow]skipped[/] {skip.aoi} {skip.item_id}: {skip.reason} - {skip.detail}")
        for sensor, chips in self.chips.items():
            per_split = ", ".join(f"{split} {n}" for split, n in chips["per_split"].items())
            dropped = ", ".join(f"{reason} {n}" for reason, n in chips["dropped"].items()) or "none"
            console.print(f"chips of {sensor}: {per_split} (dropped: {dropped})")
            for unused in chips["unused_labels"][:10]:
                console.print(f"  [yellow]label unused[/] {unused['label']}: {unused['reason']}")
        timings = ", ".join(f"{stage} {secs:.1f}s" for stage, secs in self.seconds.items())
        console.print(f"bytes written: {self.bytes_written / 1e6:.1f} MB; time: {timings}")
        if self.up_to_date:
            console.print("[green]nothing new: the published benchmark was already up to date[/]")
        for name, location in self.outputs.items():
            console.print(f"{name}: {location}")


def _chip_record(summary: Any) -> dict[str, Any]:
    return {
        "per_split": dict(summary.counts),
        "dropped": dict(summary.dropped),
        "unused_labels": [{"label": label, "reason": reason} for label, reason in summary.unused_labels],
        "class_pixels": {
            split: {str(k): v for k, v in c.items()} for split, c in summary.class_counts.items()
        },
        "splits": summary.assignment,
    }
