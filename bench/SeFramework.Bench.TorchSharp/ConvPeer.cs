// The peer side of the per-shape convolution comparison (`--conv all|NAME[,NAME...]`): torch conv2d (oneDNN) forward and
// forward+backward (dx and dw) on the shapes of bench/Shared/ConvShapes.cs (ours time the same list), timed like ConvTimer.cs.
using TorchSharp;
using static TorchSharp.torch;

using SeFramework.Bench.Shared;

namespace SeFramework.Bench.TorchSharp;

public static class ConvPeer
{
    /// <summary>The shapes to time (bench/Shared/ConvShapes.cs, shared with ours): "all", a name or a comma list.</summary>
    public static List<ConvShape> Select(string names)
    {
        var result = ConvShapes.Select(names);
        return result.Count > 0 ? result : throw new ArgumentException($"--conv {names}: no such shape; known: {ConvShapes.KnownNames}");
    }

    /// <summary>Whether the peer runs this shape as x[:, :, ::s, ::s] + a stride-1 1×1 conv (same outputs and
    /// gradients): oneDNN 3.7.1 raises SIGFPE in backward-data of the stride-2 1×1 convs 512→1024 and 1024→2048 on
    /// CPUs without AMX (see PointwiseConv in Models.cs; the same rule).</summary>
    public static bool Subsampled(ConvShape s, SubsampleMode mode) => s.R == 1 && s.Padding == 0 && s.Stride > 1 && mode switch
    {
        SubsampleMode.All => true,
        SubsampleMode.None => false,
        _ => s.K >= 1024,
    };

    public static Dictionary<string, object> Run(string names, int threads, int reps, int warmupMs, SubsampleMode mode)
    {
        torch.set_num_threads(threads);
        torch.random.manual_seed(0);
        var results = new List<Dictionary<string, object>>();
        foreach (var s in Select(names))
        {
            bool sub = Subsampled(s, mode);
            var x = torch.randn(s.N, s.C, s.H, s.H).requires_grad_(true);                 // (N, C, H, H)
            var w = (torch.randn(s.K, s.C, s.R, s.R) * 0.05).detach().requires_grad_(true); // (K, C, R, R)
            long stride = sub ? 1 : s.Stride;

            // x: (N, C, H, H) -> (N, K, P, P)
            Tensor Conv(Tensor input)
            {
                if (sub)
                {
                    var slice = TensorIndex.Slice(null, null, s.Stride);
                    input = input[TensorIndex.Colon, TensorIndex.Colon, slice, slice]; // (N, C, ceil(H/s), ceil(H/s))
                }
                return nn.functional.conv2d(input, w, null, strides: [stride, stride], padding: [s.Padding, s.Padding], groups: 1);
            }

            long[] outShape;
            using (var scope = torch.NewDisposeScope())
            using (var noGrad = torch.no_grad())
                outShape = Conv(x).shape;

            var fwd = Timing.Time(() =>
            {
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                _ = Conv(x);
            }, reps, warmupMs);
            // Forward, then dx and dw of sum(y), as ours (y.Sum().Backward()); autograd.grad returns fresh gradients
            // instead of accumulating into x.grad / w.grad, so no step pays an extra add.
            var fb = Timing.Time(() =>
            {
                using var scope = torch.NewDisposeScope();
                var y = Conv(x);
                var grads = torch.autograd.grad([y.sum()], [x, w]);
                if (grads.Count != 2) throw new InvalidOperationException("autograd.grad returned no dx/dw");
            }, reps, warmupMs);
            double p = outShape[2], q = outShape[3];
            double macs = (double)s.N * s.K * p * q * s.C * s.R * s.R;
            double fwdMs = Timing.Median(fwd), fbMs = Timing.Median(fb);
            results.Add(new Dictionary<string, object>
            {
                ["name"] = s.Name, ["n"] = s.N, ["c"] = s.C, ["h"] = s.H, ["w"] = s.H, ["k"] = s.K, ["r"] = s.R,
                ["stride"] = s.Stride, ["padding"] = s.Padding, ["groups"] = 1, ["out"] = outShape,
                ["fwd_ms"] = fwdMs, ["fwd_ms_min"] = fwd.Min(), ["fwdbwd_ms"] = fbMs, ["fwdbwd_ms_min"] = fb.Min(),
                ["fwd_gflops"] = 2 * macs / fwdMs / 1e6, ["fwdbwd_gflops"] = 6 * macs / fbMs / 1e6,
                ["note"] = sub ? $"peer runs x[:, :, ::{s.Stride}, ::{s.Stride}] + stride-1 1x1 (oneDNN 3.7.1 SIGFPE in stride-2 1x1 backward-data)" : "",
            });
            x.Dispose();
            w.Dispose();
        }
        return new Dictionary<string, object>
        {
            ["side"] = "peer",
            ["peer"] = $"TorchSharp {typeof(torch).Assembly.GetName().Version} / libtorch {torch.__version__}",
            ["threads"] = torch.get_num_threads(), ["reps"] = reps, ["warmup_ms"] = warmupMs, ["convs"] = results,
        };
    }
}
