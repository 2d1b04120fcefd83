"""The pieces of a self-contained HTML page: escaped text, tables, SVG charts, one inline style.

A report is opened from disk, mailed, checked into a repository: it loads nothing from the
network (no CDN, no web font, no script library). Charts are inline SVG, hover text is SVG's own
``<title>``, and the only script is none at all.
"""

from __future__ import annotations

import base64
import difflib
import html
from typing import Any, Iterable, Mapping, Sequence

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px;margin:14px 0}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{border-bottom:1px solid #eceef2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f6;font-weight:600} td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;background:#f4f6f8;border:1px solid #e1e4ea;border-radius:6px;padding:10px;font-size:13px;margin:6px 0}
.muted{color:#667085} .kpi{display:inline-block;margin:6px 22px 6px 0} .kpi b{display:block;font-size:20px}
ins{background:#d7f5dd;text-decoration:none} del{background:#fbd9d9}
.ok{color:#127a3a;font-weight:600} .bad{color:#b42318;font-weight:600}
svg text{font-size:11px;fill:#475467} img{max-width:100%}
"""

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04")


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def section(title: str, body: str, *, anchor: str = "") -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{esc(title)}</h2>{body}</section>"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, ident: str = "", numeric: Sequence[int] = (),
          raw: Sequence[int] = ()) -> str:
    """A table; cells are escaped except the columns in ``raw`` (already HTML)."""
    cls = lambda i: ' class="num"' if i in numeric else ""  # noqa: E731
    head = "".join(f"<th{cls(i)}>{esc(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c if i in raw else esc(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    ident_attr = f' id="{esc(ident)}"' if ident else ""
    return f"<table{ident_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def key_values(pairs: Mapping[str, Any]) -> str:
    return table(("setting", "value"), [(k, v) for k, v in pairs.items()])


def word_diff(before: str, after: str) -> str:
    """``after`` against ``before``, word by word: removed words struck, added words marked."""
    a, b = before.split(), after.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(esc(" ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<del>{esc(' '.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{esc(' '.join(b[j1:j2]))}</ins>")
    return " ".join(out)


def png_image(data: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _scale(values: Sequence[float], low_px: float, high_px: float) -> tuple[float, float, Any]:
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi, lambda v: low_px + (v - lo) / (hi - lo) * (high_px - low_px)


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, x_label: str, y_label: str,
               width: int = 640, height: int = 240) -> str:
    """Lines (one per named series) with a point marker and hover text per point."""
    points = [p for values in series.values() for p in values]
    if not points:
        return '<p class="muted">nothing to plot</p>'
    left, right, top, bottom = 48, width - 12, 28, height - 32
    x_lo, x_hi, sx = _scale([p[0] for p in points], left, right)
    y_lo, y_hi, sy = _scale([p[1] for p in points], bottom, top)
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#98a2b3"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#98a2b3"/>',
             f'<text x="{left}" y="{height - 6}">{esc(x_label)}</text>',
             f'<text x="4" y="12">{esc(y_label)}</text>',
             f'<text x="{left - 4}" y="{bottom}" text-anchor="end">{y_lo:.3g}</text>',
             f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{y_hi:.3g}</text>',
             f'<text x="{right}" y="{bottom + 14}" text-anchor="end">{x_hi:.3g}</text>']
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        for x, y in values:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}">'
                         f'<title>{esc(name)}: {x:g}, {y:.4g}</title></circle>')
        parts.append(f'<text x="{left + 160 + 150 * index}" y="12" fill="{color}">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter(points: Sequence[tuple[float, float, str]], *, x_label: str, y_label: str,
            width: int = 640, height: int = 260) -> str:
    """Points with their hover text (e.g. a prompt), for the Pareto front."""
    if not points:
        return '<p class="muted">no point has full evidence</p>'
    left, right, top, bottom = 48, width - 12, 28, height - 32
    x_lo, x_hi, sx = _scale([p[0] for p in points], left + 10, right - 10)
    y_lo, y_hi, sy = _scale([p[1] for p in points], bottom - 10, top + 10)
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#98a2b3"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#98a2b3"/>',
             f'<text x="{left}" y="{height - 6}">{esc(x_label)} ({x_lo:.3g} to {x_hi:.3g})</text>',
             f'<text x="4" y="{top + 8}">{esc(y_label)}</text>']
    ordered = sorted(points)
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in ordered)
    parts.append(f'<polyline fill="none" stroke="#cbd5e1" stroke-dasharray="4 3" points="{coords}"/>')
    for x, y, text in ordered:
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="6" fill="{PALETTE[0]}" fill-opacity="0.8">'
                     f'<title>{esc(text)}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(rows: Sequence[tuple[str, Mapping[str, float]]], *, y_label: str, width: int = 640,
                 height: int = 240) -> str:
    """One bar per row (e.g. a generation), stacked by key (e.g. a role), with hover text."""
    if not rows:
        return '<p class="muted">nothing to plot</p>'
    keys = sorted({k for _, values in rows for k in values})
    top_value = max(sum(values.values()) for _, values in rows) or 1.0
    left, right, top, bottom = 56, width - 12, 28, height - 32
    slot = (right - left) / len(rows)
    parts = [f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#98a2b3"/>',
             f'<text x="4" y="12">{esc(y_label)}</text>',
             f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{top_value:,.0f}</text>']
    for index, (label, values) in enumerate(rows):
        x, y = left + index * slot + slot * 0.15, float(bottom)
        for k_index, key in enumerate(keys):
            value = values.get(key, 0.0)
            h = value / top_value * (bottom - top)
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[k_index % len(PALETTE)]}"><title>{esc(label)} {esc(key)}: '
                         f'{value:,.0f}</title></rect>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{bottom + 14}" text-anchor="middle">{esc(label)}</text>')
    for k_index, key in enumerate(keys):
        parts.append(f'<text x="{left + 160 + 110 * k_index}" y="12" '
                     f'fill="{PALETTE[k_index % len(PALETTE)]}">■ {esc(key)}</text>')
    parts.append("</svg>")
    return "".join(parts)
