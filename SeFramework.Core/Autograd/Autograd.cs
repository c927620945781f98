// Grad mode: `using (Autograd.NoGrad()) { ... }` turns recording off on this thread, as torch.no_grad() does.
namespace SeFramework.Autograd;

public static class Autograd
{
    [ThreadStatic] private static int _disabledDepth;

    public static bool IsEnabled => _disabledDepth == 0;

    public static NoGradScope NoGrad()
    {
        _disabledDepth++;
        return new NoGradScope();
    }

    public readonly struct NoGradScope : IDisposable
    {
        public void Dispose() => _disabledDepth--;
    }
}
