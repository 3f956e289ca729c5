"""Registry at scale: memory per cloud, lookups and selectors at 1 / 1,000 / 10,000 clouds."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from rich.progress import track

from bench.report import save
from openstackoid.registry import Cloud, Credentials, Registry
from openstackoid.scope_dsl import CloudGlob, CloudRef, LabelSelector


def make_clouds(count: int) -> list[Cloud]:
    creds = Credentials(username="admin", password="secret", project_name="admin")
    return [
        Cloud(
            f"cloud-{i}",
            f"http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:5000/v3",
            region_name="RegionOne",
            endpoints={
                "image": f"http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:9292",
                "compute": f"http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:8774/v2.1",
            },
            labels={"region": "eu" if i % 2 else "us", "tier": "edge", "site": f"site-{i % 50}"},
            groups=frozenset({"edge"}),
            credentials=creds,
        )
        for i in track(range(1, count + 1), description=f"building {count} clouds", transient=True)
    ]


def _per_op_ns(func: Any, rounds: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(rounds):
        func()
    return (time.perf_counter_ns() - started) / rounds


def measure(count: int) -> dict[str, float]:
    clouds = make_clouds(count)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    registry = Registry(clouds)
    index_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    name = f"cloud-{count // 2 or 1}"
    rounds = 20000
    return {
        "clouds": count,
        "index_bytes_per_cloud": round(index_bytes / count, 1),
        "get_ns": round(_per_op_ns(lambda: registry.select(CloudRef(name)), rounds), 1),
        "label_ns": round(
            _per_op_ns(lambda: registry.select(LabelSelector("region", "eu")), rounds), 1
        ),
        "glob_ns": round(_per_op_ns(lambda: registry.select(CloudGlob("cloud-1*")), rounds), 1),
    }


def cloud_bytes(count: int) -> float:
    """Whole cost of a cloud: its value objects plus the registry's indexes."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    registry = Registry(make_clouds(count))
    total = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(registry) == count
    return total / count


def import_seconds(count: int) -> float:
    """Bulk import into SQLite, the way `openstackoid registry import` writes (batches)."""
    import asyncio
    import tempfile

    from openstackoid.registry import SqliteStore

    clouds = make_clouds(count)

    async def write() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "registry.sqlite")
            started = time.perf_counter()
            for start in range(0, count, 500):
                await store.upsert_many(clouds[start : start + 500])
            loaded = await store.load_all()
            elapsed = time.perf_counter() - started
            await store.close()
            assert len(loaded) == count
            return elapsed

    return asyncio.run(write())


def run(quick: bool = False) -> dict[str, Any]:
    sizes = (1, 1000, 10000)
    rows = [measure(n) for n in sizes]
    base = rows[0]
    per_cloud = cloud_bytes(2000 if quick else 10000)
    return {
        "rows": rows,
        "bytes_per_cloud_total": round(per_cloud, 1),
        "import_and_reload_10000_s": round(import_seconds(10000), 2),
        "ratios": {
            f"get ns at {r['clouds']} / at 1": round(r["get_ns"] / base["get_ns"], 2)
            for r in rows[1:]
        }
        | {
            f"label ns at {r['clouds']} / at 1": round(r["label_ns"] / base["label_ns"], 2)
            for r in rows[1:]
        }
        | {"bytes per cloud / 2048 budget": round(per_cloud / 2048, 3)},
    }


def main() -> None:
    figures = run()
    save("registry.json", figures)
    for row in figures["rows"]:
        print(row)
    print(f"bytes per cloud (values + indexes, 10,000 clouds): {figures['bytes_per_cloud_total']}")
    print(f"import + reload of 10,000 clouds (SQLite): {figures['import_and_reload_10000_s']} s")
    print(figures["ratios"])


if __name__ == "__main__":
    main()
