"""A class experiment's results outlive the lesson: one CSV row per run, and one self-contained HTML page
(inline SVG chart, no script, no external file) with the question, each value's runs, mean and 95 %
interval, the poll once locked, and the verdict. The reader sees what `results` shows them: the teacher
every student's name, a student only their own."""
from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path

from core.classroom import results
from core.errors import UserError

COLUMNS = ("experiment", "question", "value", "value_words", "student", "run_id", "status", "metric", "accuracy")
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9")  # Okabe-Ito: colour-blind safe (issue 33)
W, H, PAD = 720, 360, 48


def csv_text(class_id: str, owner: str | None = None, key: str | None = None) -> str:
    found = results.results(class_id, owner=owner, key=key)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    for cell in found["cells"]:
        for run in cell["runs"]:
            writer.writerow({"experiment": found["experiment"], "question": found["question"], "value": cell["value"],
                             "value_words": cell["words"], "student": run["student"] or "",
                             "run_id": run["run_id"] or "", "status": run["status"], "metric": found["metric"],
                             "accuracy": "" if run["accuracy"] is None else run["accuracy"]})
    return out.getvalue()


def html_page(class_id: str, owner: str | None = None, key: str | None = None) -> str:
    found = results.results(class_id, owner=owner, key=key)
    e = html.escape
    rows = "".join(f"<tr><td>{e(c['words'])}</td><td>{c['n']}</td><td>{c['finished']}</td><td>{_pct(c['mean'])}</td>"
                   f"<td>{_range(c)}</td><td>{_picks(found, c['value'])}</td></tr>" for c in found["cells"])
    metric = "held-out accuracy" if found["metric"] == "holdout_accuracy" else "test accuracy"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class experiment: {e(found['title'])}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:780px;margin:2em auto;color:#1f2933}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #cbd2d9;padding:4px 10px;text-align:left}}
.verdict{{background:#e8f1fb;padding:10px;border-radius:6px}}</style></head><body>
<h1>Class experiment: {e(found['title'])}</h1>
<p>Dataset <b>{e(found['dataset'])}</b>; each dot is one run's {metric}; the black bar is each value's mean with its
95 % interval.</p>
{svg(found)}
<p class="verdict">{e(found['verdict'])}</p>
<table><tr><th>value</th><th>runs</th><th>finished</th><th>mean</th><th>95 % interval</th><th>predicted to win</th></tr>
{rows}</table>
<p>{e(_poll_line(found))}</p>
{_reasons(found)}
</body></html>
"""


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def _range(cell: dict) -> str:
    return "" if cell["low"] is None else f"{cell['low']:.0%} to {cell['high']:.0%}"


def _picks(found: dict, value: str) -> str:
    return str(found["poll"].get(value, 0)) if "poll" in found else ""


def _poll_line(found: dict) -> str:
    if found["locked"]:
        return f"The prediction poll closed when {found['lock_reason']}; {found['picks']} picks."
    return f"The prediction poll is still open ({found['picks']} picks so far, hidden until it closes)."


def _reasons(found: dict) -> str:
    """The poll's one-line reasons once it locked (no names: a reason stands for itself)."""
    said = {c["value"]: c["words"] for c in found["cells"]}
    items = "".join(f"<li>{html.escape(said.get(r['choice'], r['choice']))}: {html.escape(r['reason'])}</li>"
                    for r in found.get("reasons", []))
    return f"<h2>Why they predicted it</h2><ul>{items}</ul>" if items else ""


def svg(found: dict) -> str:
    """Dots per run, mean and interval per value, on a 0–100 % axis."""
    cells = found["cells"]
    step = (W - 2 * PAD) / max(1, len(cells))
    y = lambda v: H - PAD - v * (H - 2 * PAD)  # accuracy → pixel row
    parts = [f'<line x1="{PAD}" y1="{y(t / 4):.1f}" x2="{W - PAD}" y2="{y(t / 4):.1f}" stroke="#e4e7eb"/>'
             f'<text x="{PAD - 6}" y="{y(t / 4) + 4:.1f}" text-anchor="end" font-size="12">{t * 25}%</text>'
             for t in range(5)]
    for i, cell in enumerate(cells):
        x = PAD + step * (i + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{H - PAD + 20}" text-anchor="middle" font-size="13">'
                     f'{html.escape(cell["words"])}</text>')
        done = [r for r in cell["runs"] if r["accuracy"] is not None]
        for j, run in enumerate(done):
            dx = (j - (len(done) - 1) / 2) * 6
            ring = ' stroke="#1f2933" stroke-width="2"' if run["mine"] else ""  # the reader's own run
            parts.append(f'<circle cx="{x + dx:.1f}" cy="{y(run["accuracy"]):.1f}" r="{8 if run["mine"] else 5}" '
                         f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.75"{ring}/>')
        if cell["low"] is not None:
            parts.append(f'<line x1="{x + 24:.1f}" y1="{y(cell["low"]):.1f}" x2="{x + 24:.1f}" y2="{y(cell["high"]):.1f}" '
                         'stroke="#1f2933" stroke-width="2"/>')
        if cell["mean"] is not None:
            parts.append(f'<line x1="{x + 14:.1f}" y1="{y(cell["mean"]):.1f}" x2="{x + 34:.1f}" y2="{y(cell["mean"]):.1f}" '
                         'stroke="#1f2933" stroke-width="4"/>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" role="img">{"".join(parts)}</svg>'


def export(class_id: str, out: str | os.PathLike, owner: str | None = None, key: str | None = None) -> dict:
    """Write the CSV or the HTML page (by the file's ending), through a temporary name."""
    path = Path(out).expanduser()
    kinds = {".csv": csv_text, ".html": html_page, ".htm": html_page}
    if path.suffix.lower() not in kinds:
        raise UserError(f"{path}: the file must end in .csv or .html")
    if not path.parent.is_dir():
        raise UserError(f"{path.parent} is not a folder: choose where the file goes with --out")
    text = kinds[path.suffix.lower()](class_id, owner=owner, key=key)
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)
    return {"path": str(path), "bytes": path.stat().st_size, "format": path.suffix.lower().lstrip(".")}
