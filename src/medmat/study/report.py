"""`medmat report RUN_DIR`: Markdown and a self-contained HTML page from results.json.

The report states plainly whether related training beat unrelated training with an
interval that excludes zero; when it did not, it says so in the first paragraph.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from medmat.io import write_bytes, write_text
from medmat.study import plots
from medmat.study.report_config import ReportConfig
from medmat.study.results import StudyResults, Summary
from medmat.study.sections import association_sentence, leave_out_table, multitask_tables
from medmat.study.tables import other_rows, paper_tables, pct, summary_table, variants_table

def verdict(s: Summary) -> str:
    text = _verdict(s)
    tags = [t for t in (s.case, s.variant) if t is not None]
    return f"[{', '.join(tags)}] {text}" if tags else text


def _verdict(s: Summary) -> str:
    if s.mean_gain is None:
        return "No related/unrelated comparison was run, so the study says nothing about compositional generalization."
    core = (
        f"Over {s.n_targets} target(s) ({s.scorer} scorer), related training scored {pct(s.mean_related)}% on average "
        f"against {pct(s.mean_unrelated)}% for unrelated training of the same size and {pct(s.mean_zero_shot)}% zero-shot: "
        f"a mean gain of {100 * s.mean_gain:+.1f} points, 95% interval [{100 * s.gain_ci_low:+.1f}, {100 * s.gain_ci_high:+.1f}]; "
        f"related beat unrelated in {s.related_wins} of {s.comparisons} comparisons. "
    )
    if s.gain_excludes_zero:
        return core + "The interval excludes zero: in this study, related data helped on unseen combinations."
    return core + ("**The interval does not exclude zero: this study does NOT show that related data helps.** "
                   "Treat any per-target gain below as unconfirmed.")


def _figures(results: StudyResults) -> list[tuple[str, str, bytes | None]]:
    """Every figure, per case (a study's ``cases``) and train variant; then the figures that
    set the cases side by side."""
    figs = []
    for scorer in results.scorers():
        figs.append((f"multitask-{scorer}", f"Multi-task vs single-task and the CG association ({scorer} scorer)",
                     plots.multitask_figure(results, scorer)))
        figs.append((f"leave-out-{scorer}", f"Leave-out arms{' by case' if results.cases else ''} ({scorer} scorer)",
                     plots.dial_figure(results, scorer)))
    for case in results.case_names():
        ctag, clabel = ("", "") if case is None else (f"-{case}", f", case {case}")
        figs += [(key + ctag, title[:-1] + clabel + ")" if title.endswith(")") else title + clabel, png)
                 for key, title, png in _case_figures(results.for_case(case))]
    return figs


def _case_figures(results: StudyResults) -> list[tuple[str, str, bytes | None]]:
    figs = []
    for variant in results.variants():
        res, tag = results, ""
        if variant is not None:  # one set of figures per train variant
            res = results.model_copy(update={"rows": [r for r in results.rows if r.variant == variant],
                                             "gains": [g for g in results.gains if g.variant == variant]})
            tag = f"-{variant}"
        label = "" if variant is None else f", {variant}"
        for scorer in res.scorers():
            figs.append((f"arms-{scorer}{tag}", f"Accuracy by arm ({scorer} scorer{label})", plots.arm_bars(res, scorer)))
            figs.append((f"gain-{scorer}{tag}", f"Gain heatmap ({scorer} scorer{label})", plots.gain_heatmap(res, scorer)))
            figs.append((f"lowdata-{scorer}{tag}", f"Low-data curves ({scorer} scorer{label})",
                         plots.low_data_curves(res, scorer)))
            figs.append((f"bias-{scorer}{tag}", f"Position bias ({scorer} scorer{label})",
                         plots.position_bias(res, scorer)))
        figs.append((f"invalid{tag}", f"Invalid generated answers{label}", plots.invalid_rates(res)))
    return figs


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.86em}th,td{border:1px solid #ccc;padding:.3em .55em;text-align:left}
th{background:#f0f3f7}tr:nth-child(even) td{background:#fafafa}.verdict{padding:.8em 1em;border-left:5px solid #2f7ab9;background:#f4f8fc}
.warn{border-left-color:#c0504d;background:#fcf4f4}img{max-width:100%;border:1px solid #eee;margin:.4em 0}code{background:#f3f3f3;padding:0 .2em}
.muted{color:#666;font-size:.85em}"""


def write_report(run_dir: str | Path, cfg: ReportConfig | None = None) -> dict[str, Path]:
    """The report stage's operation (``medmat report`` and ``medmat run``): report.md
    (+ figures/*.png) and report.html (images inlined), drawn only from results.json."""
    cfg = cfg or ReportConfig()
    run_dir = Path(run_dir)
    if not (run_dir / "results.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no results.json (run `medmat run STUDY.yaml` first)")
    results = StudyResults.load(run_dir / "results.json")
    out = Path(cfg.out) if cfg.out else run_dir / "report"
    figs = _figures(results) if cfg.figures else []
    md = [f"# Study report: {results.name}", "", results.description, ""]
    hp = [f"<h1>Study report: {html.escape(results.name)}</h1>", f"<p>{html.escape(results.description)}</p>"]
    other_kinds = bool(results.multitask or results.leave_out)
    for s in results.summaries:
        if s.mean_gain is None and other_kinds:
            continue  # a multi-task or leave-out study has no related/unrelated verdict to give
        text = verdict(s)
        md += [f"> {text}", ""]
        cls = "verdict" if s.gain_excludes_zero else "verdict warn"
        hp.append(f"<p class='{cls}'>{html.escape(text).replace('**', '')}</p>")
    for s in results.multitask:
        text = association_sentence(s)
        md += [f"> {text}", ""]
        hp.append(f"<p class='verdict'>{html.escape(text)}</p>")
    for scorer in results.scorers():
        blocks = multitask_tables(results, scorer)
        lo = leave_out_table(results, scorer)
        blocks += [lo] if lo else []
        for title, header, rows in blocks:
            md += [f"### {title}", "", md_table(header, rows), ""]
            hp += [f"<h3>{html.escape(title)}</h3>", _html_table(header, rows)]
    for case in results.case_names():
        if case is not None:
            sets = ", ".join(f"{k} = {v}" for k, v in sorted(results.cases[case].items()))
            md += [f"## Case {case}: " + (sets or "the study's own settings"), ""]
            hp.append(f"<h2>Case {html.escape(case)}</h2>")
        _case_sections(results.for_case(case), md, hp)
    paths = _write_figures(figs, out, md, hp)
    prov = results.provenance
    md += ["## Provenance", "", "```", *(f"{k}: {v}" for k, v in sorted(prov.items())), "```", ""]
    hp += ["<h2>Provenance</h2>", "<pre class='muted'>" + html.escape("\n".join(f"{k}: {v}" for k, v in sorted(prov.items()))) + "</pre>"]
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>medmat report: {html.escape(results.name)}</title><style>{CSS}</style></head><body>{''.join(hp)}</body></html>"
    write_text(out / "report.md", "\n".join(md))
    if cfg.html:
        write_text(out / "report.html", page)
        paths["html"] = out / "report.html"
    return {"markdown": out / "report.md", **paths}


def _case_sections(results: StudyResults, md: list[str], hp: list[str]) -> None:
    """The paper-style tables and other arms of one case (the whole study without cases)."""
    for scorer in results.scorers():
        side = variants_table(results, scorer)
        blocks = [side] if side else []
        for variant in results.variants():
            summary = summary_table(results, scorer, variant)
            blocks += ([summary] if summary else []) + paper_tables(results, scorer, variant)
        extras = [(variant, other_rows(results, scorer, variant)) for variant in results.variants()]
        if not blocks and not any(rows for _, rows in extras):
            continue  # e.g. a multi-task study: its tables are above
        md += [f"## Paper-style table ({scorer} scorer)", "",
               "Accuracy % on the target's test items: with one seed with the evaluator's 95% bootstrap interval, "
               "with several the mean over seeds and its range. Gain is related minus its matched unrelated arm, "
               "paired on the same target items, its interval resampling seeds then items (* = excludes 0). The "
               "controls, when planned, train on the related items with shuffled answers and on the unrelated "
               "images with the target's label words. The last column is the related model's accuracy on the test "
               "items of the subsets it trained on: what it learned where it was trained.", ""]
        hp.append(f"<h2>Paper-style table ({html.escape(scorer)} scorer)</h2>")
        for title, header, rows in blocks:
            md += [f"### {title}", "", md_table(header, rows), ""]
            hp += [f"<h3>{html.escape(title)}</h3>", _html_table(header, rows)]
        for variant, extra in extras:
            if extra:
                h = ["target", "arm", "n train", "accuracy", "invalid %"] + (["seed"] if len(results.seeds) > 1 else [])
                title = "Other arms" + (f" [{variant}]" if variant else "")
                md += [f"### {title}", "", md_table(h, extra), ""]
                hp += [f"<h3>{html.escape(title)}</h3>", _html_table(h, extra)]


def _write_figures(figs: list[tuple[str, str, bytes | None]], out: Path, md: list[str],
                   hp: list[str]) -> dict[str, Path]:
    """Write the figures under ``out/figures`` and add them to both pages."""
    if figs:
        md += ["## Figures", ""]
        hp.append("<h2>Figures</h2>")
    paths: dict[str, Path] = {}
    for key, title, png in figs:
        if png is None:
            continue
        rel = f"figures/{key}.png"
        write_bytes(out / rel, png)
        paths[key] = out / rel
        md += [f"### {title}", "", f"![{title}]({rel})", ""]
        b64 = base64.b64encode(png).decode("ascii")
        hp += [f"<h3>{html.escape(title)}</h3>", f"<img alt='{html.escape(title)}' src='data:image/png;base64,{b64}'>"]
    return paths
