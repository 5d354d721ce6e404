-- wrk script: POST /jobs with a long sleep job, so that what is measured is
-- durable submission (the jobs themselves just wait, queued, behind the
-- workers). Usage: wrk -t1 -c64 -d10s --latency -s post_sleep.lua URL
wrk.method = "POST"
wrk.body = '{"type": "sleep", "seconds": 3600}'
wrk.headers["Content-Type"] = "application/json"

function response(status, headers, body)
  if status ~= 202 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
