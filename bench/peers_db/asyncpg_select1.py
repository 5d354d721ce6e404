"""asyncpg peer of db-bench: N tasks on one asyncio loop, each with its own
connection, run SELECT 1 back to back for SECONDS; prints queries/s.
    python3 asyncpg_select1.py DSN_HOST SECONDS N...
DSN_HOST is the Unix socket directory (user postgres, db postgres)."""
import asyncio, sys, time
import asyncpg

async def run(host, seconds, n):
    conns = [await asyncpg.connect(host=host, user="postgres", database="postgres")
             for _ in range(n)]
    stop = time.monotonic() + seconds
    count = 0
    async def worker(c):
        nonlocal count
        while time.monotonic() < stop:
            await c.fetchval("SELECT 1")
            count += 1
    t0 = time.monotonic()
    await asyncio.gather(*(worker(c) for c in conns))
    el = time.monotonic() - t0
    print(f"asyncpg   SELECT 1  tasks=conns={n:<4d} {count / el:10.0f} queries/s")
    for c in conns:
        await c.close()

async def main():
    host, seconds = sys.argv[1], float(sys.argv[2])
    for n in [int(x) for x in sys.argv[3:]] or [1, 10, 100]:
        await run(host, seconds, n)

asyncio.run(main())
