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
public sealed class NetworkDriver(ICollectorTokens tokens, TimeProvider time, IOptions<AcquisitionOptions> options, ILoggerFactory loggers, DeviceFaults? deviceFaults = null)
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
                listener = new NetworkListener(device, tokens, time, _logger, deviceFaults);
                listener.Start();
                _listeners[device.Id] = listener;
            }
            return listener;
        }
    }

    /// <summary>
    /// Brings the listener of a device saved at run time in line with its settings, so collectors can
    /// connect as soon as it is saved: opens one for a new Network device, reopens an idle one whose
    /// listener settings changed, closes an idle one whose device is no longer a Network device.
    /// Returns null, or why not (a port in use, a listener that measurements still use), leaving the
    /// previous listener as it was.
    /// </summary>
    public async Task<string?> ApplyAsync(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var isNetwork = string.Equals(device.Driver, DriverKind, StringComparison.OrdinalIgnoreCase);
        NetworkListener? old;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            _listeners.TryGetValue(device.Id, out old);
            if (old is not null && isNetwork && SameListenerSettings(old.Device, device))
            {
                return null;
            }
            if (old is { RouteCount: > 0 })
            {
                return $"The listener of '{device.Id}' serves {old.RouteCount} running measurement(s); its settings (BindAddress, ports, limits) or driver can change only after they stop.";
            }
            if (old is not null)
            {
                _listeners.Remove(device.Id);
            }
        }
        if (old is not null)
        {
            // Closed before the new one binds: the new settings usually keep the same port.
            await old.DisposeAsync();
        }
        if (!isNetwork)
        {
            return null;
        }
        var error = TryOpen(device);
        if (error is not null && old is not null && TryOpen(old.Device) is { } reopenError)
        {
            _logger.LogError("Network device {Device}: the previous listener could not be reopened either: {Error}", device.Id, reopenError);
        }
        return error;
    }

    /// <summary>Closes the listener of a removed device (removal is refused while measurements use it).</summary>
    public async Task CloseAsync(string deviceId)
    {
        NetworkListener? old;
        lock (_gate)
        {
            if (!_listeners.Remove(deviceId, out old))
            {
                return;
            }
        }
        await old.DisposeAsync();
    }

    /// <summary>
    /// Opens the listeners of <paramref name="devices"/> that have none and closes those of devices no
    /// longer listed (the device catalog at start-up, which may hold devices added or removed on the
    /// Devices page). A listener already open keeps its settings: this instance's own configuration
    /// may give it other ports (two instances on one host). Every error names its device.
    /// </summary>
    public async Task<IReadOnlyList<string>> SyncAsync(IEnumerable<DeviceOptions> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var wanted = devices.Where(d => string.Equals(d.Driver, DriverKind, StringComparison.OrdinalIgnoreCase)).ToList();
        var errors = new List<string>();
        foreach (var id in Listeners.Select(l => l.DeviceId).Except(wanted.Select(d => d.Id), StringComparer.Ordinal).ToList())
        {
            await CloseAsync(id);
        }
        var open = Listeners.Select(l => l.DeviceId).ToHashSet(StringComparer.Ordinal);
        foreach (var device in wanted.Where(d => !open.Contains(d.Id)))
        {
            if (await ApplyAsync(device) is { } error)
            {
                errors.Add(error);
            }
        }
        return errors;
    }

    private string? TryOpen(DeviceOptions device)
    {
        var listener = new NetworkListener(device, tokens, time, _logger, deviceFaults);
        try
        {
            listener.Start();
        }
        catch (InvalidOperationException ex)
        {
            return ex.Message;
        }
        lock (_gate)
        {
            if (!_stopped && _listeners.TryAdd(device.Id, listener))
            {
                return null;
            }
        }
        // Stopped meanwhile, or a start opened one first: that one stays.
        _ = listener.DisposeAsync().AsTask();
        return null;
    }

    // The settings a listener is built from; a change of anything else (the name) keeps it open.
    private static bool SameListenerSettings(DeviceOptions a, DeviceOptions b) =>
        a.BindAddress == b.BindAddress && a.TcpPort == b.TcpPort && a.UdpPort == b.UdpPort && a.MaxFrameBytes == b.MaxFrameBytes
        && a.IdleTimeoutSeconds == b.IdleTimeoutSeconds && a.MaxConnections == b.MaxConnections && a.AuthTimeoutSeconds == b.AuthTimeoutSeconds
        && a.MaxPreAuthConnectionsPerAddress == b.MaxPreAuthConnectionsPerAddress && a.TokenRecheckSeconds == b.TokenRecheckSeconds;

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
