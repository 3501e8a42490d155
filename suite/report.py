"""`report.md`: the experiment's tables and plots, the course report's figures beside ours."""

from __future__ import annotations


def fmt(value, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant figures, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) or hasattr(value, "dtype"):
        value = float(value)
        if value != value:  # NaN
            return "nan"
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def percent(value, digits: int = 2) -> str:
    """0.9842 -> '98.42%'."""
    return "–" if value is None else f"{100 * float(value):.{digits}f}%"


class Report:
    """A Markdown report built section by section.

    Example:
        report = Report("Initialisation", "784-500-400-10 ReLU, lr 7e-4, batch 64.")
        report.table(["init", "loss"], [["glorot", 0.52]])
        report.image("loss.png", "Mean training loss per epoch")
        run.write_report(report)
    """

    def __init__(self, title: str, intro: str = ""):
        self.parts = [f"# {title}\n"]
        if intro:
            self.parts.append(intro.strip() + "\n")

    def heading(self, text: str, level: int = 2) -> Report:
        self.parts.append(f"{'#' * level} {text}\n")
        return self

    def paragraph(self, text: str) -> Report:
        self.parts.append(text.strip() + "\n")
        return self

    def table(self, headers, rows, digits: int = 4) -> Report:
        lines = ["| " + " | ".join(str(h) for h in headers) + " |",
                 "| " + " | ".join("---" for _ in headers) + " |"]
        lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
        self.parts.append("\n".join(lines) + "\n")
        return self

    def compare(self, rows, source: str = "../shared/REPORTED.md") -> Report:
        """A 'reported vs reproduced' table: rows of (what, reported, reproduced)."""
        self.heading("Reported beside reproduced", 2)
        self.paragraph(f"Reported figures are the course reports' (as listed in `{source}`).")
        return self.table(["figure", "course report", "this run"], rows)

    def image(self, filename: str, caption: str) -> Report:
        self.parts.append(f"![{caption}]({filename})\n\n*{caption}*\n")
        return self

    def render(self) -> str:
        return "\n".join(self.parts)
