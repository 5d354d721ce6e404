#!/usr/bin/env python3
"""A fixed burn-down of no-op jobs for corio-jobs, to compare two builds
run after run (docs/benchmarks.md, "corio-jobs against the job-queue
peers"). The store is made once, as the peer harness makes it (one worker
held by a sleep-3600 job, N sleep-0 jobs POSTed behind it, SIGKILL), and
copied for every run; a run starts BIN with 64 workers and times it from
/healthz until /metrics counts N succeeded.

  burn.py make-sqlite BIN N            -> /tmp/jb/tmpl.db
  burn.py pg-start | pg-stop           a private PostgreSQL in /tmp/jb/pg
  burn.py make-pg BIN N                -> table tmpl in it
  burn.py run-sqlite BIN [WRAP...]     prints burn_rate=... (WRAP: perf ...)
  burn.py run-pg BIN [WRAP...]

Needs the peer harness' loadgen.py ($PEERS_JOBS, default
../shared/peers/jobs) and, for PostgreSQL, Debian's postgresql-15. Run as
root (PostgreSQL runs as the postgres user).
"""
import os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
PGD = "/tmp/jb/pg"; PGB = "/usr/lib/postgresql/15/bin"
AS = ["runuser", "-u", "postgres", "--"]
URL = f"postgresql:///jb?host={PGD}&port=5432&user=postgres"
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def get(p, path):
    return urllib.request.urlopen(f"http://127.0.0.1:{p}{path}", timeout=5).read()
def post(p, path, body):
    r = urllib.request.Request(f"http://127.0.0.1:{p}{path}", data=body.encode(), method="POST")
    return urllib.request.urlopen(r, timeout=5).read()
def start(cmd, p, wrap=()):
    proc = subprocess.Popen(list(wrap) + cmd, stdout=subprocess.DEVNULL, stderr=open("/tmp/jb/srv.err", "a"))
    t0 = time.monotonic()
    while True:
        try:
            get(p, "/healthz"); break
        except Exception:
            if proc.poll() is not None: sys.exit("server died")
            time.sleep(0.01)
    return proc, time.monotonic()
def done(p):
    b = get(p, "/metrics").decode()
    return sum(int(m.group(2)) for m in re.finditer(r'^corio_jobs_jobs\{status="(succeeded|failed)"\} (\d+)', b, re.M))
def sql(q, db="jb"):
    return subprocess.run(AS + ["psql", "-h", PGD, "-U", "postgres", "-qAt", "-v", "ON_ERROR_STOP=1", "-c", q, db], check=True, capture_output=True, text=True).stdout.strip()
def make(bin_, n, db):
    p = port()
    proc, _ = start([bin_, "--listen", f"127.0.0.1:{p}", "--db", db, "--workers", "1"], p)
    post(p, "/jobs", '{"type": "sleep", "seconds": 3600}')
    time.sleep(0.3)
    r = subprocess.run([sys.executable, os.path.join(os.environ.get("PEERS_JOBS", "../shared/peers/jobs"), "loadgen.py"), "bulk", f"http://127.0.0.1:{p}", str(n)], capture_output=True, text=True)
    print(r.stdout.strip())
    proc.kill(); proc.wait()
def run(bin_, db, wrap, n):
    p = port()
    cpu0 = os.times()
    proc, t0 = start([bin_, "--listen", f"127.0.0.1:{p}", "--db", db, "--workers", "64"], p, wrap)
    d0 = done(p); d = d0
    while d < n:
        time.sleep(0.05); d = done(p)
        if time.monotonic() - t0 > 300: break
    t1 = time.monotonic()
    proc.send_signal(signal.SIGTERM); proc.wait()
    print(f"burn_rate={(d-d0)/(t1-t0):.0f} done={d} before_ready={d0} secs={t1-t0:.2f} load={os.getloadavg()[0]:.2f}")
os.makedirs("/tmp/jb", exist_ok=True)
cmd = sys.argv[1]
if cmd == "pg-start":
    shutil.rmtree(PGD, ignore_errors=True); os.makedirs(PGD); shutil.chown(PGD, "postgres", "postgres")
    subprocess.run(AS + [f"{PGB}/initdb", "-D", f"{PGD}/data", "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(AS + [f"{PGB}/pg_ctl", "-D", f"{PGD}/data", "-w", "-s", "-l", f"{PGD}/log", "-o", f"-k {PGD} -p 5432 -c listen_addresses=''", "start"], check=True)
    sql("CREATE DATABASE jb", "postgres")
elif cmd == "pg-stop":
    subprocess.run(AS + [f"{PGB}/pg_ctl", "-D", f"{PGD}/data", "-s", "-m", "fast", "stop"])
elif cmd == "make-sqlite":
    for f in ("/tmp/jb/tmpl.db", "/tmp/jb/tmpl.db-wal", "/tmp/jb/tmpl.db-shm", "/tmp/jb/tmpl.db.lock"):
        if os.path.exists(f): os.unlink(f)
    make(sys.argv[2], int(sys.argv[3]), "/tmp/jb/tmpl.db")
elif cmd == "make-pg":
    sql("DROP TABLE IF EXISTS corio_jobs; DROP TABLE IF EXISTS tmpl")
    make(sys.argv[2], int(sys.argv[3]), URL)
    sql("CREATE TABLE tmpl AS SELECT * FROM corio_jobs WHERE status='created'")
    print(sql("SELECT count(*) FROM tmpl"))
elif cmd == "run-sqlite":
    for f in os.listdir("/tmp/jb"):
        if f.startswith("run.db"): os.unlink("/tmp/jb/" + f)
    shutil.copy("/tmp/jb/tmpl.db", "/tmp/jb/run.db")
    if os.path.exists("/tmp/jb/tmpl.db-wal"): shutil.copy("/tmp/jb/tmpl.db-wal", "/tmp/jb/run.db-wal")
    n = int(os.environ.get("N", "50000"))
    run(sys.argv[2], "/tmp/jb/run.db", sys.argv[3:], n)
elif cmd == "run-pg":
    sql("TRUNCATE corio_jobs; INSERT INTO corio_jobs SELECT * FROM tmpl; CHECKPOINT")
    n = int(sql("SELECT count(*) FROM tmpl"))
    run(sys.argv[2], URL, sys.argv[3:], n)
