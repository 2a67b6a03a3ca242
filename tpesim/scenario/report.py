"""A scenario run as JUnit XML (for CI) and as a Markdown report (for people)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tpesim.scenario.runner import ScenarioResult

__all__ = ["junit_xml", "markdown_report"]


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
