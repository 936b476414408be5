"""Runs p2p-bench --quick and checks its JSON is complete and error-free. Timings are
never asserted here: they live in the bench's own output."""
import atexit
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

build = os.environ["P2P_BUILD_DIR"]
tmp = tempfile.mkdtemp()
atexit.register(shutil.rmtree, tmp, True)


def show_peer_logs():
    """The end of every peer's log the bench kept (--keep), to say why a phase failed."""
    for log in sorted(glob.glob(os.path.join(tmp, "p2p-bench-*", "*.log"))):
        with open(log, errors="replace") as f:
            lines = f.readlines()
        interesting = [l for l in lines if " INFO " not in l] or lines[-3:]
        print(f"--- {os.path.basename(log)} ({len(lines)} lines; not INFO, or its end):")
        sys.stdout.writelines(interesting[-40:])


out = os.path.join(tmp, "latest.json")
p = subprocess.run([os.path.join(build, "p2p-bench"), "--quick", "--keep", "-o", out,
                    "--workdir", tmp], capture_output=True, text=True, timeout=260)
sys.stdout.write(p.stdout)
sys.stderr.write(p.stderr)
if p.returncode != 0:
    show_peer_logs()
assert p.returncode == 0, f"p2p-bench exited {p.returncode}"
with open(out) as f:
    r = json.load(f)

problems = []


def need(obj, keys, where):
    for k in keys:
        if k not in obj:
            problems.append(f"{where}: missing {k}")


need(r, ["version", "ceiling", "rest", "metrics_cost", "transfer", "parallel", "failover", "memory", "content",
        "http", "swarm"], "top level")
assert r["version"] == 1
need(r["ceiling"], ["tcp_loopback_MBps", "disk_write_MBps", "disk_direct_write_MBps"], "ceiling")
endpoints = {"listado", "listado_10k", "buscar_local", "buscar_local_nb", "buscar_remote"}
seen = set()
for row in r["rest"]:
    need(row, ["endpoint", "concurrency", "requests", "errors", "rps", "p50_us", "p99_us", "max_us"], "rest row")
    seen.add(row["endpoint"])
    if "nginx_fraction" not in row and "nginx" not in row:
        problems.append(f"rest {row['endpoint']} at {row['concurrency']}: no fraction of nginx, nor why")
    if row["errors"] != 0:
        problems.append(f"rest {row['endpoint']} at {row['concurrency']}: {row['errors']} errors")
    if row["requests"] <= 0:
        problems.append(f"rest {row['endpoint']} at {row['concurrency']}: no requests")
if seen != endpoints:
    problems.append(f"rest endpoints {sorted(seen)} != {sorted(endpoints)}")
need(r["metrics_cost"], ["alone_rps", "scraped", "scrape_ms", "scrape_bytes"], "metrics_cost")
for row in r["metrics_cost"].get("scraped", []):
    need(row, ["interval_ms", "rps", "p99_us", "ratio"], "metrics_cost row")
if len(r["metrics_cost"].get("scraped", [])) != 2:
    problems.append("metrics_cost: not two scrape intervals")
if not r["metrics_cost"].get("scrape_bytes", 0) > 0:
    problems.append("metrics_cost: no /metrics body")
kinds = set()
for row in r["transfer"]:
    need(row, ["op", "bytes", "sink", "MBps", "p50_ms"], "transfer row")
    kinds.add((row["op"], row["sink"]))
    if not row["MBps"] > 0:
        problems.append(f"transfer {row}: no throughput")
    if not row.get("bare_fraction", 0) > 0:
        problems.append(f"transfer {row}: no fraction of the bare gRPC server")
    if row["op"] == "upload" and not row.get("disk_MBps", 0) > 0:
        problems.append(f"transfer {row}: no disk ceiling measured before it")
if kinds != {("download", "bare"), ("download", "memory"), ("download", "file"), ("upload", "bare"),
             ("upload", "file")}:
    problems.append(f"transfer kinds {sorted(kinds)}")
need(r["parallel"], ["streams", "MBps", "one_stream_MBps", "bare_MBps"], "parallel")
need(r.get("latency_1MiB", {}), ["p50_ms", "bare_p50_ms", "new_channel_p50_ms", "upload_p50_ms",
                                 "durable_write_ms"], "latency_1MiB")
if r["parallel"].get("streams") != 16:
    problems.append("parallel streams != 16")
cases = {row["case"]: row for row in r["failover"]}
if set(cases) != {"titular_dead", "titular_hung"}:
    problems.append(f"failover cases {sorted(cases)}")
for c, row in cases.items():
    need(row, ["first_ms", "next_ms"], f"failover {c}")
    if not row.get("found"):
        problems.append(f"failover {c}: the file was not found through the suplente")
need(r["memory"], ["idle_rss_kb", "download_peak_rss_kb", "upload_peak_rss_kb"], "memory")

content = r.get("content", {})
need(content, ["hashing", "restart", "verified", "capped_holders", "resume"], "content")
need(content.get("hashing", {}), ["openssl_s", "peer_s", "ratio_to_openssl", "buscar_p99_us_hashing",
                                  "buscar_p99_us_idle", "peak_rss_kb"], "content.hashing")
restart = content.get("restart", {})
need(restart, ["files", "listed_all_s", "with_sha256", "bytes_hashed"], "content.restart")
if restart.get("with_sha256") != restart.get("files"):
    problems.append(f"restart: {restart.get('with_sha256')} of {restart.get('files')} files listed with sha256")
if restart.get("bytes_hashed") != 0:
    problems.append(f"restart over unchanged files hashed {restart.get('bytes_hashed')} bytes")
need(content.get("verified", {}), ["unverified_MBps", "verified_MBps", "ratio"], "content.verified")
if [row.get("holders") for row in content.get("capped_holders", [])] != [1, 2, 3]:
    problems.append("capped_holders: not 1, 2 and 3 holders")
for row in content.get("capped_holders", []):
    if not row.get("MBps", 0) > 0:
        problems.append(f"capped_holders {row}: no throughput")
resume = content.get("resume", {})
need(resume, ["pieces", "resumed_pieces", "first_run_cancelled", "bytes_beyond_missing"], "content.resume")
if not resume.get("first_run_cancelled") or not resume.get("resumed_pieces", 0) > 0:
    problems.append(f"resume: the first run was not cut short with pieces kept: {resume}")
# A resumed download re-sends at most one piece beyond what was missing (1 MiB pieces).
if resume.get("bytes_beyond_missing", 0) > 1024 * 1024:
    problems.append(f"resume re-sent {resume.get('bytes_beyond_missing')} bytes beyond what was missing")

http = r.get("http", {})
need(http.get("download", {}), ["file_bytes", "peer_MBps", "nginx_MBps", "nginx_fraction", "rss_idle_kb",
                                "rss_peak_kb"], "http.download")
need(http.get("small_gets", {}), ["rps", "p99_us", "errors", "nginx_rps", "nginx_fraction"], "http.small_gets")
need(http.get("page", {}), ["bytes", "first_load_ms"], "http.page")
if http.get("small_gets", {}).get("errors", 0) != 0:
    problems.append(f"http small GETs: {http['small_gets']['errors']} errors")
if not 0 < http.get("page", {}).get("bytes", 0) <= 50_000:
    problems.append(f"http: the web page is {http.get('page', {}).get('bytes')} bytes (at most 50 kB)")

swarm = r.get("swarm", {})
results = swarm.get("results", {})
if set(results) != {"dht", "walk"}:
    problems.append(f"swarm: modes {sorted(results)}, not dht and walk")
for mode, phases in results.items():
    for phase in ("before", "after_kill"):
        need(phases.get(phase, {}), ["searches", "found_pct", "p50_ms", "p99_ms", "dht_msgs_per_search",
                                     "rss_mb_median", "pss_mb_median"], f"swarm {mode} {phase}")
        if not phases.get(phase, {}).get("searches", 0) > 0:
            problems.append(f"swarm {mode} {phase}: no searches")

if problems:
    print("\n".join(problems))
    show_peer_logs()
    sys.exit(1)
print("bench JSON complete, no errors")
