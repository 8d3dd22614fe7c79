#!/usr/bin/env python3
"""Writes a synthetic PyTorch memory snapshot of about SIZE_MB for benchmarking `gputel report`.

Shaped like torch.cuda.memory._dump_snapshot's output: segments with blocks, one device trace of
alloc / free_requested / free_completed / segment_alloc entries, each with a stack of Python and C++
frames (new frame dicts per entry, strings shared, as PyTorch's own snapshot does), over forward,
backward and optimizer steps.
Usage: make-snapshot.py OUT.pickle [SIZE_MB]
"""
import pickle
import random
import sys

out = sys.argv[1]
target = int(sys.argv[2]) * 1024 * 1024 if len(sys.argv) > 2 else 200 * 1024 * 1024
random.seed(7)
cpp = ["torch::unwind::unwind()", "torch::CapturedTraceback::gather(bool, bool, bool)",
       "c10::cuda::CUDACachingAllocator::Native::DeviceCachingAllocator::malloc(signed char, unsigned long, CUstream_st*)"]
forward = [("/venv/lib/python3.11/site-packages/torch/nn/functional.py", 2380, "linear"),
           ("/venv/lib/python3.11/site-packages/transformers/models/qwen2/modeling_qwen2.py", 212, "forward"),
           ("/venv/lib/python3.11/site-packages/torch/nn/modules/module.py", 1750, "_call_impl"),
           ("/app/train.py", 40, "train")]
backward = [("??", 0, "torch::autograd::generated::MmBackward0::apply(std::vector<at::Tensor>&&)"),
            ("??", 0, "torch::autograd::Engine::evaluate_function(...)")]
optim = [("/venv/lib/python3.11/site-packages/torch/optim/adamw.py", 500, "_multi_tensor_adamw"),
         ("/venv/lib/python3.11/site-packages/torch/optim/optimizer.py", 480, "wrapper"), ("/app/train.py", 44, "train")]


def frames(kind, depth):
    stack = [("??", 0, n) for n in cpp] + list(kind)
    stack += [("/app/train.py", 100 + i, "loop") for i in range(depth)]
    return [{"filename": f, "line": l, "name": n} for f, l, n in stack]


trace, time, addr, size_so_far = [], 1_700_000_000_000_000, 0x7f0000000000, 0
trace.append({"action": "segment_alloc", "addr": addr, "size": 80 << 30, "stream": 0, "time_us": time, "frames": frames(forward, 4)})
while size_so_far < target:
    live = []
    for kind, n in ((forward, 400), (backward, 400), (optim, 200)):
        for _ in range(n):
            time += 3
            a = addr + random.randrange(1 << 30) * 512
            s = random.choice([512, 4096, 1 << 20, 8 << 20])
            trace.append({"action": "alloc", "addr": a, "size": s, "stream": 0, "time_us": time, "frames": frames(kind, 30)})
            live.append((a, s, kind))
            if random.random() < 0.6:
                a, s, k = live.pop(random.randrange(len(live)))
                for action in ("free_requested", "free_completed"):
                    time += 1
                    trace.append({"action": action, "addr": a, "size": s, "stream": 0, "time_us": time, "frames": frames(k, 30)})
    size_so_far = len(trace) * 620  # about what an entry with ~40 frames takes pickled (strings memoized)
snapshot = {"segments": [{"device": 0, "address": addr, "total_size": 80 << 30, "allocated_size": 0, "active_size": 0,
                          "requested_size": 0, "stream": 0, "segment_type": "large", "is_expandable": False,
                          "frames": [], "blocks": []}],
            "device_traces": [trace]}
with open(out, "wb") as f:
    pickle.dump(snapshot, f, protocol=4)
print(f"{out}: {len(trace)} trace entries")
