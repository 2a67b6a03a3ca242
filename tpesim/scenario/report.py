"""A scenario run as JUnit XML (for CI) and as a Markdown report (for people)."""

from __future__ import annotations

import html
import itertools
from xml.etree import ElementTree as ET

from tpesim.scenario.runner import ScenarioResult

__all__ = ["junit_xml", "latency_svg", "markdown_report"]


def junit_xml(result: ScenarioResult) -> str:
    """One ``testsuite``: a ``testcase`` per step and per end-of-run check."""
    cases = [
        (f"step {s.number}: {s.step.describe()}", s.passed, s.seconds,
         f"expected {s.step.expect}, got {s.actual}\n{s.detail}".strip())
        for s in result.steps
    ]  # fmt: skip
    cases += [(name, ok, 0.0, detail) for name, ok, detail in result.checks]
    suite = ET.Element(
        "testsuite",
        name=result.scenario.name,
        tests=str(len(cases)),
        failures=str(sum(1 for _, ok, _, _ in cases if not ok)),
        time=f"{result.elapsed_s:.3f}",
    )
    for name, ok, seconds, detail in cases:
        case = ET.SubElement(suite, "testcase", classname="scenario", name=name,
                             time=f"{seconds:.3f}")  # fmt: skip
        if not ok:
            ET.SubElement(case, "failure", message=detail.splitlines()[0] if detail else "failed")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def markdown_report(result: ScenarioResult) -> str:
    """The run as a Markdown page: verdict, a table of steps, the checks."""
    verdict = "PASSED" if result.passed else "FAILED"
    lines = [
        f"# Scenario: {result.scenario.name}",
        "",
        result.scenario.description,
        "",
        f"**{verdict}** in {result.elapsed_s:.1f} s",
        "",
        "![step latency](latency.svg)",
        "",
        "| # | step | expected | got | | time | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result.steps:
        detail = s.detail.replace("\n", "<br>").replace("|", "\\|")
        lines.append(
            f"| {s.number} | {s.step.describe()} | {s.step.expect or ''} | {s.actual} | "
            f"{'ok' if s.passed else '**FAIL**'} | {s.seconds * 1000:.0f} ms | {detail} |"
        )
    lines += ["", "| check | result | detail |", "|---|---|---|"]
    for name, ok, detail in result.checks:
        lines.append(
            f"| {name} | {'ok' if ok else '**FAIL**'} | {detail.replace(chr(10), '<br>')} |"
        )
    return "\n".join(lines) + "\n"


def latency_svg(result: ScenarioResult, *, width: int = 480, height: int = 200) -> str:
    """A histogram of the steps' durations (ms) as a self-contained SVG picture."""
    times = [s.seconds * 1000 for s in result.steps if s.step.action != "fault"]
    edges = [0, 25, 50, 100, 250, 500, 1000, 2500, 5000, float("inf")]
    labels = [
        "<25",
        "25-50",
        "50-100",
        "100-250",
        "250-500",
        "0.5-1 s",
        "1-2.5 s",
        "2.5-5 s",
        ">5 s",
    ]
    counts = [sum(1 for t in times if low <= t < high) for low, high in itertools.pairwise(edges)]
    top = max(counts, default=0) or 1
    bar = (width - 40) / len(counts)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="10">',
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">'
        f"step latency, ms ({len(times)} steps)</text>",
    ]
    base = height - 30
    for index, (label, count) in enumerate(zip(labels, counts, strict=True)):
        x = 20 + index * bar
        h = (base - 30) * count / top
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{base - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" '
            'fill="#3b7dd8"/>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{base - h - 3:.1f}" '
                f'text-anchor="middle">{count}</text>'
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{base + 14}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    parts.append(f'<line x1="20" y1="{base}" x2="{width - 20}" y2="{base}" stroke="#333"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
