"""Scripted scenarios: a YAML file of steps run against a real broker, switch and terminals,
with expectations on response codes, batch-close explanations and the ledger."""

from tpesim.scenario.model import Scenario, ScenarioError, Step, load_scenario
from tpesim.scenario.report import junit_xml, latency_svg, markdown_report
from tpesim.scenario.runner import ScenarioResult, StepResult, run_scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "Step",
    "StepResult",
    "junit_xml",
    "latency_svg",
    "load_scenario",
    "markdown_report",
    "run_scenario",
]
