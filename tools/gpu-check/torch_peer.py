#!/usr/bin/env python3
# PyTorch peer for the GPU check: times fp32 training steps of timm's legacy_seresnet50 (the same architecture as our
# se_resnet50) or resnet50 at the given batch on CUDA, and prints one JSON object like `se bench --json`.
import argparse, json, statistics, time
import torch, timm

p = argparse.ArgumentParser()
p.add_argument("--model", default="legacy_seresnet50")
p.add_argument("--batch", type=int, default=64)
p.add_argument("--input", type=int, default=224)
p.add_argument("--steps", type=int, default=30)
p.add_argument("--warmup", type=int, default=5)
a = p.parse_args()

# Same precision as ours by default: plain fp32, no TF32; cuDNN autotuning on (PyTorch's best eager setting).
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True
dev = torch.device("cuda")
model = timm.create_model(a.model, num_classes=1000).to(dev).train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(a.batch, 3, a.input, a.input, device=dev)
y = torch.arange(a.batch, device=dev) % 1000
times = []
for i in range(a.warmup + a.steps):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=False)
    torch.cuda.synchronize()
    if i >= a.warmup:
        times.append((time.perf_counter() - t0) * 1000)
med = statistics.median(times)
print(json.dumps({"model": a.model, "device": "cuda", "batch": a.batch, "images_per_sec": a.batch / (med / 1000),
                  "step_ms_median": med, "peak_device_bytes": torch.cuda.max_memory_allocated(), "torch": torch.__version__}))
