"""CSV metrics with namespaced keys (``rollout/ep_return_mean``, ``time/rollout_s``, ...), appended per iteration."""

from __future__ import annotations

import csv
from pathlib import Path


class MetricsCSV:
    """Append rows to a CSV file; the header is the first row's keys (and is kept when a run resumes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fields: list[str] | None = None
        if self.path.is_file() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as f:
                self.fields = next(csv.reader(f))

    def write(self, row: dict[str, float]) -> None:
        new_file = self.fields is None
        if new_file:
            self.fields = list(row)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
