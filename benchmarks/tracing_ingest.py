"""Benchmark of kubelite's tracing collector: HTTP ingest rate against the SQLite floor,
then trace-lookup and search latency with many spans stored.

Runs the Zipkin listener in-process (uvicorn in a thread, on a free port); client
processes post pre-encoded batches of 100 Zipkin JSON spans concurrently; the rate
counts from the first request to the last 202, and the store answers 202 only once
a batch is committed, so every span counted is queryable. The floor is a plain
``executemany`` of the same rows (built by the store's own row builder), same
schema, indexes and pragmas, one transaction, in a fresh database, best of three.
(The store's writer connection raises its automatic-checkpoint threshold, since a
background thread checkpoints; the floor keeps the shared pragmas and so pays for
its own checkpoint at commit, as the store does in the background.)
Prints one JSON object on its last line.

    python benchmarks/tracing_ingest.py --spans 200000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http import Conn  # noqa: E402

from kubelite.tracing import SpanStore, create_zipkin_app  # noqa: E402
from kubelite.tracing import schema as span_schema  # noqa: E402
from kubelite.tracing.rows import as_tuples, rows_from_spans  # noqa: E402
from kubelite.tracing.zipkin_json import decode_span_list  # noqa: E402

SERVICES = [f"svc-{i}" for i in range(20)]
BATCH = 100


def make_batch(rng: random.Random, now_us: int) -> list[dict[str, Any]]:
    """100 spans: 10 traces of 10 spans, a client/server chain across services."""
    spans = []
    for _ in range(BATCH // 10):
        trace = f"{rng.getrandbits(128):032x}"
        parent = None
        ts = now_us - rng.randrange(3_600_000_000)
        for depth in range(10):
            span_id = f"{rng.getrandbits(64) | 1:016x}"
            service = SERVICES[(depth + rng.randrange(3)) % len(SERVICES)]
            span: dict[str, Any] = {
                "traceId": trace,
                "id": span_id,
                "kind": "SERVER" if depth % 2 == 0 else "CLIENT",
                "name": f"get /api/v1/item/{depth}",
                "timestamp": ts + depth * 100,
                "duration": rng.randrange(100, 100_000),
                "localEndpoint": {"serviceName": service, "ipv4": "10.0.0.1", "port": 8080},
                "tags": {"http.method": "GET", "http.path": f"/api/v1/item/{depth}"},
            }
            if parent:
                span["parentId"] = parent
            if depth % 2 == 1:
                span["remoteEndpoint"] = {"serviceName": SERVICES[(depth + 1) % len(SERVICES)]}
            spans.append(span)
            parent = span_id
    return spans


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(store: SpanStore, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_zipkin_app(store),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server


def client_worker(port: int, bodies: list[bytes], connections: int, queue: Any) -> None:
    """One client process posting over ``connections`` keep-alive connections.

    Uses the raw asyncio client from ``_http``: a general-purpose client spends more
    CPU per request than the collector does, and on two cores it would compete with
    the server, so the figure would measure the client.
    """

    async def post_all(share: list[bytes]) -> None:
        conn = await Conn(f"http://127.0.0.1:{port}").open()
        try:
            for body in share:
                status, answer = await conn.request("POST", "/api/v2/spans", body)
                if status != 202:
                    raise RuntimeError(answer.decode())
        finally:
            conn.close()

    async def run() -> None:
        async with asyncio.TaskGroup() as group:
            for i in range(connections):
                group.create_task(post_all(bodies[i::connections]))

    asyncio.run(run())
    queue.put(len(bodies))


def measure_ingest(port: int, batches: list[bytes], *, clients: int, processes: int) -> float:
    """Spans/s from the first request to the last 202 (every span is then committed)."""
    queue: Any = multiprocessing.Queue()
    per_process = max(1, clients // processes)
    shares = [batches[i::processes] for i in range(processes)]
    workers = [
        multiprocessing.Process(target=client_worker, args=(port, share, per_process, queue))
        for share in shares
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if any(worker.exitcode for worker in workers):
        raise RuntimeError("a client failed")
    return len(batches) * BATCH / elapsed


def measure_floor(batches: list[bytes], directory: str, *, runs: int = 3) -> float:
    """Raw SQLite: the same rows, same schema, indexes and pragmas, executemany in one
    transaction into a fresh file; the best of ``runs`` (the machine is shared, and a
    floor is what SQLite can do, so noise must not lower it)."""
    received = int(time.time() * 1e6)
    spans = [span for body in batches for span in decode_span_list(body)]
    rows = as_tuples(rows_from_spans(spans, received)[0])
    best = 0.0
    for run in range(runs):
        path = os.path.join(directory, f"floor-{run}.db")
        connection = sqlite3.connect(path, isolation_level=None)
        for statement in (*span_schema.PRAGMAS, *span_schema.SCHEMA):
            connection.execute(statement)
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(span_schema.INSERT_SPAN, rows)
        connection.execute("COMMIT")
        elapsed = time.perf_counter() - started
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path + suffix)
        best = max(best, len(rows) / elapsed)
    return best


def fill(store: SpanStore, total: int, rng: random.Random) -> list[str]:
    """Bulk-load ``total`` spans through the store (no HTTP); returns sampled trace ids."""
    now_us = int(time.time() * 1e6)
    sample: list[str] = []
    while store.count() < total:
        chunk: list[Any] = []
        for _ in range(50):
            chunk.extend(decode_span_list(orjson.dumps(make_batch(rng, now_us))))
        store.ingest(chunk)
        sample.append(chunk[0]["traceId"])
    return sample


def p99_ms(client: httpx.Client, urls: list[str]) -> float:
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code}")
    timings.sort()
    return timings[max(0, int(len(timings) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans stored for latency")
    parser.add_argument("--ingest-spans", type=int, default=200_000, help="spans posted over HTTP")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(7)
    now_us = int(time.time() * 1e6)
    batches = [orjson.dumps(make_batch(rng, now_us)) for _ in range(args.ingest_spans // BATCH)]
    with tempfile.TemporaryDirectory() as directory:
        store = SpanStore(Path(directory) / "spans.db", max_spans=10 * args.spans)
        port = free_port()
        server = start_server(store, port)
        ingest = measure_ingest(port, batches, clients=args.clients, processes=args.processes)
        queryable = store.count()
        floor = measure_floor(batches, directory)
        posted = [
            orjson.loads(body)[0]["traceId"] for body in batches[:: max(1, len(batches) // 100)]
        ]
        sample = (
            fill(store, args.spans, rng) + posted
        )  # posted: --spans may be below the ingest count
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            lookups = [f"/api/v2/trace/{rng.choice(sample)}" for _ in range(args.queries)]
            searches = [
                f"/api/v2/traces?serviceName={rng.choice(SERVICES)}&limit=10"
                for _ in range(args.queries)
            ]
            lookup = p99_ms(client, lookups)
            search = p99_ms(client, searches)
        stored = store.count()
        server.should_exit = True
        store.close()
    result = {
        "ingest_spans_per_s": round(ingest),
        "queryable_after_ingest": queryable,
        "floor_spans_per_s": round(floor),
        "ingest_vs_floor_ratio": round(ingest / floor, 3),
        "lookup_p99_ms": round(lookup, 2),
        "search_p99_ms": round(search, 2),
        "stored_spans": stored,
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
