"""``make bench``: run every benchmark in bench/ and write one table of figures with their
same-run baselines and ratios, as JSON and Markdown (bench/results/).

    .venv/bin/python -m bench.run [--only ami,billing] [--out bench/results]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BENCHES = (
    "ami",
    "lookup",
    "import",
    "pop",
    "sim",
    "ivr",
    "billing",
    "recording",
    "stats",
    "routing",
    "service_load",
    "tokens",
    "campaign_pacing",
)


def flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list) and all(not isinstance(v, (dict, list)) for v in data):
        rows.append((prefix, ", ".join(str(v) for v in data)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            rows += flatten(value, f"{prefix}[{i}]")
    else:
        rows.append((prefix, data))
    return rows


def run_one(name: str) -> dict[str, Any]:
    module = importlib.import_module(f"bench.bench_{name}")
    main = module.main
    started = time.perf_counter()
    params = inspect.signature(main).parameters
    result = main([]) if "argv" in params else main()
    return {"result": result, "seconds": round(time.perf_counter() - started, 1)}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Run {results['when']} on {results['machine']}.",
        "",
        "Ratios compare our path with a baseline measured in the same run.",
        "",
    ]
    for name, outcome in results["benches"].items():
        lines += [f"## {name}", ""]
        if "error" in outcome:
            lines += [f"failed: `{outcome['error']}`", ""]
            continue
        lines += ["| figure | value |", "|---|---|"]
        for key, value in flatten(outcome["result"]):
            mark = " **(ratio)**" if "ratio" in key else ""
            lines.append(f"| {key}{mark} | {value} |")
        lines += ["", f"({outcome['seconds']} s)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(BENCHES))
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b in args.only.split(",")]
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.machine()} python {platform.python_version()}",
        "benches": {},
    }
    for name in chosen:
        print(f"== bench {name}", file=sys.stderr, flush=True)
        try:
            results["benches"][name] = run_one(name)
        except Exception as exc:  # one broken bench must not hide the others' figures
            traceback.print_exc()
            results["benches"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    return 1 if any("error" in r for r in results["benches"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
