#!/usr/bin/env python3
# PyTorch peer for the GPU check: times fp32 training steps of timm's legacy_seresnet50 (the same architecture as our
# se_resnet50) or resnet50 at the given batch on CUDA, and prints one JSON object like `se bench --json`.
# Without timm (the GPU machine has no network), legacy_seresnet50 falls back to the inline copy below (same layers,
# stride on the first 1x1 as in timm's SEResNetBottleneck) and resnet50 to torchvision's. Any failure still prints one
# JSON object, {"error": ...}, so run.sh's summary can say why.
import argparse, json, statistics, sys, time, traceback

p = argparse.ArgumentParser()
p.add_argument("--model", default="legacy_seresnet50")
p.add_argument("--batch", type=int, default=64)
p.add_argument("--input", type=int, default=224)
p.add_argument("--steps", type=int, default=30)
p.add_argument("--warmup", type=int, default=5)
a = p.parse_args()


def inline_legacy_seresnet50(nn):
    # timm legacy_seresnet50 / Cadene se_resnet50: SE after bn3 (1x1 convs with bias, reduction 16), stride on conv1.
    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc1 = nn.Conv2d(c, c // 16, 1)
            self.fc2 = nn.Conv2d(c // 16, c, 1)

        def forward(self, x):
            s = x.mean((2, 3), keepdim=True)
            return x * self.fc2(self.fc1(s).relu()).sigmoid()

    class Bottleneck(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            cout = planes * 4
            self.conv1 = nn.Conv2d(cin, planes, 1, stride, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(cout)
            self.se = SE(cout)
            self.down = None if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn1(self.conv1(x)).relu()
            out = self.bn2(self.conv2(out)).relu()
            out = self.se(self.bn3(self.conv3(out)))
            return (out + (x if self.down is None else self.down(x))).relu()

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True)]
    cin = 64
    for planes, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            layers.append(Bottleneck(cin, planes, stride if i == 0 else 1))
            cin = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def create_model(torch):
    try:
        import timm
        return timm.create_model(a.model, num_classes=1000), f"timm {timm.__version__}"
    except ImportError:
        if a.model == "legacy_seresnet50":
            return inline_legacy_seresnet50(torch.nn), "inline (no timm)"
        if a.model == "resnet50":
            import torchvision
            return torchvision.models.resnet50(num_classes=1000), f"torchvision {torchvision.__version__} (no timm)"
        raise


try:
    import torch
    # Same precision as ours by default: plain fp32, no TF32; cuDNN autotuning on (PyTorch's best eager setting).
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model, source = create_model(torch)
    model = model.to(dev).train()
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
    print(json.dumps({"model": a.model, "source": source, "device": "cuda", "batch": a.batch, "images_per_sec": a.batch / (med / 1000),
                      "step_ms_median": med, "peak_device_bytes": torch.cuda.max_memory_allocated(), "torch": torch.__version__}))
except Exception as e:  # one JSON line either way (run.sh reads the last line)
    traceback.print_exc()
    print(json.dumps({"model": a.model, "error": f"{type(e).__name__}: {e}"}))
    sys.exit(1)
