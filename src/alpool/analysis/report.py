"""Render the analysis as ``report.md`` (figures linked) and a self-contained ``report.html``.

The HTML embeds every figure as a base64 PNG and every table as HTML, so the one file can be sent
around. Long tables are cut to :data:`MAX_ROWS` rows in the report; the CSV next to it is complete.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MAX_ROWS = 60
CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1360px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; } td { background: #fff; } tr:nth-child(even) td { background: #fafafa; }
th.t, td.t { text-align: left; white-space: nowrap; }
td:first-child, th:first-child { text-align: left; position: sticky; left: 0; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; } .note { color: #8a4b00; }
.scroll { overflow-x: auto; }
"""
NUMBER = re.compile(r"^([-+]?[\d.]|NaN$|inf$|-inf$)")  # a cell that reads as a number (or mean ± std)


@dataclass
class TableItem:
    """A table of the report, also written as ``<name>.csv``.

    ``shown`` replaces ``frame`` in the report (e.g. a condensed view); ``detail`` tables are moved
    to the report's last section so figures come first.
    """

    name: str
    caption: str
    frame: pd.DataFrame
    shown: pd.DataFrame | None = None
    detail: bool = False

    @property
    def display(self) -> pd.DataFrame:
        """Return the frame the report shows."""
        return self.frame if self.shown is None else self.shown


@dataclass
class FigureItem:
    """A figure of the report, written as ``<name>`` (a ``.png`` file name)."""

    name: str
    caption: str
    png: bytes


@dataclass
class Section:
    """A titled part of the report: paragraphs (markdown-light text), tables, figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[TableItem] = field(default_factory=list)
    figures: list[FigureItem] = field(default_factory=list)


def format_value(value: Any) -> str:
    """Format one table cell: 4 significant digits for floats, NaN spelled out."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "NaN"
        return "0" if value == 0 else f"{value:.4g}"  # never "-0"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _cells(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = [str(c) for c in frame.columns]
    rows = [[format_value(v) for v in row] for row in frame.itertuples(index=False)]
    return header, rows


def markdown_table(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """Return ``frame`` as a GitHub markdown table (first ``max_rows`` rows)."""
    if frame.empty:
        return "*(no rows)*"
    header, rows = _cells(frame.head(max_rows))
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """Return ``frame`` as an HTML table (first ``max_rows`` rows), cells escaped.

    Number columns are right-aligned; text columns (names, keys) are left-aligned and never
    wrapped, headers may break after ``_``, and the first column stays in view when a wide table
    scrolls sideways.
    """
    if frame.empty:
        return "<p><em>(no rows)</em></p>"
    header, rows = _cells(frame.head(max_rows))
    text = [not all(NUMBER.match(row[i]) for row in rows if row[i]) for i in range(len(header))]
    css = [' class="t"' if t else "" for t in text]
    head = "".join(f"<th{c}>{html.escape(h).replace('_', '_<wbr>')}</th>" for h, c in zip(header, css, strict=True))
    body = "".join("<tr>" + "".join(f"<td{c}>{html.escape(v)}</td>" for v, c in zip(row, css, strict=True))
                   + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'  # wide tables scroll instead of overflowing


def _cut_note(table: TableItem) -> str:
    if len(table.display) <= MAX_ROWS:
        return ""
    return f" (first {MAX_ROWS} of {len(table.display)} rows; all in {table.name}.csv)"


def move_details(sections: list[Section], title: str = "Detailed tables") -> list[Section]:
    """Return ``sections`` with every ``detail`` table moved into one last section."""
    details = [t for s in sections for t in s.tables if t.detail]
    for section in sections:
        section.tables = [t for t in section.tables if not t.detail]
    return sections + ([Section(title, tables=details)] if details else [])


def render_markdown(title: str, sections: list[Section]) -> str:
    """Return the whole report as markdown; figures are linked by file name."""
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            out += [paragraph, ""]
        for table in section.tables:
            link = f"[`{table.name}.csv`]({table.name}.csv)"
            out += [f"**{table.caption}**{_cut_note(table)} — {link}",
                    "", markdown_table(table.display), ""]
        for figure in section.figures:
            out += [f"![{figure.caption}]({figure.name})", "", f"*{figure.caption}*", ""]
    return "\n".join(out).rstrip() + "\n"


def _inline_md(text: str) -> str:
    """Escape text for HTML and keep the few markdown marks paragraphs use (``code``, **bold**)."""
    escaped = html.escape(text)
    parts = escaped.split("`")
    escaped = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _html_paragraph(text: str) -> str:
    lines = text.splitlines()
    if lines and all(line.startswith("- ") for line in lines):
        items = "".join(f"<li>{_inline_md(line[2:])}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    css = ' class="note"' if text.startswith("**Note") else ""
    return f"<p{css}>{_inline_md(text)}</p>"


def render_html(title: str, sections: list[Section]) -> str:
    """Return the whole report as one self-contained HTML page (figures as base64 PNG)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        out += [_html_paragraph(p) for p in section.paragraphs]
        for table in section.tables:
            out.append(f"<p><strong>{html.escape(table.caption)}</strong>"
                       f"{html.escape(_cut_note(table))} (<code>{html.escape(table.name)}.csv"
                       f"</code>)</p>")
            out.append(html_table(table.display))
        for figure in section.figures:
            data = base64.b64encode(figure.png).decode("ascii")
            caption = html.escape(figure.caption)
            out.append(f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{caption} (<code>{html.escape(figure.name)}</code>)"
                       "</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
