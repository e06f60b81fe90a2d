#!/usr/bin/env bash
# The GPU measurements in one command, sized for a ten-minute window on one GPU:
#   bash benchmarks/gpu_check.sh                        # writes report.txt to $OUT (./gpu-check)
#   ITERS=300 ACCEL=cpu bash benchmarks/gpu_check.sh    # a quick dry run of the same steps on a CPU
#
# 1. tests/test_gpu.py: the CUDA-graph path trains like the eager one; no waits for the GPU
#    between log iterations.
# 2. benchmarks/speed.py for mlp and dcgan (fp32 and bf16-mixed): the plain-loop reference, the
#    framework eager and with model.acceleration=cuda_graph, side by side.
# 3. 20000 iterations with the CUDA graph: dcgan through speed.py, and the book's mlp as a user
#    runs it (`python src/train.py model.acceleration=cuda_graph`), scored at the end.
# 4. benchmarks/sweep.py: 1, 4 and 8 seed jobs side by side on the one GPU (hydra/launcher=joblib,
#    CUDA graph), aggregate iterations/s (SWEEP_ONLY=1 runs steps 1 and 4 alone).
# REMEDIES=1 runs step 1, then benchmarks/recipes.py on `experiment=best` and each recall remedy
# alone (two seeds side by side, CUDA graph, ITERS iterations): the table in docs/results.md
# asks for at full length, the CPU's leaders first (a short budget cuts the rest). Give it a budget
# for 7 candidates (BUDGET, and fewer ITERS if short).
# Needs the project's dependencies (`make install`, then PYTHON=.venv/bin/python), and MNIST and
# the cached evaluator in data/ (any earlier `make train` leaves both), since GPU machines are
# often offline. Each step has its own time limit, and steps are skipped once the whole budget is
# spent, so the report always holds what finished.
set -u
OUT=${OUT:-gpu-check}
PYTHON=${PYTHON:-python3}
ACCEL=${ACCEL:-gpu}
ITERS=${ITERS:-20000}           # iterations of the full-length runs
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

short=$((ITERS < 2000 ? ITERS : 2000))
speed() { step "$1" "$2" "$PYTHON" benchmarks/speed.py --accelerator "$ACCEL" "${@:3}"; }

step 150 "tests: GPU paths" "$PYTHON" -m pytest -q -s -p no:cacheprovider tests/test_gpu.py
if [[ -n "${SWEEP_ONLY:-}" ]]; then
    step 300 "sweep: 1, 4, 8 jobs side by side on one device, CUDA graph" "$PYTHON" benchmarks/sweep.py \
        --accelerator "$ACCEL" --concurrency 1,4,8 --iterations "$ITERS" model.acceleration=cuda_graph
    tail -c 20000 "$OUT/stderr.txt" >"$OUT/stderr_tail.txt" 2>/dev/null && rm -f "$OUT/stderr.txt"
    echo "## done in $SECONDS s" >>"$REPORT"
    exit 0
fi
if [[ -n "${REMEDIES:-}" ]]; then
    graph=$([[ $ACCEL == gpu ]] && echo cuda_graph || echo eager)  # a CPU dry run: eager
    common="experiment=best trainer.max_steps=$ITERS trainer.accelerator=$ACCEL model.acceleration=$graph"
    step $((BUDGET - SECONDS - 10)) "recipes: best's recall remedies, $ITERS iterations" "$PYTHON" benchmarks/recipes.py \
        --out "$RUNS/remedies" "base:$common" \
        "d_steps2:$common model.d_steps_per_iteration=2" "ema999:$common model.ema_decay=0.999" \
        "hinge:$common loss=hinge" "mbstd:$common model.discriminator.minibatch_std=true" \
        "ttur:$common model.optimizer_g.lr=1e-4 model.optimizer_d.lr=4e-4" "diffaug:$common model.augment=[translation,cutout]"
    "$PYTHON" benchmarks/recipes.py --out "$RUNS/remedies" --table-only >>"$REPORT" 2>&1
    tail -c 20000 "$OUT/stderr.txt" >"$OUT/stderr_tail.txt" 2>/dev/null && rm -f "$OUT/stderr.txt"
    echo "## done in $SECONDS s" >>"$REPORT"
    exit 0
fi
speed 120 "speed: mlp" --iterations "$short" --rounds 2 --batch-sizes 32,128,512 --table-iterations $((short / 4))
speed 80 "speed: dcgan" --model dcgan --iterations $((short / 2)) --rounds 1 --batch-sizes ""
speed 50 "speed: dcgan, bf16-mixed" --model dcgan --lines eager,graph --iterations $((short / 2)) --rounds 1 \
    --batch-sizes "" trainer.precision=bf16-mixed
speed 100 "speed: dcgan, $ITERS iterations, CUDA graph" --model dcgan --lines graph --iterations "$ITERS" \
    --rounds 1 --batch-sizes ""
speed 80 "speed: dcgan, $ITERS iterations, CUDA graph, bf16-mixed" --model dcgan --lines graph \
    --iterations "$ITERS" --rounds 1 --batch-sizes "" trainer.precision=bf16-mixed

run="$RUNS/mlp-graph"
step 90 "train: python src/train.py model.acceleration=cuda_graph, $ITERS iterations" "$PYTHON" src/train.py \
    model.acceleration=cuda_graph trainer.max_steps="$ITERS" trainer.accelerator="$ACCEL" \
    trainer.enable_progress_bar=false hydra.run.dir="$run"
step 30 "train: what the run logged" "$PYTHON" - "$run" <<'PY'
import sys
from ganlab.reporting.tensorboard import read_scalars
logged = read_scalars(sys.argv[1])
losses = logged["1_losses/d_loss"]
first, last = losses[0], losses[-1]
print(f"iterations {first.step}-{last.step} in {last.wall_time - first.wall_time:.1f} s: "
      f"{(last.step - first.step) / (last.wall_time - first.wall_time):.0f} it/s")
for tag in sorted(t for t in logged if t.startswith("4_quality/")):
    print(tag, " ".join(f"{e.step}:{e.value:.3f}" for e in logged[tag]))
PY
step 300 "sweep: 1, 4, 8 jobs side by side on one device, CUDA graph" "$PYTHON" benchmarks/sweep.py \
    --accelerator "$ACCEL" --concurrency 1,4,8 --iterations $((ITERS / 2)) model.acceleration=cuda_graph
tail -c 20000 "$OUT/stderr.txt" >"$OUT/stderr_tail.txt" 2>/dev/null && rm -f "$OUT/stderr.txt"
echo "## done in $SECONDS s" >>"$REPORT"
