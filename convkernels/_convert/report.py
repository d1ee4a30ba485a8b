"""What :func:`convkernels.convert` did: one record per swap and per skip, printable as a table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterator, Optional


@dataclass(frozen=True)
class Record:
    path: str                 # module path in the model ("" = the model itself)
    source: str               # what was there, e.g. "Conv2d -> BatchNorm2d -> ReLU"
    target: str               # what replaced it ("" for a skip)
    status: str               # "swapped" | "skipped"
    reason: str = ""          # why skipped; for a swap, anything worth knowing
    backend: Optional[str] = None


class ConvertReport:
    """The list of :class:`Record` s, in the order the model was walked.

    ``print(report)`` shows a table; ``report.records`` (or iterating) gives the records;
    ``report.swapped`` / ``report.skipped`` filter them; ``report.to_dicts()`` is JSON-able.
    """

    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, path: str, source: str, target: str = "", *, status: str = "swapped",
            reason: str = "", backend: Optional[str] = None) -> None:
        self.records.append(Record(path, source, target, status, reason, backend))

    def skip(self, path: str, source: str, reason: str) -> None:
        self.add(path, source, status="skipped", reason=reason)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def swapped(self) -> list[Record]:
        return [r for r in self.records if r.status == "swapped"]

    @property
    def skipped(self) -> list[Record]:
        return [r for r in self.records if r.status == "skipped"]

    def to_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.records]

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for r in self.swapped:
            kinds[r.source] = kinds.get(r.source, 0) + 1
        parts = ", ".join(f"{n}x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        return (f"{len(self.swapped)} swapped" + (f" ({parts})" if parts else "")
                + f", {len(self.skipped)} skipped")

    def __str__(self) -> str:
        header = ("module", "from", "to", "backend", "note")
        rows = [(r.path or "(model)", r.source, r.target if r.status == "swapped" else "-",
                 (r.backend or "auto") if r.status == "swapped" else "",
                 r.reason if r.status == "swapped" else f"skipped: {r.reason}")
                for r in self.records]
        # Columns padded to their longest cell (at most 60 characters); the note is not cut.
        widths = [min(max([len(h)] + [len(row[i]) for row in rows]), 60)
                  for i, h in enumerate(header[:-1])]

        def line(cells):
            padded = [c[:w].ljust(w) for c, w in zip(cells[:-1], widths, strict=True)]
            return "  ".join(padded + [cells[-1]]).rstrip()
        out = [line(header), line(["-" * w for w in widths] + ["----"])] + [line(r) for r in rows]
        return "\n".join(out + ["", self.summary()])

    def __repr__(self) -> str:
        return f"ConvertReport({self.summary()})"
