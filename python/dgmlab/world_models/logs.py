"""CSV metric logs shared by every training loop (namespaced keys such as ``losses/recon``)."""

from __future__ import annotations

import csv
from pathlib import Path


def append_csv(path: str | Path, rows: list[dict]) -> None:
    """Append ``rows`` to ``path``, writing the header when the file is new."""
    if not rows:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        if new:
            writer.writeheader()
        writer.writerows(rows)


def read_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a metrics CSV as floats."""
    with Path(path).open() as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def drop_rows_from(path: str | Path, key: str, start: float) -> None:
    """Remove rows whose ``key`` is >= ``start`` (rows logged after the last checkpoint of a killed run)."""
    path = Path(path)
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    col = lines[0].rstrip("\r\n").split(",").index(key)
    kept = [line for line in lines[1:] if float(line.split(",")[col]) < start]
    path.write_text("".join(lines[:1] + kept))
