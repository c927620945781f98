// Fails at once, in one line, when the chosen device cannot be used (e.g. --device cuda without a driver or GPU).
namespace SeFramework.Train.Training;

public static class DeviceCheck
{
    public static void Require(Device device)
    {
        if (device.Kind == DeviceKind.Cpu) return;
        var (available, reason) = SeFramework.Cuda.Runtime.CudaAvailability.Check();
        if (!available) throw new DeviceUnavailableException($"--device {device}: {reason}");
    }
}

public sealed class DeviceUnavailableException(string message) : Exception(message);
