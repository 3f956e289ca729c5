"""Scope parse cost: cold (cache cleared, distinct scopes) vs cached, in one run."""

from __future__ import annotations

import time
from typing import Any

from bench.report import save
from openstackoid.scope_dsl import parse_scope


def _scopes(count: int) -> list[str]:
    return [
        f"{{keystone: cloud-{i}; glance: cloud-{i + 1} | cloud-{i + 2}; nova: @edge & region=eu}}"
        for i in range(count)
    ]


def run(quick: bool = False) -> dict[str, Any]:
    count = 500 if quick else 5000
    scopes = _scopes(count)
    parse_scope.cache_clear()
    started = time.perf_counter()
    for text in scopes:
        parse_scope(text)
    cold_us = (time.perf_counter() - started) / count * 1e6
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        for text in scopes[-min(count, 4000) :]:  # the most recent: inside the LRU bound
            parse_scope(text)
    cached_us = (time.perf_counter() - started) / (rounds * min(count, 4000)) * 1e6
    return {
        "cold_us_per_parse": round(cold_us, 2),
        "cached_us_per_parse": round(cached_us, 3),
        "ratios": {"cached/cold": round(cached_us / cold_us, 5)},
    }


def main() -> None:
    figures = run()
    save("scope_parse.json", figures)
    print(
        f"scope parse: cold {figures['cold_us_per_parse']} us, "
        f"cached {figures['cached_us_per_parse']} us "
        f"(cached/cold = {figures['ratios']['cached/cold']})"
    )


if __name__ == "__main__":
    main()
