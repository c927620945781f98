// Training progress: one self-overwriting line with ETA, images/s, loss and lr on a terminal; plain lines (about
// every 10 % of an epoch) when the output is redirected.
namespace SeFramework.Train.Training;

public sealed class ProgressLine(TextWriter writer)
{
    private readonly bool _terminal = ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;
    private int _lastDecile = -1;

    public void Update(int epoch, int epochs, int batch, int batches, double elapsedSeconds, double imagesPerSecond, double loss, double lr)
    {
        double eta = batch > 0 ? elapsedSeconds / batch * (batches - batch) : 0;
        string text = $"epoch {epoch}/{epochs} [{batch}/{batches}] loss {loss:F4} lr {lr:G4} {imagesPerSecond:F0} img/s ETA {TimeSpan.FromSeconds(Math.Round(eta)):g}";
        if (_terminal)
        {
            writer.Write("\r" + text.PadRight(100));
            return;
        }
        int decile = batches == 0 ? 10 : batch * 10 / batches;
        if (decile != _lastDecile && decile < 10)
        {
            _lastDecile = decile;
            writer.WriteLine(text);
        }
    }

    public void Done(string summary)
    {
        _lastDecile = -1;
        if (_terminal) writer.Write("\r" + new string(' ', 100) + "\r");
        writer.WriteLine(summary);
    }
}
