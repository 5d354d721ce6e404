-- wrk script: POST /jobs with jobs that finish at once, so each submission
-- also costs its run: two more durable writes (running, succeeded).
wrk.method = "POST"
wrk.body = '{"type": "sleep", "seconds": 0}'
wrk.headers["Content-Type"] = "application/json"
