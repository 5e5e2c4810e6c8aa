using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// Remote collectors over TCP and UDP (docs/network-protocol.md). Each configured Network device gets
/// one <see cref="NetworkListener"/>, opened when the host starts so collectors can connect before a
/// measurement runs; starting a measurement on the device opens it to that measurement's owner's
/// collectors until it stops.
/// </summary>
public sealed class NetworkDriver(ICollectorTokens tokens, TimeProvider time, IOptions<AcquisitionOptions> options, ILoggerFactory loggers)
    : IDeviceDriver, IHostedService, IAsyncDisposable
{
    /// <summary>The <see cref="DeviceOptions.Driver"/> value of Network devices.</summary>
    public const string DriverKind = "Network";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, NetworkListener> _listeners = new(StringComparer.Ordinal);
    private readonly ILogger _logger = loggers.CreateLogger<NetworkDriver>();
    private bool _stopped;

    /// <inheritdoc />
    public string Kind => DriverKind;

    /// <inheritdoc />
    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink) =>
        ListenerFor(device).Register(measurement, sink);

    /// <summary>The listeners opened so far, one per Network device (for metrics and the Live page's feed hints).</summary>
    public IReadOnlyList<NetworkListener> Listeners
    {
        get
        {
            lock (_gate)
            {
                return [.. _listeners.Values];
            }
        }
    }

    /// <summary>The listener of a Network device, started on first use.</summary>
    public NetworkListener ListenerFor(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (!_listeners.TryGetValue(device.Id, out var listener))
            {
                listener = new NetworkListener(device, tokens, time, _logger);
                listener.Start();
                _listeners[device.Id] = listener;
            }
            return listener;
        }
    }

    /// <summary>Opens the listeners of all configured Network devices; a port in use fails the start, naming the device.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var device in options.Value.Devices.Where(d => string.Equals(d.Driver, DriverKind, StringComparison.OrdinalIgnoreCase)))
        {
            ListenerFor(device);
        }
        return Task.CompletedTask;
    }

    /// <summary>Closes the listeners (the measurement engine has stopped its measurements by then).</summary>
    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        NetworkListener[] listeners;
        lock (_gate)
        {
            _stopped = true;
            listeners = [.. _listeners.Values];
            _listeners.Clear();
        }
        foreach (var l in listeners)
        {
            await l.DisposeAsync();
        }
    }
}
