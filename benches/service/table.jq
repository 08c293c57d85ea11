# benches/service/run: the Markdown table from results.json. Argument: $out (the results folder).

def f(n): if . == null then "–" else (. * pow(10; n) | round) / pow(10; n) | tostring end;
def pct: if . == null then "–" else (. * 1000 | round) / 10 | tostring + " %" end;
def times: if . == null then "–" else f(3) + "×" end;
def order: {"wrk-c256": 0, "wrk-c1000": 1, "mix-view_one": 2, "mix-full": 3}[.] // 9;

. as $r
| "## scan-service vs scan-baseline: GET /api/scans/{id}, cached and uncached",
  "",
  "\($r.date) on \($r.host), \($r.cores) cores shared by wrk, the service, PostgreSQL and Redis; \($r.rounds) round(s) per cell, \($r.duration) each, services interleaved; medians over rounds.",
  "wrk: \($r.wrk). Mixes: \($r.loadtest // "not run (--no-mix)"). Data: \($r.seeded_by). Pool: \($r.pool_size) connections each.",
  "scan-service: production layers on, \($r.scan_service_rate_limit). Same JSON for ids 1..3: \(if $r.same_json_ids_1_to_3 == null then "not compared" else $r.same_json_ids_1_to_3 end).",
  "",
  "| mode | workload | service | RPS | p50 ms | p99 ms | errors | hit rate | peak RSS MB | RPS ratio | p99 ratio |",
  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ($r.cells | sort_by(.mode, (.workload | order), .service)[]
    | . as $c
    | (if .service == "scan-service"
        then $r.ratios | map(select(.mode == $c.mode and .workload == $c.workload))[0]
        else null end) as $q
    | "| \(.mode) | \(.workload) | \(.service) | \(.rps | f(0)) | \(.p50_ms | f(2)) | \(.p99_ms | f(2)) | \(.errors)\(if .failed_runs > 0 then " (\(.failed_runs) run(s) failed)" else "" end) | \(.hit_rate | pct) | \(.peak_rss_mb | f(1)) | \(if $q then $q.rps | times else "" end) | \(if $q then $q.p99 | times else "" end) |"),
  "",
  "Ratios are scan-service / baseline (RPS: higher is better; p99: lower is better). Full data: \($out)/results.json."
