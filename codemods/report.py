"""The run's report: a summary table for the terminal, and JSON / Markdown files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence

from codemods.files import write_atomic
from codemods.migrate import FileResult


def summarize(results: Sequence[FileResult], rule_names: Sequence[str]) -> Dict[str, Any]:
    """Counts: files by status, TODOs, and files changed per rule (in rule order)."""
    status = Counter(r.status for r in results)
    per_rule = Counter(name for r in results for name in r.rules)
    return {
        "files": len(results),
        "changed": status["changed"],
        "unchanged": status["unchanged"],
        "errors": status["error"],
        "todos": sum(len(r.todos) for r in results),
        "rules": {name: per_rule[name] for name in rule_names},
    }


def summary_table(summary: Dict[str, Any]) -> str:
    """The table printed at the end of a run."""
    lines = [
        f"rlmigrate: {summary['files']} files: {summary['changed']} changed, "
        f"{summary['unchanged']} unchanged, {summary['errors']} errors, {summary['todos']} TODOs",
    ]
    width = max([len("rule")] + [len(name) for name in summary["rules"]])
    lines.append(f"  {'rule'.ljust(width)}  files changed")
    lines += [f"  {name.ljust(width)}  {count}" for name, count in summary["rules"].items()]
    return "\n".join(lines)


def report_dict(results: Sequence[FileResult], rule_names: Sequence[str], mode: str) -> Dict[str, Any]:
    return {
        "mode": mode,
        "summary": summarize(results, rule_names),
        "files": [r.to_dict() for r in results if r.status != "unchanged" or r.todos],
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown(report: Dict[str, Any]) -> str:
    s = report["summary"]
    out: List[str] = [
        "# rlmigrate report",
        "",
        f"Mode: `{report['mode']}`. {s['files']} files: {s['changed']} changed, {s['unchanged']} unchanged, "
        f"{s['errors']} errors, {s['todos']} TODOs.",
        "",
        "| rule | files changed |",
        "|---|---|",
        *[f"| `{name}` | {count} |" for name, count in s["rules"].items()],
    ]
    for entry in report["files"]:
        out += ["", f"## `{entry['path']}`", "", f"Status: {entry['status']}."]
        if entry["rules"]:
            out.append("Rules: " + ", ".join(f"`{r}`" for r in entry["rules"]) + ".")
        if entry["error"]:
            out.append(f"Error: {entry['error']}")
        if entry["todos"]:
            out += ["", "| line | TODO | see |", "|---|---|---|"]
            out += [f"| {t['line']} | {_cell(t['message'])} | MIGRATION.md#{t['anchor']} |" for t in entry["todos"]]
    return "\n".join(out) + "\n"


def write_report(path: Path, results: Sequence[FileResult], rule_names: Sequence[str], mode: str) -> None:
    """Write the report as JSON (``.json``) or Markdown (``.md``), atomically."""
    report = report_dict(results, rule_names, mode)
    if path.suffix == ".json":
        text = json.dumps(report, indent=2) + "\n"
    else:
        text = _markdown(report)
    write_atomic(path, text.encode("utf-8"))
