"""The one table the harness prints, as aligned text or as Markdown."""
from __future__ import annotations

from .results import Figure, ScenarioResult


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _range(figure: Figure) -> str:
    if len(figure.samples) < 2:
        return "(1 run)"
    return f"{_number(figure.low, figure.digits)} – {_number(figure.high, figure.digits)}"


def rows(results: list[ScenarioResult]) -> list[list[str]]:
    table = []
    for result in results:
        if result.skipped:
            table.append([result.id, f"skipped: {result.skipped}", "", "", "", ""])
            continue
        if result.failures and not any(f.samples for f in result.figures):
            table.append([result.id, "FAILED (see below)", "", "", "", ""])
            continue
        for figure in result.figures:
            if not figure.samples:
                continue
            table.append([result.id, figure.name, _number(figure.median, figure.digits),
                          _range(figure), figure.unit, str(len(figure.samples))])
    return table


HEADER = ["Scenario", "Figure", "Median", "Min – max", "Unit", "Runs"]
RIGHT = {2, 3, 5}


def text(results: list[ScenarioResult]) -> str:
    table = [HEADER, *rows(results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = []
    for n, row in enumerate(table):
        cells = [cell.rjust(widths[i]) if i in RIGHT else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(results: list[ScenarioResult]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |",
             "|" + "|".join("---:" if i in RIGHT else "---" for i in range(len(HEADER))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)
