"""Testbed start time and memory for 10 / 100 / 1,000 clouds, each in a fresh process."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import time
from typing import Any

from bench.report import save


def _measure(count: int, queue: Any) -> None:
    from openstackoid.testbed import Testbed

    async def main() -> dict[str, float]:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        bed = Testbed(clouds=count)
        await bed.start()
        elapsed = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await bed.stop()
        return {
            "clouds": count,
            "start_s": round(elapsed, 3),
            "rss_mb": round(rss_after / 1024, 1),
            "added_kb_per_cloud": round((rss_after - rss_before) / count, 1),
        }

    queue.put(asyncio.run(main()))


def run(quick: bool = False) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for count in (10, 100, 1000):
        queue = ctx.Queue()
        process = ctx.Process(target=_measure, args=(count, queue))
        process.start()
        rows.append(queue.get(timeout=120))
        process.join()
    base = rows[0]
    return {
        "rows": rows,
        "ratios": {
            f"start s per cloud at {r['clouds']} / at 10": round(
                (r["start_s"] / r["clouds"]) / (base["start_s"] / base["clouds"]), 2
            )
            for r in rows[1:]
        },
    }


def main() -> None:
    figures = run()
    save("testbed_start.json", figures)
    for row in figures["rows"]:
        print(row)
    print(figures["ratios"])


if __name__ == "__main__":
    main()
