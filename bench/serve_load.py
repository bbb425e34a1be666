#!/usr/bin/env python3
"""Load test for `sculpt serve`: N concurrent streaming clients for a fixed time on loopback.

Starts the server itself (build/sculpt serve on a free port), warms it up, then runs --clients
threads that each send streaming /v1/completions requests back to back (prompts and seeds vary)
and read every server-sent event until [DONE]. Reports requests/s, generated tokens/s, latency
p50/p99 (request to [DONE]), time to first event p50/p99, errors by kind, and the server's RSS
before and after. Python standard library only.

  bench/serve_load.py [--sculpt build/sculpt] [-m MODEL] [--clients 32] [--duration 30]
                      [--parallel 8] [--max-tokens 32] [--json OUT]
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

PROMPTS = ["import os\n", "def main():\n", "class Config:\n", "for item in items:\n", "# Parse the arguments\n",
           "def read(path):\n", "x = {", "async def handler(request):\n", "try:\n", "with open(path) as f:\n"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_request(port, body):
    """(status, latency s, first-event s, completion tokens, error kind or None)"""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
        res = conn.getresponse()
        if res.status != 200:
            res.read()
            return res.status, time.perf_counter() - t0, None, 0, f"http {res.status}"
        first, tokens, done, buf = None, 0, False, b""
        while True:
            chunk = res.read1(65536) if hasattr(res, "read1") else res.read(4096)
            if not chunk:
                break
            if first is None:
                first = time.perf_counter() - t0
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                data = ev[len(b"data: "):]
                if data == b"[DONE]":
                    done = True
                    continue
                obj = json.loads(data)
                if "error" in obj:
                    return 200, time.perf_counter() - t0, first, 0, "error event"
                usage = obj.get("sculpt", {}).get("usage")
                if usage:
                    tokens = usage["completion_tokens"]
        return 200, time.perf_counter() - t0, first, tokens, None if done else "no [DONE]"
    except (OSError, http.client.HTTPException, ValueError) as e:
        return 0, time.perf_counter() - t0, None, 0, type(e).__name__
    finally:
        conn.close()


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sculpt", default="build/sculpt")
    ap.add_argument("-m", "--model", default="")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--parallel", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", help="write the report here too")
    args = ap.parse_args()
    if args.clients < 1 or args.duration <= 0:
        sys.exit("serve_load: error: --clients must be >= 1 and --duration > 0")

    cmd = [args.sculpt, "serve", "--port", "0", "--parallel", str(args.parallel),
           "--max-queue", str(args.clients), "-t", str(args.threads)]
    if args.model:
        cmd += ["-m", args.model]
    srv = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    port = None
    line = srv.stderr.readline()
    m = re.search(r"http://[\d.]+:(\d+)", line)
    if not m:
        srv.kill()
        sys.exit(f"serve_load: error: the server did not start: {line.strip()} {srv.stderr.read()}")
    port = int(m.group(1))
    try:
        for i in range(3):  # warm-up
            one_request(port, {"prompt": PROMPTS[i], "max_tokens": args.max_tokens, "stream": True})
        rss_before = rss_kib(srv.pid)
        results, lock = [], threading.Lock()
        stop_at = time.perf_counter() + args.duration

        def client(k):
            n = 0
            while time.perf_counter() < stop_at:
                body = {"prompt": PROMPTS[(k + n) % len(PROMPTS)], "max_tokens": args.max_tokens,
                        "seed": k * 1000 + n, "temperature": 0.7 if (k + n) % 2 else 0.0, "stream": True}
                r = one_request(port, body)
                with lock:
                    results.append(r)
                n += 1

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss_after = rss_kib(srv.pid)
        alive = srv.poll() is None
    finally:
        srv.terminate()
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
    ok = [r for r in results if r[4] is None]
    errors = {}
    for r in results:
        if r[4] is not None:
            errors[r[4]] = errors.get(r[4], 0) + 1
    five_xx = sum(1 for r in results if r[0] >= 500)
    report = {
        "clients": args.clients, "parallel": args.parallel, "duration_s": round(wall, 2),
        "max_tokens": args.max_tokens, "requests": len(results), "ok": len(ok),
        "requests_per_s": round(len(ok) / wall, 2),
        "tokens_per_s": round(sum(r[3] for r in ok) / wall, 1),
        "latency_p50_s": round(pct([r[1] for r in ok], 50), 3), "latency_p99_s": round(pct([r[1] for r in ok], 99), 3),
        "first_event_p50_s": round(pct([r[2] for r in ok if r[2] is not None], 50), 3),
        "first_event_p99_s": round(pct([r[2] for r in ok if r[2] is not None], 99), 3),
        "errors": errors, "http_5xx": five_xx, "server_alive_after": alive,
        "rss_before_mib": round(rss_before / 1024, 1), "rss_after_mib": round(rss_after / 1024, 1),
        "server_exit_code": srv.returncode,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if five_xx or not alive or errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
