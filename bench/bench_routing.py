"""Routing decisions on PostgreSQL: Router.route (lookup + customer facts + rules) vs the bare
customer lookup in the same run, with N customers and 500 operators in the live snapshot.

    .venv/bin/python -m bench.bench_routing [--customers 100000] [--samples 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.bench_lookup import DEFAULT_URL, load_customers, summary
from contact_center.customers.demo_data import demo_phone
from contact_center.customers.lookup import CustomerLookup
from contact_center.routing.rules import load_rules
from contact_center.routing.service import Router, RouteRequest
from contact_center.store import migrate
from contact_center.store.db import create_engine, session_factory

RULES = Path(__file__).resolve().parents[1] / "routing.yaml"


def snapshot(operators: int) -> dict[str, Any]:
    return {
        "queues": {
            q: {
                "operators": {"staffed": operators // 2, "available": 40},
                "longest_wait_seconds": 12.0,
            }
            for q in ("support", "sales")
        },
        "operators": {
            f"PJSIP/{1000 + i}": {
                "interface": f"PJSIP/{1000 + i}",
                "state": "available" if i % 3 else "on_call",
            }
            for i in range(operators)
        },
    }


async def run(url: str, customers: int, samples: int, operators: int, seed: int) -> dict[str, Any]:
    base = make_url(url)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    schema_url = base.update_query_dict({"search_path": schema}).render_as_string(
        hide_password=False
    )
    engine = create_engine(schema_url, pre_ping=False)  # as the service runs it
    try:
        await migrate.upgrade(schema_url)
        await load_customers(dsn, schema, customers, seed)
        sessions = session_factory(engine)
        lookup = CustomerLookup(sessions, region="RU", cache_size=0)
        snap = snapshot(operators)

        async def live() -> dict[str, Any]:
            return snap

        router = Router(sessions, lookup, load_rules(RULES), live)
        rng = random.Random(seed)
        numbers = [demo_phone(rng.randrange(customers)) for _ in range(samples)]
        for n in numbers[:100]:
            await lookup.by_number(n)
            await router.route(RouteRequest("pbx1", "1.1", n, None, fallback_queue="support"))
        bare: list[float] = []
        routed: list[float] = []
        for i, number in enumerate(numbers):
            for which in ("bare", "route") if i % 2 else ("route", "bare"):
                t0 = time.perf_counter()
                if which == "bare":
                    await lookup.by_number(number)
                    bare.append(time.perf_counter() - t0)
                else:
                    await router.route(
                        RouteRequest("pbx1", f"{i}.1", number, None, fallback_queue="support")
                    )
                    routed.append(time.perf_counter() - t0)
        b, r = summary(bare), summary(routed)
        return {
            "benchmark": "routing decision, PostgreSQL",
            "customers": customers,
            "operators": operators,
            "samples": samples,
            "baseline_bare_lookup": b,
            "routing_decision": r,
            "decisions_per_second_sequential": round(samples / sum(routed), 1),
            "ratio_p99_decision_to_lookup": round(r["p99_us"] / b["p99_us"], 3),
            "target_p99_ms": 5.0,
        }
    finally:
        await engine.dispose()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=1_000)
    parser.add_argument("--operators", type=int, default=500)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.url, args.customers, args.samples, args.operators, args.seed))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
