"""Figures of a scenario: one sample per run, summarised as median and min-max."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field


class Skip(Exception):
    """Raised by a scenario that cannot run here (a missing service); not a failure."""


@dataclass
class Figure:
    name: str
    unit: str
    digits: int = 0            # decimals printed
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)


@dataclass
class RunSample:
    """What one measured run of a scenario gives: its figures, its failed checks, and why its
    figures cannot be trusted (another job took CPU time on a pinned CPU), if so."""
    figures: list[tuple[str, str, float, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    disturbed: str = ""

    def add(self, name: str, unit: str, value: float, digits: int = 0) -> None:
        self.figures.append((name, unit, float(value), digits))

    def check(self, condition: bool, message: str) -> bool:
        if not condition:
            self.failures.append(message)
        return condition


@dataclass
class ScenarioResult:
    id: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def add(self, name: str, unit: str, value: float, digits: int = 0) -> None:
        """Appends one run's sample to the figure `name` (created on first use, in order)."""
        for figure in self.figures:
            if figure.name == name:
                figure.samples.append(float(value))
                return
        self.figures.append(Figure(name, unit, digits, [float(value)]))

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def check(self, condition: bool, message: str) -> bool:
        if not condition:
            self.fail(message)
        return condition

    def to_json(self) -> dict:
        return {
            "id": self.id, "title": self.title, "skipped": self.skipped,
            "failures": self.failures, "notes": self.notes,
            "figures": [{"name": f.name, "unit": f.unit, "digits": f.digits,
                         "samples": f.samples, "median": f.median, "min": f.low, "max": f.high}
                        for f in self.figures if f.samples],
        }
