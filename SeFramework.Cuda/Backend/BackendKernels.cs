// Launchers for the CUDA backend's generic kernels (Kernels/backend.cu): the by-value parameter structs that mirror the CUDA
// ones, the strided-index packing (rank <= 6) and one launch helper. Pointers are raw CUdeviceptr; work goes on the device's stream.
using System.Runtime.InteropServices;
using SeFramework.Cuda.Runtime;

namespace SeFramework.Cuda.Backend;

/// <summary>Mirrors struct Strides2 in backend.cu (144 bytes): a row-major shape and the element strides and offsets of two operands.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct Strides2
{
    public const int MaxRank = 6;
    public fixed uint Shape[MaxRank];
    public fixed long S0[MaxRank];
    public fixed long S1[MaxRank];
    public long Off0, Off1;
    public int Rank;
    public int Pad;

    /// <summary>Packs shape and the strides/offsets of two operands; rank above 6 is rejected with the op's name.</summary>
    public static Strides2 Of(string op, ReadOnlySpan<int> shape, ReadOnlySpan<long> s0, long off0, ReadOnlySpan<long> s1, long off1)
    {
        // Size-1 dims contribute nothing to an offset: drop them so more shapes fit in rank 6.
        Strides2 st = default;
        int r = 0;
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 1) continue;
            if (r == MaxRank)
                throw new NotSupportedException($"{op}: the CUDA backend's strided kernels support rank <= {MaxRank} (after dropping size-1 dims); shape {Layout.ShapeString(shape)} has more. Reshape or make it contiguous first.");
            st.Shape[r] = (uint)shape[d];
            st.S0[r] = s0.IsEmpty ? 0 : s0[d];
            st.S1[r] = s1.IsEmpty ? 0 : s1[d];
            r++;
        }
        st.Rank = r;
        st.Off0 = off0;
        st.Off1 = off1;
        return st;
    }
}

/// <summary>Mirrors struct PoolGeom in backend.cu (36 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PoolGeom
{
    public uint Planes, H, W, P, Q;
    public int Kernel, Stride, Padding, Mode;
}

/// <summary>Every kernel of backend.cu and the launch helper the backend uses.</summary>
internal static unsafe class BackendKernels
{
    public const string Module = "backend";

    private static readonly string[] Generic =
    [
        "fill_value", "unary", "unary_backward", "binary", "sum", "max_rows", "softmax_rows", "softmax_rows_backward", "softmax_xent",
        "softmax_xent_backward", "sgd", "pool_forward", "pool_backward", "plane_broadcast", "channel_bias", "axpy_generic",
        "axpy_generic_backward", "bn_forward", "bn_backward",
    ];

    /// <summary>(module, kernel) pairs of backend.cu, for the PTX tests.</summary>
    public static readonly (string Module, string Kernel)[] All =
        Generic.SelectMany(k => new[] { (Module, k + "_f32"), (Module, k + "_f64") })
            .Concat(new[] { "f32_f32", "f64_f64", "f64_f32", "f32_f64" }.Select(s => (Module, "strided_copy_" + s)))
            .ToArray();

    public static string Suffix(DType t) => t switch
    {
        DType.Float32 => "_f32",
        DType.Float64 => "_f64",
        _ => throw new NotSupportedException($"the CUDA backend computes in float32 and float64 only, not {t}; convert with .To(DType.Float32) first."),
    };

    /// <summary>Grid for a flat grid-stride loop over n items.</summary>
    public static uint Flat(CudaDevice d, long n) => LaunchConfig.FlatBlocks(n, d.MultiprocessorCount);

    /// <summary>Grid for block-per-row kernels.</summary>
    public static uint Rows(CudaDevice d, long rows) => LaunchConfig.BlockPerRowBlocks(rows, d.MultiprocessorCount);

    public static uint Count(long n, string op) => CudaKernels.Count(n, op);

    /// <summary>Launches backend.cu's <paramref name="kernel"/> with 256 threads per block on the device's stream.</summary>
    public static void Launch(CudaDevice d, string kernel, uint gridX, void** args, string context) =>
        CudaKernels.Launch(d, Module, kernel, Math.Max(1u, gridX), args, null, context: context);
}
