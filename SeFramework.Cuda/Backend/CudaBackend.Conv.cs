// Convolutions on CUDA through cuDNN 9's legacy API: NCHW descriptors with a group count, one plan per (direction, geometry,
// dtype, TF32) holding the descriptors and the algorithm picked once by the *_v7 heuristics (the next one if it is not supported at
// run time or its workspace does not fit), workspace from the caching allocator.
// Bias add and the bias gradient use our kernels (channel_bias, sum).
using System.Collections.Concurrent;
using SeFramework.Backends;
using SeFramework.Cuda.Native;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Backend;

public sealed unsafe partial class CudaBackend
{
    /// <summary>Which convolution pass a cached plan serves.</summary>
    public enum ConvDirection { Forward, BackwardData, BackwardFilter }

    /// <summary>Key of the algorithm cache: the full geometry, the dtype and whether TF32 was allowed.</summary>
    public readonly record struct ConvPlanKey(ConvDirection Direction, Conv2dGeometry Geometry, DType DType, bool Tf32);

    // Descriptors (kept for the process lifetime, like PyTorch's benchmark cache) and the chosen algorithm.
    private sealed record ConvPlan(nint X, nint W, nint Conv, nint Y, int Algo, nuint WorkspaceBytes);

    private readonly Lazy<nint> _dnn;
    private readonly ConcurrentDictionary<ConvPlanKey, ConvPlan> _convPlans = new();
    private long _convPlanHits, _convPlanMisses;

    /// <summary>Algorithm-cache lookups that found a plan / had to run the heuristics.</summary>
    public (long Hits, long Misses) ConvPlanCacheStats => (Interlocked.Read(ref _convPlanHits), Interlocked.Read(ref _convPlanMisses));

    /// <summary>The cuDNN algorithm chosen for a geometry, or null when it has not been planned yet.</summary>
    public int? ConvAlgorithm(ConvPlanKey key) => _convPlans.TryGetValue(key, out var p) ? p.Algo : null;

    private nint CreateCudnn()
    {
        var d = CudaDevice;
        CudaCheck.Dnn(CuDnn.Create(out var h), "cudnnCreate", $"device {d.Ordinal}");
        CudaCheck.Dnn(CuDnn.SetStream(h, d.Stream.Handle), "cudnnSetStream");
        return h;
    }

    private static int DnnType(DType t) => t switch
    {
        DType.Float32 => CuDnn.DataFloat,
        DType.Float64 => CuDnn.DataDouble,
        _ => throw new NotSupportedException($"cuDNN convolutions here support float32 and float64, not {t}."),
    };

    private static string Describe(in Conv2dGeometry g) =>
        $"x ({g.N}, {g.C}, {g.H}, {g.W}), w ({g.K}, {g.CPerGroup}, {g.R}, {g.S}) -> y ({g.N}, {g.K}, {g.P}, {g.Q}), stride {g.Stride}, padding {g.Padding}, dilation {g.Dilation}, groups {g.Groups}";

    private ConvPlan Plan(ConvPlanKey key)
    {
        if (_convPlans.TryGetValue(key, out var plan))
        {
            Interlocked.Increment(ref _convPlanHits);
            return plan;
        }
        Interlocked.Increment(ref _convPlanMisses);
        plan = CreatePlan(key, rejected: null);
        return _convPlans.GetOrAdd(key, plan);
    }

    // cudnnStatus_t NOT_SUPPORTED: 3000 and its 3xxx sub-codes in cuDNN 9 (9 in cuDNN 8).
    internal static bool IsNotSupported(int status) => status is 9 or (>= 3000 and < 4000);

    // The heuristics' first algorithm can still fail for this shape (NOT_SUPPORTED at run time) or need a workspace that does not
    // fit: then plan again without the algorithms that failed and cache the new choice. False when no candidate is left.
    private bool TryNextAlgorithm(ConvPlanKey key, ref ConvPlan plan, HashSet<int> rejected)
    {
        rejected.Add(plan.Algo);
        ConvPlan next;
        try { next = CreatePlan(key, rejected); }
        catch (CudaException) { return false; } // no usable algorithm left: the caller reports the first failure
        _convPlans[key] = next;
        plan = next;
        return true;
    }

    private ConvPlan CreatePlan(ConvPlanKey key, IReadOnlySet<int>? rejected)
    {
        var g = key.Geometry;
        nint h = _dnn.Value;
        string ctx = $"Conv2d {key.Direction} {Describe(g)} {key.DType}";
        int dt = DnnType(key.DType);
        CudaCheck.Dnn(CuDnn.CreateTensorDescriptor(out var x), "cudnnCreateTensorDescriptor", ctx);
        CudaCheck.Dnn(CuDnn.SetTensor4dDescriptor(x, CuDnn.TensorNchw, dt, g.N, g.C, g.H, g.W), "cudnnSetTensor4dDescriptor", ctx + " (x)");
        CudaCheck.Dnn(CuDnn.CreateFilterDescriptor(out var w), "cudnnCreateFilterDescriptor", ctx);
        CudaCheck.Dnn(CuDnn.SetFilter4dDescriptor(w, dt, CuDnn.TensorNchw, g.K, g.CPerGroup, g.R, g.S), "cudnnSetFilter4dDescriptor", ctx + " (w)");
        CudaCheck.Dnn(CuDnn.CreateConvolutionDescriptor(out var conv), "cudnnCreateConvolutionDescriptor", ctx);
        CudaCheck.Dnn(CuDnn.SetConvolution2dDescriptor(conv, g.Padding, g.Padding, g.Stride, g.Stride, g.Dilation, g.Dilation, CuDnn.CrossCorrelation, dt),
            "cudnnSetConvolution2dDescriptor", ctx);
        CudaCheck.Dnn(CuDnn.SetConvolutionGroupCount(conv, g.Groups), "cudnnSetConvolutionGroupCount", ctx);
        // FMA math forbids TF32 for float32 (PyTorch's allow_tf32 = False); DEFAULT math may use TF32 tensor cores on Ampere+.
        int math = key.Tf32 ? CuDnn.MathDefault : CuDnn.MathFma;
        CudaCheck.Dnn(CuDnn.SetConvolutionMathType(conv, math), "cudnnSetConvolutionMathType", ctx);
        CudaCheck.Dnn(CuDnn.CreateTensorDescriptor(out var y), "cudnnCreateTensorDescriptor", ctx);
        CudaCheck.Dnn(CuDnn.SetTensor4dDescriptor(y, CuDnn.TensorNchw, dt, g.N, g.K, g.P, g.Q), "cudnnSetTensor4dDescriptor", ctx + " (y)");
        CudaCheck.Dnn(CuDnn.GetConvolution2dForwardOutputDim(conv, x, w, out int on, out int oc, out int oh, out int ow), "cudnnGetConvolution2dForwardOutputDim", ctx);
        if (on != g.N || oc != g.K || oh != g.P || ow != g.Q)
            throw new InvalidOperationException($"{ctx}: cuDNN computes output ({on}, {oc}, {oh}, {ow}), the geometry says ({g.N}, {g.K}, {g.P}, {g.Q}).");

        const int maxAlgos = 16;
        var perf = stackalloc CudnnConvolutionPerf[maxAlgos];
        int returned;
        string api;
        switch (key.Direction)
        {
            case ConvDirection.Forward:
                api = "cudnnGetConvolutionForwardAlgorithm_v7";
                CudaCheck.Dnn(CuDnn.GetConvolutionForwardAlgorithm_v7(h, x, w, conv, y, maxAlgos, out returned, perf), api, ctx);
                break;
            case ConvDirection.BackwardData:
                api = "cudnnGetConvolutionBackwardDataAlgorithm_v7";
                CudaCheck.Dnn(CuDnn.GetConvolutionBackwardDataAlgorithm_v7(h, w, y, conv, x, maxAlgos, out returned, perf), api, ctx);
                break;
            default:
                api = "cudnnGetConvolutionBackwardFilterAlgorithm_v7";
                CudaCheck.Dnn(CuDnn.GetConvolutionBackwardFilterAlgorithm_v7(h, x, y, conv, w, maxAlgos, out returned, perf), api, ctx);
                break;
        }
        int chosen = -1;
        for (int i = 0; i < returned && chosen < 0; i++)
        {
            if (perf[i].Status != 0 || rejected?.Contains(perf[i].Algo) == true) continue;
            // Without TF32, skip algorithms that would run on tensor cores (math types TENSOR_OP / TENSOR_OP_ALLOW_CONVERSION).
            if (!key.Tf32 && perf[i].MathType is CuDnn.MathTensorOp or CuDnn.MathTensorOpAllowConversion) continue;
            chosen = i;
        }
        if (chosen < 0) throw new CudaException($"{api} returned no usable algorithm ({returned} candidates) [{ctx}]");
        int algo = perf[chosen].Algo;
        if (key.Tf32) CudaCheck.Dnn(CuDnn.SetConvolutionMathType(conv, perf[chosen].MathType), "cudnnSetConvolutionMathType", ctx);
        nuint ws;
        switch (key.Direction)
        {
            case ConvDirection.Forward:
                CudaCheck.Dnn(CuDnn.GetConvolutionForwardWorkspaceSize(h, x, w, conv, y, algo, out ws), "cudnnGetConvolutionForwardWorkspaceSize", ctx);
                break;
            case ConvDirection.BackwardData:
                CudaCheck.Dnn(CuDnn.GetConvolutionBackwardDataWorkspaceSize(h, w, y, conv, x, algo, out ws), "cudnnGetConvolutionBackwardDataWorkspaceSize", ctx);
                break;
            default:
                CudaCheck.Dnn(CuDnn.GetConvolutionBackwardFilterWorkspaceSize(h, x, y, conv, w, algo, out ws), "cudnnGetConvolutionBackwardFilterWorkspaceSize", ctx);
                break;
        }
        return new ConvPlan(x, w, conv, y, algo, ws);
    }

    // One cuDNN convolution pass with its plan and the plan's workspace: Forward (a = x, b = w) -> y, BackwardData (a = w, b = dy) -> dx,
    // BackwardFilter (a = x, b = dy) -> dw. alpha = 1, beta = 0 in the tensor's precision (cuDNN reads doubles for double tensors).
    private void RunConv(ConvDirection dir, in Conv2dGeometry g, DType dtype, ulong a, ulong b, ulong output, string ctx)
    {
        var d = CudaDevice;
        var key = new ConvPlanKey(dir, g, dtype, AllowTf32 && dtype == DType.Float32);
        var plan = Plan(key);
        var rejected = new HashSet<int>();
        while (true)
        {
            ulong ws;
            try { ws = d.Allocator.Allocate(plan.WorkspaceBytes, ctx + $" workspace of algo {plan.Algo}"); }
            catch (CudaOutOfMemoryException) when (plan.WorkspaceBytes > 0)
            {
                if (TryNextAlgorithm(key, ref plan, rejected)) continue;
                throw;
            }
            int status;
            string api;
            try
            {
                double oneD = 1, zeroD = 0;
                float oneF = 1, zeroF = 0;
                bool f64 = dtype == DType.Float64;
                void* one = f64 ? (void*)&oneD : &oneF, zero = f64 ? (void*)&zeroD : &zeroF;
                nint h = _dnn.Value;
                (status, api) = dir switch
                {
                    ConvDirection.Forward => (CuDnn.ConvolutionForward(h, one, plan.X, a, plan.W, b, plan.Conv, plan.Algo,
                        ws, plan.WorkspaceBytes, zero, plan.Y, output), "cudnnConvolutionForward"),
                    ConvDirection.BackwardData => (CuDnn.ConvolutionBackwardData(h, one, plan.W, a, plan.Y, b, plan.Conv, plan.Algo,
                        ws, plan.WorkspaceBytes, zero, plan.X, output), "cudnnConvolutionBackwardData"),
                    _ => (CuDnn.ConvolutionBackwardFilter(h, one, plan.X, a, plan.Y, b, plan.Conv, plan.Algo,
                        ws, plan.WorkspaceBytes, zero, plan.W, output), "cudnnConvolutionBackwardFilter"),
                };
            }
            finally { d.Allocator.Free(ws); }
            int failedAlgo = plan.Algo;
            if (IsNotSupported(status) && TryNextAlgorithm(key, ref plan, rejected)) continue;
            CudaCheck.Dnn(status, api, ctx + $" algo {failedAlgo}" + (rejected.Count > 0 ? $"; algos tried: {string.Join(", ", rejected)}" : ""));
            return;
        }
    }

    public void Conv2dForward(Tensor x, Tensor weight, Tensor? bias, Tensor y, in Conv2dGeometry g)
    {
        var d = CudaDevice;
        if ((long)g.N * g.K * g.P * g.Q == 0) return;
        string ctx = $"Conv2dForward {Describe(g)} {x.DType}";
        RunConv(ConvDirection.Forward, g, x.DType, Ptr(x, ctx), Ptr(weight, ctx), Ptr(y, ctx), ctx);
        if (bias != null)
        {
            ulong yp = Ptr(y, ctx), bp = Ptr(bias, ctx);
            uint n = (uint)g.N, k = (uint)g.K, l = BackendKernels.Count((long)g.P * g.Q, ctx);
            BackendKernels.Count((long)g.N * g.K * g.P * g.Q, ctx);
            void** args = stackalloc void*[] { &yp, &bp, &n, &k, &l };
            BackendKernels.Launch(d, "channel_bias" + BackendKernels.Suffix(y.DType), BackendKernels.Flat(d, (long)n * k * l), args, ctx + " bias");
        }
    }

    // x: (N, C, H, W), w: (K, C/G, R, S), bias and batch-norm vectors: (K) -> y: (N, K, P, Q) = relu?(bn(conv(x, w) + bias)):
    // the conv (with its bias) into a temporary, then the inference batch-norm kernel with the running statistics and ReLU.
    public void Conv2dBatchNormInference(Tensor x, Tensor weight, Tensor? bias, Tensor runningMean, Tensor runningVar, Tensor? bnWeight, Tensor? bnBias,
        double eps, Tensor y, in Conv2dGeometry g, bool relu)
    {
        if ((long)g.N * g.K * g.P * g.Q == 0) return;
        var raw = Tensor.Empty(y.Shape, y.DType, y.Device);
        try
        {
            Conv2dForward(x, weight, bias, raw, g);
            BatchNormForwardInference(raw, bnWeight, bnBias, runningMean, runningVar, y, null, null, eps, relu);
        }
        finally
        {
            raw.Storage.Dispose();
        }
    }

    public void Conv2dBackwardData(Tensor dy, Tensor weight, Tensor dx, in Conv2dGeometry g)
    {
        if (dx.NumElements == 0) return;
        string ctx = $"Conv2dBackwardData {Describe(g)} {dy.DType}";
        if ((long)g.N * g.K * g.P * g.Q == 0) { Fill(dx, 0); return; }
        RunConv(ConvDirection.BackwardData, g, dy.DType, Ptr(weight, ctx), Ptr(dy, ctx), Ptr(dx, ctx), ctx);
    }

    public void Conv2dBackwardFilter(Tensor x, Tensor dy, Tensor? dweight, Tensor? dbias, in Conv2dGeometry g)
    {
        string ctx = $"Conv2dBackwardFilter {Describe(g)} {x.DType}";
        bool empty = (long)g.N * g.K * g.P * g.Q == 0;
        if (dweight != null && dweight.NumElements > 0)
        {
            if (empty) Fill(dweight, 0);
            else RunConv(ConvDirection.BackwardFilter, g, x.DType, Ptr(x, ctx), Ptr(dy, ctx), Ptr(dweight, ctx), ctx);
        }
        // dbias[k] = sum over (N, P, Q) of dy[n, k, p, q]
        if (dbias != null) SumCore(dy, [true, false, true, true], Ptr(dbias, ctx), g.K, 1.0, "Conv2dBackwardFilter bias");
    }
}
