// cuDNN 9 legacy-API bindings (libcudnn.so.9 dispatcher; sub-libraries preloaded by the resolver), restated from cudnn_graph.h,
// cudnn_ops.h and cudnn_cnn.h 9.x. The filter/convolution calls are marked deprecated in 9.x but still exported.
using System.Runtime.InteropServices;

namespace SeFramework.Cuda.Native;

/// <summary>Raw cuDNN legacy API. alpha/beta are host pointers to float (double for double tensors). Returns cudnnStatus_t (0 = success).</summary>
public static unsafe partial class CuDnn
{
    static CuDnn() => NativeLibraryResolver.EnsureRegistered();

    private const string Lib = NativeLibraryResolver.Dnn;

    // Enum values (cudnn_graph.h / cudnn_ops.h / cudnn_cnn.h).
    public const int TensorNchw = 0, TensorNhwc = 1;
    public const int DataFloat = 0, DataDouble = 1, DataHalf = 2, DataBFloat16 = 9;
    public const int CrossCorrelation = 1;
    public const int MathDefault = 0, MathTensorOp = 1, MathTensorOpAllowConversion = 2, MathFma = 3;
    public const int BatchNormPerActivation = 0, BatchNormSpatial = 1, BatchNormSpatialPersistent = 2;
    public const int PoolingMax = 0, PoolingAverageIncludePadding = 1, PoolingAverageExcludePadding = 2, PoolingMaxDeterministic = 3;
    public const int NotPropagateNan = 0, PropagateNan = 1;

    // Handle, stream, version, errors
    [LibraryImport(Lib, EntryPoint = "cudnnCreate")] public static partial int Create(out nint handle);
    [LibraryImport(Lib, EntryPoint = "cudnnDestroy")] public static partial int Destroy(nint handle);
    [LibraryImport(Lib, EntryPoint = "cudnnSetStream")] public static partial int SetStream(nint handle, nint stream);
    [LibraryImport(Lib, EntryPoint = "cudnnGetVersion")] public static partial nuint GetVersion();
    [LibraryImport(Lib, EntryPoint = "cudnnGetErrorString")] public static partial byte* GetErrorString(int status);
    [LibraryImport(Lib, EntryPoint = "cudnnGetLastErrorString")] public static partial void GetLastErrorString(byte* message, nuint maxSize);

    // Tensor descriptors: Set4d(desc, format, dataType, n, c, h, w)
    [LibraryImport(Lib, EntryPoint = "cudnnCreateTensorDescriptor")] public static partial int CreateTensorDescriptor(out nint desc);
    [LibraryImport(Lib, EntryPoint = "cudnnSetTensor4dDescriptor")]
    public static partial int SetTensor4dDescriptor(nint desc, int format, int dataType, int n, int c, int h, int w);
    [LibraryImport(Lib, EntryPoint = "cudnnSetTensor4dDescriptorEx")]
    public static partial int SetTensor4dDescriptorEx(nint desc, int dataType, int n, int c, int h, int w, int nStride, int cStride, int hStride, int wStride);
    [LibraryImport(Lib, EntryPoint = "cudnnDestroyTensorDescriptor")] public static partial int DestroyTensorDescriptor(nint desc);

    // Filter descriptors: note the order differs from tensors: Set4d(desc, dataType, format, k, c, h, w); grouped: (K, C/groups, R, S)
    [LibraryImport(Lib, EntryPoint = "cudnnCreateFilterDescriptor")] public static partial int CreateFilterDescriptor(out nint desc);
    [LibraryImport(Lib, EntryPoint = "cudnnSetFilter4dDescriptor")]
    public static partial int SetFilter4dDescriptor(nint desc, int dataType, int format, int k, int c, int h, int w);
    [LibraryImport(Lib, EntryPoint = "cudnnDestroyFilterDescriptor")] public static partial int DestroyFilterDescriptor(nint desc);

    // Convolution descriptors
    [LibraryImport(Lib, EntryPoint = "cudnnCreateConvolutionDescriptor")] public static partial int CreateConvolutionDescriptor(out nint desc);
    [LibraryImport(Lib, EntryPoint = "cudnnSetConvolution2dDescriptor")]
    public static partial int SetConvolution2dDescriptor(nint desc, int padH, int padW, int strideH, int strideW, int dilationH, int dilationW, int mode, int computeType);
    [LibraryImport(Lib, EntryPoint = "cudnnSetConvolutionGroupCount")] public static partial int SetConvolutionGroupCount(nint desc, int groupCount);
    [LibraryImport(Lib, EntryPoint = "cudnnSetConvolutionMathType")] public static partial int SetConvolutionMathType(nint desc, int mathType);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolution2dForwardOutputDim")]
    public static partial int GetConvolution2dForwardOutputDim(nint convDesc, nint xDesc, nint wDesc, out int n, out int c, out int h, out int w);
    [LibraryImport(Lib, EntryPoint = "cudnnDestroyConvolutionDescriptor")] public static partial int DestroyConvolutionDescriptor(nint desc);

    // Convolution forward: y = alpha * conv(x, w) + beta * y
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionForwardAlgorithmMaxCount")] public static partial int GetConvolutionForwardAlgorithmMaxCount(nint handle, out int count);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionForwardAlgorithm_v7")]
    public static partial int GetConvolutionForwardAlgorithm_v7(nint handle, nint xDesc, nint wDesc, nint convDesc, nint yDesc,
        int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionPerf* perfResults);
    [LibraryImport(Lib, EntryPoint = "cudnnFindConvolutionForwardAlgorithmEx")]
    public static partial int FindConvolutionForwardAlgorithmEx(nint handle, nint xDesc, ulong x, nint wDesc, ulong w, nint convDesc, nint yDesc, ulong y,
        int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionPerf* perfResults, ulong workspace, nuint workspaceBytes);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionForwardWorkspaceSize")]
    public static partial int GetConvolutionForwardWorkspaceSize(nint handle, nint xDesc, nint wDesc, nint convDesc, nint yDesc, int algo, out nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cudnnConvolutionForward")]
    public static partial int ConvolutionForward(nint handle, void* alpha, nint xDesc, ulong x, nint wDesc, ulong w, nint convDesc, int algo,
        ulong workspace, nuint workspaceBytes, void* beta, nint yDesc, ulong y);

    // Convolution backward data: dx = alpha * convT(dy, w) + beta * dx
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionBackwardDataAlgorithmMaxCount")] public static partial int GetConvolutionBackwardDataAlgorithmMaxCount(nint handle, out int count);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionBackwardDataAlgorithm_v7")]
    public static partial int GetConvolutionBackwardDataAlgorithm_v7(nint handle, nint wDesc, nint dyDesc, nint convDesc, nint dxDesc,
        int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionPerf* perfResults);
    [LibraryImport(Lib, EntryPoint = "cudnnFindConvolutionBackwardDataAlgorithmEx")]
    public static partial int FindConvolutionBackwardDataAlgorithmEx(nint handle, nint wDesc, ulong w, nint dyDesc, ulong dy, nint convDesc, nint dxDesc, ulong dx,
        int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionPerf* perfResults, ulong workspace, nuint workspaceBytes);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionBackwardDataWorkspaceSize")]
    public static partial int GetConvolutionBackwardDataWorkspaceSize(nint handle, nint wDesc, nint dyDesc, nint convDesc, nint dxDesc, int algo, out nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cudnnConvolutionBackwardData")]
    public static partial int ConvolutionBackwardData(nint handle, void* alpha, nint wDesc, ulong w, nint dyDesc, ulong dy, nint convDesc, int algo,
        ulong workspace, nuint workspaceBytes, void* beta, nint dxDesc, ulong dx);

    // Convolution backward filter: dw = alpha * corr(x, dy) + beta * dw
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionBackwardFilterAlgorithmMaxCount")] public static partial int GetConvolutionBackwardFilterAlgorithmMaxCount(nint handle, out int count);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionBackwardFilterAlgorithm_v7")]
    public static partial int GetConvolutionBackwardFilterAlgorithm_v7(nint handle, nint xDesc, nint dyDesc, nint convDesc, nint dwDesc,
        int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionPerf* perfResults);
    [LibraryImport(Lib, EntryPoint = "cudnnFindConvolutionBackwardFilterAlgorithmEx")]
    public static partial int FindConvolutionBackwardFilterAlgorithmEx(nint handle, nint xDesc, ulong x, nint dyDesc, ulong dy, nint convDesc, nint dwDesc, ulong dw,
        int requestedAlgoCount, out int returnedAlgoCount, CudnnConvolutionPerf* perfResults, ulong workspace, nuint workspaceBytes);
    [LibraryImport(Lib, EntryPoint = "cudnnGetConvolutionBackwardFilterWorkspaceSize")]
    public static partial int GetConvolutionBackwardFilterWorkspaceSize(nint handle, nint xDesc, nint dyDesc, nint convDesc, nint dwDesc, int algo, out nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cudnnConvolutionBackwardFilter")]
    public static partial int ConvolutionBackwardFilter(nint handle, void* alpha, nint xDesc, ulong x, nint dyDesc, ulong dy, nint convDesc, int algo,
        ulong workspace, nuint workspaceBytes, void* beta, nint dwDesc, ulong dw);

    // Batch normalization (mode SPATIAL for conv nets). Scale/bias/mean/var use the (1, C, 1, 1) descriptor from DeriveBNTensorDescriptor.
    // running = (1 - factor) * running + factor * batch; saveMean/saveInvVariance may be 0 (then Backward recomputes them).
    [LibraryImport(Lib, EntryPoint = "cudnnDeriveBNTensorDescriptor")] public static partial int DeriveBNTensorDescriptor(nint derivedDesc, nint xDesc, int mode);
    [LibraryImport(Lib, EntryPoint = "cudnnBatchNormalizationForwardTraining")]
    public static partial int BatchNormalizationForwardTraining(nint handle, int mode, void* alpha, void* beta, nint xDesc, ulong x, nint yDesc, ulong y,
        nint bnDesc, ulong scale, ulong bias, double exponentialAverageFactor, ulong runningMean, ulong runningVariance, double epsilon,
        ulong saveMean, ulong saveInvVariance);
    [LibraryImport(Lib, EntryPoint = "cudnnBatchNormalizationForwardInference")]
    public static partial int BatchNormalizationForwardInference(nint handle, int mode, void* alpha, void* beta, nint xDesc, ulong x, nint yDesc, ulong y,
        nint bnDesc, ulong scale, ulong bias, ulong estimatedMean, ulong estimatedVariance, double epsilon);
    [LibraryImport(Lib, EntryPoint = "cudnnBatchNormalizationBackward")]
    public static partial int BatchNormalizationBackward(nint handle, int mode, void* alphaDataDiff, void* betaDataDiff, void* alphaParamDiff, void* betaParamDiff,
        nint xDesc, ulong x, nint dyDesc, ulong dy, nint dxDesc, ulong dx, nint bnDesc, ulong scale, ulong dScale, ulong dBias, double epsilon,
        ulong savedMean, ulong savedInvVariance);

    // Pooling: Set2d(desc, mode, nanPropagation, windowH, windowW, padH, padW, strideH, strideW)
    [LibraryImport(Lib, EntryPoint = "cudnnCreatePoolingDescriptor")] public static partial int CreatePoolingDescriptor(out nint desc);
    [LibraryImport(Lib, EntryPoint = "cudnnSetPooling2dDescriptor")]
    public static partial int SetPooling2dDescriptor(nint desc, int mode, int nanPropagation, int windowH, int windowW, int padH, int padW, int strideH, int strideW);
    [LibraryImport(Lib, EntryPoint = "cudnnPoolingForward")]
    public static partial int PoolingForward(nint handle, nint poolDesc, void* alpha, nint xDesc, ulong x, void* beta, nint yDesc, ulong y);
    [LibraryImport(Lib, EntryPoint = "cudnnPoolingBackward")]
    public static partial int PoolingBackward(nint handle, nint poolDesc, void* alpha, nint yDesc, ulong y, nint dyDesc, ulong dy, nint xDesc, ulong x,
        void* beta, nint dxDesc, ulong dx);
    [LibraryImport(Lib, EntryPoint = "cudnnDestroyPoolingDescriptor")] public static partial int DestroyPoolingDescriptor(nint desc);
}

/// <summary>cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t (identical layouts, 48 bytes): memory is a size_t at offset 16.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CudnnConvolutionPerf
{
    public int Algo;
    public int Status;
    public float Time;
    public nuint Memory;
    public int Determinism;
    public int MathType;
    public int Reserved0, Reserved1, Reserved2;
}
