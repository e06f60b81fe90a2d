#!/usr/bin/env bash
# The GPU measurements in one command, sized for a ten-minute window on one GPU:
#   bash benchmarks/gpu_check.sh                 # writes report.txt and sample grids to $OUT (./gpu-check)
#   ITERS=200 ACCEL=cpu bash benchmarks/gpu_check.sh   # a quick dry run of the same steps on a CPU
#
# 1. `benchmarks/speed.py` for mlp and dcgan: the plain-loop reference and the framework side by side.
# 2. Full-length runs (20000 iterations) of experiment=best, dcgan and cgan, each scored afterwards
#    by src/evaluate.py (10,000 samples against the 10,000 test images).
# Needs the project's dependencies (`make install`, then PYTHON=.venv/bin/python), and MNIST and
# the cached evaluator in data/ (any earlier `make train` leaves both), since GPU machines are
# often offline. Each step has its own time limit, and steps are skipped once the whole budget is
# spent, so the report always holds what finished.
set -u
OUT=${OUT:-gpu-check}
PYTHON=${PYTHON:-python3}
ACCEL=${ACCEL:-gpu}
ITERS=${ITERS:-20000}           # training iterations of the full-length runs
BUDGET=${BUDGET:-540}           # seconds for everything
RUNS=${RUNS_DIR:-/tmp/gpu-check-runs}
mkdir -p "$OUT" "$RUNS"
REPORT="$OUT/report.txt"
export PYTHONUNBUFFERED=1

step() {  # step <seconds> <title> <command...>: runs it if the budget allows, output into the report
    local limit=$1 title=$2; shift 2
    local left=$((BUDGET - SECONDS))
    if ((left < 20)); then echo "## $title: skipped, budget spent" >>"$REPORT"; return; fi
    ((limit > left)) && limit=$left
    echo "## $title (limit ${limit} s)" >>"$REPORT"
    local start=$SECONDS
    timeout "$limit" "$@" >>"$REPORT" 2>>"$OUT/stderr.txt"
    echo "## exit $? after $((SECONDS - start)) s" >>"$REPORT"
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
    "$PYTHON" -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
} >"$REPORT" 2>&1

bench_iters=$((ITERS < 2000 ? ITERS : 2000))
step 110 "speed: mlp" "$PYTHON" benchmarks/speed.py --accelerator "$ACCEL" --iterations "$bench_iters" --rounds 2 \
    --batch-sizes 32,128,512 --table-iterations $((bench_iters / 4))
step 80 "speed: dcgan" "$PYTHON" benchmarks/speed.py --model dcgan --accelerator "$ACCEL" --iterations "$bench_iters" \
    --rounds 1 --batch-sizes 128 --table-iterations $((bench_iters / 4))

for exp in best dcgan cgan; do
    run="$RUNS/$exp"
    step 110 "train: experiment=$exp, $ITERS iterations" "$PYTHON" src/train.py \
        experiment="$exp" trainer.max_steps="$ITERS" trainer.accelerator="$ACCEL" eval_interval="$ITERS" \
        callbacks.progress_bar=null trainer.enable_progress_bar=false hydra.run.dir="$run"
    if [[ -f "$run/checkpoints/last.ckpt" ]]; then
        step 40 "evaluate: experiment=$exp" "$PYTHON" src/evaluate.py ckpt_path="$run/checkpoints/last.ckpt" floor=false
        last_grid=$(ls "$run"/samples/*.png 2>/dev/null | tail -1)
        [[ -n "$last_grid" ]] && cp "$last_grid" "$OUT/$exp.png"
    fi
done
tail -c 20000 "$OUT/stderr.txt" >"$OUT/stderr_tail.txt" 2>/dev/null && rm -f "$OUT/stderr.txt"
echo "## done in $SECONDS s" >>"$REPORT"
