#!/usr/bin/env python3
"""Writes a synthetic PyTorch memory snapshot of about SIZE_MB for benchmarking `gputel report`.

Shaped like torch.cuda.memory._dump_snapshot's output (pickle protocol 4): segments with blocks and
one device trace of alloc / free_requested / free_completed / segment_alloc entries, each with its
own list of new frame dicts (Python and C++ frames; strings memoized once, as pickle does), over
forward, backward and optimizer steps. Written opcode by opcode as it goes, so a snapshot of any
size takes little memory to write.
Usage: make-snapshot.py OUT.pickle [SIZE_MB]
"""
import random
import struct
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


class Writer:
    def __init__(self, f):
        self.f, self.memo, self.count = f, {}, 0

    def op(self, b):
        self.f.write(b)

    def memoize(self):
        self.op(b"\x94")
        self.count += 1
        return self.count - 1

    def str(self, s):
        if s in self.memo:
            i = self.memo[s]
            self.op(b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i))
            return
        data = s.encode()
        self.op(b"\x8c" + bytes([len(data)]) + data if len(data) < 256 else b"X" + struct.pack("<I", len(data)) + data)
        self.memo[s] = self.memoize()

    def int(self, n):
        if 0 <= n < 256:
            self.op(b"K" + bytes([n]))
        elif -2**31 <= n < 2**31:
            self.op(b"J" + struct.pack("<i", n))
        else:
            data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            self.op(b"\x8a" + bytes([len(data)]) + data)

    def value(self, v):
        if isinstance(v, bool):
            self.op(b"\x88" if v else b"\x89")
        elif isinstance(v, int):
            self.int(v)
        elif isinstance(v, str):
            self.str(v)
        elif isinstance(v, list):
            self.op(b"]"); self.memoize()
            if v:
                self.op(b"(")
                for x in v:
                    self.value(x)
                self.op(b"e")
        elif isinstance(v, dict):
            self.dict(v.items())
        else:
            raise TypeError(type(v))

    def dict(self, items):
        self.op(b"}"); self.memoize(); self.op(b"(")
        for k, x in items:
            self.str(k); self.value(x)
        self.op(b"u")


def frames(kind, depth):
    stack = [("??", 0, n) for n in cpp] + list(kind) + [("/app/train.py", 100 + i, "loop") for i in range(depth)]
    return [{"filename": f, "line": l, "name": n} for f, l, n in stack]


with open(out, "wb") as f:
    w = Writer(f)
    w.op(b"\x80\x04")
    addr = 0x7f0000000000
    w.op(b"}"); w.memoize(); w.op(b"(")
    w.str("segments")
    w.value([{"device": 0, "address": addr, "total_size": 80 << 30, "allocated_size": 0, "active_size": 0, "requested_size": 0,
              "stream": 0, "segment_type": "large", "is_expandable": False, "frames": [], "blocks": []}])
    w.str("device_traces")
    w.op(b"]"); w.memoize(); w.op(b"(")          # the list of devices
    w.op(b"]"); w.memoize()                      # device 0's trace, appended in batches
    time, entries = 1_700_000_000_000_000, 0

    def entry(action, a, s, kind):
        global time, entries
        time += 1
        entries += 1
        w.dict([("action", action), ("addr", a), ("size", s), ("stream", 0), ("time_us", time), ("frames", frames(kind, 30))])

    w.op(b"("); entry("segment_alloc", addr, 80 << 30, forward); w.op(b"e")
    while f.tell() < target:
        w.op(b"(")
        live = []
        for kind, n in ((forward, 400), (backward, 400), (optim, 200)):
            for _ in range(n):
                a = addr + random.randrange(1 << 30) * 512
                s = random.choice([512, 4096, 1 << 20, 8 << 20])
                entry("alloc", a, s, kind)
                live.append((a, s, kind))
                if random.random() < 0.6:
                    a, s, _ = live.pop(random.randrange(len(live)))
                    # Freed where the tensor dies: in the phase running now.
                    entry("free_requested", a, s, kind)
                    entry("free_completed", a, s, kind)
        w.op(b"e")
    w.op(b"e")                                   # device 0 into the list of devices
    w.op(b"u.")                                  # both keys into the top dict; stop
print(f"{out}: {entries} trace entries")
