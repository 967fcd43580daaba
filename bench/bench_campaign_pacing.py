"""Campaign pacing: predictive against progressive, fifty operators, one simulated hour.

The pacer (``contact_center/campaigns/pacing.py``) runs against the simulator's callee model
(``contact_center/sim/callees.py``, the ``REALISTIC`` profile: about a third of dials reach a
person after a log-normal ring around 7 s, one in six an answering machine, 8 % busy, the rest
ring out at 25 s; talk log-normal around 100 s, 10 s wrap-up; ``AMD()`` takes 2.4 s on a
person, 3.5 s on a machine, and mistakes 2 % of people and 10 % of machines) on a simulated
clock (``contact_center/campaigns/simulation.py``). Both modes see the same callees (same
seeds) in the same run; progressive is the baseline. Predictive must keep the abandon rate
(abandoned / people reached) under the cap and reach a higher operator occupancy. Several seeds,
so one lucky draw proves nothing.

    .venv/bin/python -m bench.bench_campaign_pacing [--operators 50] [--minutes 60] [--seeds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from contact_center.campaigns.simulation import run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cap", type=float, default=0.03)
    args = parser.parse_args(argv)
    seconds = args.minutes * 60.0
    runs = []
    started = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        progressive = run("progressive", operators=args.operators, seconds=seconds, seed=seed)
        predictive = run(
            "predictive",
            operators=args.operators,
            seconds=seconds,
            seed=seed,
            abandon_cap=args.cap,
        )
        runs.append(
            {
                "seed": seed,
                "progressive": progressive.as_dict(),
                "predictive": predictive.as_dict(),
                "occupancy_ratio": round(predictive.occupancy / progressive.occupancy, 3),
                "held_cap": predictive.abandon_rate <= args.cap,
            }
        )
    worst_abandon = max(r["predictive"]["abandon_rate"] for r in runs)
    ratios = [r["occupancy_ratio"] for r in runs]
    return {
        "operators": args.operators,
        "simulated_minutes": args.minutes,
        "abandon_cap": args.cap,
        "seeds": args.seeds,
        "progressive_occupancy_mean": round(
            sum(r["progressive"]["occupancy"] for r in runs) / len(runs), 4
        ),
        "predictive_occupancy_mean": round(
            sum(r["predictive"]["occupancy"] for r in runs) / len(runs), 4
        ),
        "predictive_abandon_rate_worst": worst_abandon,
        "occupancy_ratio_min": min(ratios),
        "every_run_held_cap": all(r["held_cap"] for r in runs),
        "every_run_more_occupied": min(ratios) > 1.0,
        "wall_seconds": round(time.perf_counter() - started, 2),
        "runs": runs,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
