import json, os, subprocess, sys, time
R, B = sys.argv[1], sys.argv[2]
tests = json.load(open(os.path.join(R, ".dev/tests.json")))
fail = 0
def fix(s):
    return (s.replace("/work/main/build/../", R + "/").replace("/work/main/build", B)
             .replace("/work/main", R).replace("/usr/bin/python3", "python3"))
for t in tests:
    cmd = [fix(c) for c in t["cmd"]]
    env = dict(os.environ); env.update({k: fix(v) for k, v in (t.get("env") or {}).items()})
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=B, env=env, capture_output=True, text=True, timeout=t["timeout"])
        rc, out = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out = "TIMEOUT", str(e)
    ok = rc == 0
    fail += not ok
    summary = [l for l in out.splitlines() if "%:" in l or "SKIP" in l or "passed" in l.lower()][-3:]
    print(f"{t['name']:20s} {'OK ' if ok else 'FAIL'} rc={rc} {time.time()-t0:6.1f}s  {' | '.join(summary)}", flush=True)
    if not ok:
        print(out[-4000:])
print(f"suites failed: {fail} of {len(tests)}")
