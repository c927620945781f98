// Makes the chosen device usable, or fails at once in one line (e.g. --device cuda without a driver or GPU).
namespace SeFramework.Train.Training;

public static class DeviceCheck
{
    public static void Require(Device device)
    {
        if (device.Kind == DeviceKind.Cpu) return;
        if (!SeFramework.Cuda.Backend.CudaBackend.TryRegister(out var reason)) throw new DeviceUnavailableException($"--device {device}: {reason}");
    }
}

public sealed class DeviceUnavailableException(string message) : Exception(message);
