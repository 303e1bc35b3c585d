#!/usr/bin/env bash
# GPU readiness check for rnnkit, to run on a machine with a CUDA GPU:
#   bash scripts/gpu_check.sh [OUT_DIR]        (default OUT_DIR: gpu_check/)
# 1. parity on CUDA: every backend of rnnkit.RNN / LSTM / GRU against torch.nn (cuDNN),
#    float64: outputs and every gradient (input and weights);
# 2. the main job (sentiment) for one epoch on --device cuda, fp32 and bf16;
# 3. DDP over nccl on every GPU of the machine (torchrun), one epoch, when there are >= 2;
# 4. speed of rnnkit's layers against cuDNN on the speed grid (benchmarks/speed.py --quick).
# Exit code 0 only if every step passed; 2 (and nothing run) without a CUDA device.
# It has NOT been run on a GPU yet: rnnkit is developed on a CPU-only machine (only step 1's
# code was tried there, with the device set to cpu); docs/distributed.md says so. The test
# suite never needs a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' || {
  echo "gpu_check: no CUDA device here (torch $(python3 -c 'import torch; print(torch.__version__)')): NOTHING WAS RUN, no GPU figures were produced" >&2
  exit 2
}
mkdir -p "$OUT"
python3 -m rnnkit info | tee "$OUT/info.txt"

echo "== 1. parity on CUDA (float64, every backend against torch.nn / cuDNN)"
python3 - <<'PY' | tee "$OUT/parity.txt"
import sys

import torch
from torch import nn

import rnnkit
from rnnkit.layers import backends

torch.manual_seed(0)
dev, failed = torch.device("cuda"), 0
# family: the backend registry's name (backends.available), rnnkit's class, torch's
pairs = {"lstm": (rnnkit.LSTM, nn.LSTM), "gru": (rnnkit.GRU, nn.GRU), "rnn_tanh": (rnnkit.RNN, nn.RNN)}
for family, (ours_cls, torch_cls) in pairs.items():
    for backend in backends.available(family):
        kw = {"num_layers": 2, "bidirectional": True, "batch_first": True}
        try:
            ours = ours_cls(3, 8, dtype=torch.float64, backend=backend, **kw).to(dev)
            ref = torch_cls(3, 8, dtype=torch.float64, **kw).to(dev)
            ref.load_state_dict(ours.state_dict())
            x = torch.randn(4, 7, 3, dtype=torch.float64, device=dev, requires_grad=True)
            y, _ = ours(x)
            y_ref, _ = ref(x)
            g = torch.autograd.grad(y.square().sum(), [x, *ours.parameters()])
            g_ref = torch.autograd.grad(y_ref.square().sum(), [x, *ref.parameters()])
        except Exception as e:  # a backend that cannot run on CUDA says why
            print(f"{family:8s} {backend:10s} not run on cuda: {str(e).splitlines()[0]}")
            continue
        diff = max(float((a - b).detach().abs().max()) for a, b in zip((y, *g), (y_ref, *g_ref)))
        ok = diff < 1e-8
        failed += not ok
        print(f"{family:8s} {backend:10s} max |diff| {diff:.2e}  {'ok' if ok else 'FAILED'}")
sys.exit(1 if failed else 0)
PY

echo "== 2. the main job, one epoch on cuda (fp32, then bf16)"
python3 -m rnnkit train sentiment --epochs 1 --device cuda --out "$OUT/sentiment_fp32" --overwrite
python3 -m rnnkit train sentiment --epochs 1 --device cuda --out "$OUT/sentiment_bf16" \
  --overwrite --set train.precision=bf16

GPUS=$(python3 -c 'import torch; print(torch.cuda.device_count())')
if [ "$GPUS" -ge 2 ]; then
  echo "== 3. DDP over nccl on $GPUS GPUs, one epoch"
  torchrun --standalone --nproc-per-node "$GPUS" -m rnnkit train sentiment --epochs 1 \
    --device cuda --out "$OUT/sentiment_ddp" --overwrite
else
  echo "== 3. DDP over nccl: skipped (one GPU)"
fi

echo "== 4. speed against cuDNN (benchmarks/speed.py --quick --device cuda)"
python3 benchmarks/speed.py --quick --device cuda --out "$OUT/speed_cuda.md"
echo "gpu_check: all steps passed; results in $OUT/"
