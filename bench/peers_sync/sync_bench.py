#!/usr/bin/env python3
"""asyncio (and uvloop) equivalents of bench/sync_bench.c.

    sync_bench.py lock|fanin|pingpong [--n N] [--m M] [--uvloop]

Same workloads and the same RESULT line as corio's sync-bench:
  lock:     N tasks x M rounds of `async with lock: count += 1; await sleep(0)`
            (every release hands the lock to a waiter); ns per hand-off.
  fanin:    N producer tasks each put M items into one Queue(maxsize=1000)
            drained by one consumer; ns per item, task creation included.
  pingpong: a token bounced through two Queue(maxsize=1); ns per round trip.
"""
import argparse
import asyncio
import time


async def bench_lock(n, m):
    n = n if n > 0 else 10
    total = m * n if m > 0 else 100000
    rounds = total // n
    lock = asyncio.Lock()
    count = 0

    async def worker():
        nonlocal count
        for _ in range(rounds):
            async with lock:
                count += 1
                await asyncio.sleep(0)

    t0 = time.perf_counter_ns()
    await asyncio.gather(*(worker() for _ in range(n)))
    dt = time.perf_counter_ns() - t0
    assert count == rounds * n
    return f"name=lock n={n} m={rounds} elapsed_s={dt / 1e9:.6f} ns_per_op={dt / count:.1f}"


async def bench_fanin(n, m):
    n = n if n > 0 else 10000
    m = m if m > 0 else 10
    q = asyncio.Queue(maxsize=1000)

    async def producer():
        for _ in range(m):
            await q.put(1)

    t0 = time.perf_counter_ns()
    tasks = [asyncio.create_task(producer()) for _ in range(n)]
    got = 0
    while got < n * m:
        got += await q.get()
    dt = time.perf_counter_ns() - t0
    await asyncio.gather(*tasks)
    return f"name=fanin n={n} m={m} elapsed_s={dt / 1e9:.6f} ns_per_op={dt / got:.1f}"


async def bench_pingpong(n, m):
    m = m if m > 0 else 1000000
    ping, pong = asyncio.Queue(maxsize=1), asyncio.Queue(maxsize=1)

    async def ponger():
        for _ in range(m):
            await pong.put(await ping.get())

    t = asyncio.create_task(ponger())
    v = 0
    t0 = time.perf_counter_ns()
    for _ in range(m):
        await ping.put(v + 1)
        v = await pong.get()
    dt = time.perf_counter_ns() - t0
    await t
    return f"name=pingpong m={m} elapsed_s={dt / 1e9:.6f} ns_per_op={dt / m:.1f}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bench", choices=["lock", "fanin", "pingpong"])
    p.add_argument("--n", type=int, default=-1)
    p.add_argument("--m", type=int, default=-1)
    p.add_argument("--uvloop", action="store_true")
    a = p.parse_args()
    impl = "asyncio"
    if a.uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        impl = "uvloop"
    fn = {"lock": bench_lock, "fanin": bench_fanin, "pingpong": bench_pingpong}[a.bench]
    line = asyncio.run(fn(a.n, a.m))
    name, rest = line.split(" ", 1)
    print(f"RESULT {name} impl={impl} {rest}")


if __name__ == "__main__":
    main()
