#!/usr/bin/env python3
"""spawn+wait of `true` with asyncio.create_subprocess_exec: N children,
C at a time (C tasks each running N/C one after another). Same output
format as `corio-bench process`. Optional: --uvloop."""
import asyncio, resource, sys, time


def arg(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


async def one(k):
    for _ in range(k):
        p = await asyncio.create_subprocess_exec("true")
        rc = await p.wait()
        if rc != 0:
            raise SystemExit("true failed")


async def main(n, c):
    t0 = time.monotonic()
    await asyncio.gather(*(one(n // c) for _ in range(c)))
    dt = time.monotonic() - t0
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    impl = "uvloop" if "--uvloop" in sys.argv else "asyncio"
    print(f"RESULT name=process impl={impl} n={n} concurrency={c} elapsed_s={dt:.6f} "
          f"spawns_per_s={n / dt:.0f} hwm_kb={hwm}", flush=True)


if __name__ == "__main__":
    n, c = arg("--n", 2000), arg("--concurrency", 100)
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(main(n, c))
