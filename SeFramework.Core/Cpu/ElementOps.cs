// Scalar element functions for the generic CPU kernels, one struct per op so the JIT specialises each loop
// (T is float or double). Unary ops take an extra scalar (the exponent of Pow, the factor of MulScalar ...). Ops with
// Vectorized = true also give the same function on Vector512 lanes (bit-identical to the scalar one).
using System.Numerics;
using System.Runtime.Intrinsics;

namespace SeFramework.Cpu;

internal interface IUnaryFn<T>
{
    static abstract T Apply(T x, T s);

    /// <summary>dx given x, y = f(x), dy.</summary>
    static abstract T Grad(T x, T y, T dy, T s);

    /// <summary>True when the Vector512 forms below compute the op (false: they are never called).</summary>
    static virtual bool Vectorized => false;

    static virtual Vector512<T> Apply(Vector512<T> x, Vector512<T> s) => throw new NotSupportedException();

    static virtual Vector512<T> Grad(Vector512<T> x, Vector512<T> y, Vector512<T> dy, Vector512<T> s) => throw new NotSupportedException();
}

internal interface IBinaryFn<T>
{
    static abstract T Apply(T a, T b);

    static abstract Vector512<T> Apply(Vector512<T> a, Vector512<T> b);
}

internal struct NegFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => -x;
    public static T Grad(T x, T y, T dy, T s) => -dy;
}

internal struct ExpFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => T.Exp(x);
    public static T Grad(T x, T y, T dy, T s) => dy * y;
}

internal struct LogFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => T.Log(x);
    public static T Grad(T x, T y, T dy, T s) => dy / x;
}

internal struct SqrtFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => T.Sqrt(x);
    public static T Grad(T x, T y, T dy, T s) => dy / (y + y);
}

internal struct ReluFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => x > T.Zero ? x : T.Zero;
    public static T Grad(T x, T y, T dy, T s) => x > T.Zero ? dy : T.Zero;
    public static bool Vectorized => true;
    public static Vector512<T> Apply(Vector512<T> x, Vector512<T> s) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<T>.Zero), x, Vector512<T>.Zero);
    public static Vector512<T> Grad(Vector512<T> x, Vector512<T> y, Vector512<T> dy, Vector512<T> s) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<T>.Zero), dy, Vector512<T>.Zero);
}

internal struct SigmoidFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    // Two branches keep exp() from overflowing for large |x|.
    public static T Apply(T x, T s)
    {
        if (x >= T.Zero) return T.One / (T.One + T.Exp(-x));
        var e = T.Exp(x);
        return e / (T.One + e);
    }

    public static T Grad(T x, T y, T dy, T s) => dy * y * (T.One - y);
}

internal struct TanhFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => T.Tanh(x);
    public static T Grad(T x, T y, T dy, T s) => dy * (T.One - y * y);
}

internal struct PowFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => T.Pow(x, s);
    public static T Grad(T x, T y, T dy, T s) => s == T.Zero ? T.Zero : dy * s * T.Pow(x, s - T.One);
}

internal struct MulScalarFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => x * s;
    public static T Grad(T x, T y, T dy, T s) => dy * s;
    public static bool Vectorized => true;
    public static Vector512<T> Apply(Vector512<T> x, Vector512<T> s) => x * s;
    public static Vector512<T> Grad(Vector512<T> x, Vector512<T> y, Vector512<T> dy, Vector512<T> s) => dy * s;
}

internal struct AddScalarFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => x + s;
    public static T Grad(T x, T y, T dy, T s) => dy;
    public static bool Vectorized => true;
    public static Vector512<T> Apply(Vector512<T> x, Vector512<T> s) => x + s;
    public static Vector512<T> Grad(Vector512<T> x, Vector512<T> y, Vector512<T> dy, Vector512<T> s) => dy;
}

internal struct AbsFn<T> : IUnaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T x, T s) => T.Abs(x);
    public static T Grad(T x, T y, T dy, T s) => x > T.Zero ? dy : x < T.Zero ? -dy : T.Zero;
}

internal struct AddFn<T> : IBinaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a + b;
    public static Vector512<T> Apply(Vector512<T> a, Vector512<T> b) => a + b;
}

internal struct SubFn<T> : IBinaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a - b;
    public static Vector512<T> Apply(Vector512<T> a, Vector512<T> b) => a - b;
}

internal struct MulFn<T> : IBinaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a * b;
    public static Vector512<T> Apply(Vector512<T> a, Vector512<T> b) => a * b;
}

internal struct DivFn<T> : IBinaryFn<T> where T : IFloatingPointIeee754<T>
{
    public static T Apply(T a, T b) => a / b;
    public static Vector512<T> Apply(Vector512<T> a, Vector512<T> b) => a / b;
}
