# benches/service/run: results.json from the result rows (one JSON object per wrk or loadtest
# run): the cells (medians over rounds), the ratios scan-service / baseline, the run's settings.
# Arguments: $seeded $duration $rounds $users $mix $pool $same $host $cores $date.

def median:
  map(select(. != null)) | sort
  | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2
    end;

def ratio(a; b): if a == null or b == null or b == 0 then null else a / b end;

(group_by([.mode, .workload, .service])
  | map({
      service: .[0].service,
      mode: .[0].mode,
      workload: .[0].workload,
      rounds: length,
      rps: (map(.rps) | median),
      p50_ms: (map(.p50_ms) | median),
      p99_ms: (map(.p99_ms) | median),
      errors: (map(.errors // 0) | add),
      failed_runs: (map(select(.failed != null)) | length),
      hit_rate: (map(.hit_rate) | median),
      peak_rss_mb: (map(.peak_rss_mb) | max),
      runs: map(del(.service, .mode, .workload))
    })) as $cells
| {
    date: $date,
    host: $host,
    cores: $cores,
    rounds: $rounds,
    duration: $duration,
    wrk: "wrk -t2 -c256|-c1000 --latency -s benches/service/ids.lua (80% of requests on ids 1..1000, 20% on 1001..10000)",
    loadtest: (if $mix == 1
      then "loadtest --users \($users) --duration \($duration) (the full mix, and --mix view_one=1)"
      else null end),
    pool_size: $pool,
    seeded_by: $seeded,
    scan_service_rate_limit: "RATE_LIMIT_PER_SECOND=100000000 (set so it never triggers)",
    aggregation: "median over rounds for rps, latency and hit rate; errors summed; peak RSS the largest VmHWM",
    same_json_ids_1_to_3: $same,
    cells: $cells,
    ratios: [
      $cells | group_by([.mode, .workload])[]
      | (map(select(.service == "baseline"))[0]) as $b
      | (map(select(.service == "scan-service"))[0]) as $s
      | select($b != null and $s != null)
      | {
          mode: $s.mode,
          workload: $s.workload,
          rps: ratio($s.rps; $b.rps),
          p99: ratio($s.p99_ms; $b.p99_ms),
          peak_rss: ratio($s.peak_rss_mb; $b.peak_rss_mb)
        }
    ]
  }
