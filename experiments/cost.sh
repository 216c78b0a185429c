#!/bin/bash
# cost.sh CELL_DIR... [--at STEPS,...] — what each cell cost, as a markdown table: its wall clock
# at each budget (the row whose env_steps reaches it), split by phase (the t_*_s columns summed
# up to there: SAC updates, model training, phase 2, rollouts, env steps, messages), how many
# times it was stopped and resumed, its peak resident memory (the largest a process of it
# logged at its end) against its memory budget, and its newest checkpoint's size and write time.
# With --ends, a second table: the cost per 1 000 env steps by phase at the start of each run (its
# first epoch after the exploration epoch) and at its end (its newest epoch): how a run's cost
# grows with its data.
#   experiments/cost.sh exp/hopper-standard/hopper/*/s* --at 45000,70000
#   experiments/cost.sh exp/ant-humanoid/*/mbpo/s0 --ends
set -u
AT=""
ENDS=0
cells=()
while [ $# -gt 0 ]; do
  case $1 in
  --at) AT=$2; shift 2 ;;
  --ends) ENDS=1; shift ;;
  *) cells+=("$1"); shift ;;
  esac
done
python3 - "$AT" "$ENDS" "${cells[@]}" <<'EOF'
import csv, os, re, sys
at = [int(x) for x in sys.argv[1].split(",") if x]
ends = sys.argv[2] == "1"
cells = sys.argv[3:]
per = []
def mib(s):
    v, u = s.split()
    return float(v) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[u]
cols = ["t_sac_s", "t_model_s", "t_phase2_s", "t_rollout_s", "t_env_s", "t_comm_s"]
print("| cell | env steps | wall clock | SAC | model training | of it phase 2 | rollouts | env | comm | "
      "resumes | peak memory (budget) | newest checkpoint |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for d in cells:
    m = os.path.join(d, "metrics.csv")
    if not os.path.isfile(m):
        continue
    rows = list(csv.DictReader(open(m)))
    if not rows:
        continue
    log = open(os.path.join(d, "log.txt"), errors="replace").read() if os.path.exists(os.path.join(d, "log.txt")) else ""
    resumes = len(re.findall(r"resuming from checkpoint", log))
    peaks = [mib(p) for p in re.findall(r"peak resident memory ([0-9.]+ [KMG]iB)", log)]
    # the run checks its peak against the budget plus the reserve for the libraries' own memory
    budget = re.findall(r"memory budget ([0-9.]+ [KMG]iB(?: \+ [0-9.]+ [KMG]iB reserve)?)", log)
    ck = re.findall(r"checkpoint \S+ \([^)]*\): \d+ files, ([0-9.]+ [KMG]iB) in ([0-9.]+) s", log)
    mem = (f"{max(peaks):.0f} MiB" if peaks else "–") + (f" ({budget[-1]})" if budget else "")
    cks = f"{ck[-1][0]} in {ck[-1][1]} s" if ck else "–"
    targets = at or [int(float(rows[-1]["env_steps"]))]
    for a in targets:
        upto = [r for r in rows if float(r["env_steps"]) <= a]
        if not upto or float(upto[-1]["env_steps"]) < a:
            continue
        wall = float(upto[-1]["wall_s"])
        t = [sum(float(r.get(c) or 0) for r in upto if r.get(c) not in ("nan", "")) for c in cols]
        h = lambda x: f"{x / 3600:.2f} h" if x >= 3600 else f"{x:.0f} s"
        print(f"| {d} | {a} | {h(wall)} | " + " | ".join(h(x) for x in t) +
              f" | {resumes} | {mem} | {cks} |")
    # per 1 000 env steps: a row's t_* are its epoch's; its wall clock the difference of wall_s
    for k in ([1, len(rows) - 1] if len(rows) > 2 else []):
        r, q = rows[k], rows[k - 1]
        n = float(r["env_steps"]) - float(q["env_steps"])
        if n <= 0:
            continue
        f = 1000 / n
        w = (float(r["wall_s"]) - float(q["wall_s"])) * f
        t = [float(r.get(c) or 0) * f for c in cols]
        per.append(f"| {d} | {'start' if k == 1 else 'end'}: epoch {r['epoch']}, "
                   f"{float(r['env_steps']):.0f} env steps, {float(r['env_buffer']):.0f} real rows | "
                   f"{w:.0f} s | " + " | ".join(f"{x:.0f} s" for x in t) + " |")
if ends and per:
    print()
    print("| cell | epoch | wall clock per 1 000 env steps | SAC | model training | of it phase 2 | rollouts | env | comm |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(per))
EOF
