using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Acquisition.Devices.Scpi;
using MeasureApp.Acquisition.Devices.Sigrok;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Devices;

/// <summary>A refused setting: the field (property name of <see cref="DeviceOptions"/>) and why.</summary>
public sealed record DeviceFieldError(string Field, string Message);

/// <summary>The outcome of an add, edit or remove.</summary>
public sealed record DeviceChangeResult(bool Succeeded, IReadOnlyList<DeviceFieldError> Errors)
{
    /// <summary>Success.</summary>
    public static readonly DeviceChangeResult Ok = new(true, []);

    /// <summary>A refusal with one message.</summary>
    public static DeviceChangeResult Fail(string field, string message) => new(false, [new DeviceFieldError(field, message)]);

    /// <summary>All messages in one line.</summary>
    public string Message => string.Join(" ", Errors.Select(e => e.Message));
}

/// <summary>A device with what the Devices page shows beside it.</summary>
/// <param name="Device">Its settings.</param>
/// <param name="Running">Running measurements on it.</param>
/// <param name="LastData">When it last delivered data (now while running; else the last stop).</param>
/// <param name="ErrorCount">Measurements on it that stopped with a device error.</param>
/// <param name="LastProbe">The last connection test on this instance, if any.</param>
/// <param name="LastProbeAt">When that test ran.</param>
/// <param name="Listening">Network devices: the endpoints this instance listens on, or null when it does not listen.</param>
public sealed record DeviceRow(DeviceOptions Device, IReadOnlyList<MeasurementInfo> Running, DateTimeOffset? LastData, int ErrorCount, DeviceProbeResult? LastProbe, DateTimeOffset? LastProbeAt, string? Listening = null);

/// <summary>
/// The Devices page's service layer (admins): list with health, validate, add, edit, remove (refused
/// while a measurement runs on the device), test through the driver's <see cref="IDeviceProbe"/>.
/// </summary>
public sealed class DeviceAdminService(
    IDbContextFactory<AppDbContext> contexts,
    DeviceCatalog catalog,
    MeasurementEngine engine,
    IEnumerable<IDeviceDriver> drivers,
    NetworkDriver network,
    TimeProvider time)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<string, (DeviceProbeResult Result, DateTimeOffset At)> _probes = new(StringComparer.Ordinal);

    /// <summary>The driver kinds this server has.</summary>
    public IReadOnlyList<string> DriverKinds { get; } = [.. drivers.Select(d => d.Kind).Order(StringComparer.Ordinal)];

    /// <summary>Every device with health and the running measurements on it.</summary>
    public async Task<IReadOnlyList<DeviceRow>> ListAsync(Requester admin, CancellationToken cancellationToken)
    {
        RequireAdmin(admin);
        await catalog.RefreshAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var errorCounts = await db.Measurements.AsNoTracking()
            .Where(m => m.StopReason == StopReason.DeviceError)
            .GroupBy(m => m.DeviceId)
            .Select(g => new { DeviceId = g.Key, Count = g.Count() })
            .ToDictionaryAsync(x => x.DeviceId, x => x.Count, cancellationToken);
        // Latest measurement per device by id (v7 ids sort by start time and translate on both
        // providers; SQLite cannot aggregate DateTimeOffset). A few devices: one small query each.
        var lastStops = new Dictionary<string, DateTimeOffset?>(StringComparer.Ordinal);
        foreach (var d in catalog.Devices)
        {
            lastStops[d.Id] = await db.Measurements.AsNoTracking().Where(m => m.DeviceId == d.Id)
                .OrderByDescending(m => m.Id).Select(m => m.StoppedAt).FirstOrDefaultAsync(cancellationToken);
        }
        var running = engine.GetRunning(admin);
        var now = time.GetUtcNow();
        var listeners = network.Listeners.ToDictionary(l => l.DeviceId, StringComparer.Ordinal);
        return [.. catalog.Devices.Select(d =>
        {
            var onIt = running.Where(m => m.DeviceId == d.Id).ToList();
            var probe = _probes.TryGetValue(d.Id, out var p) ? p : default;
            return new DeviceRow(d, onIt, onIt.Count > 0 ? now : lastStops.GetValueOrDefault(d.Id), errorCounts.GetValueOrDefault(d.Id), probe.Result, probe.Result is null ? null : probe.At,
                listeners.TryGetValue(d.Id, out var l) ? $"TCP {l.TcpEndPoint}" + (l.UdpEndPoint is { } udp ? $", UDP {udp}" : ", no UDP") : null);
        })];
    }

    /// <summary>
    /// Checks settings the way the configuration does (the same attributes and messages, without the
    /// <c>Acquisition:Devices:N:</c> prefix) plus what the driver needs; every error names its field.
    /// </summary>
    public IReadOnlyList<DeviceFieldError> Validate(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(device, new ValidationContext(device), results, validateAllProperties: true);
        var errors = results.Select(r => new DeviceFieldError(r.MemberNames.FirstOrDefault() ?? "", Clean(r.ErrorMessage))).ToList();
        if (!DriverKinds.Contains(device.Driver, StringComparer.Ordinal))
        {
            errors.Add(new DeviceFieldError(nameof(DeviceOptions.Driver), $"Driver must be one of {string.Join(", ", DriverKinds)}."));
        }
        if (device.Driver == "Sigrok" && SigrokDriver.Validate(device) is { } sigrokError)
        {
            var field = sigrokError.StartsWith("Channels", StringComparison.Ordinal) ? nameof(DeviceOptions.Channels) : nameof(DeviceOptions.SigrokDriver);
            errors.Add(new DeviceFieldError(field, sigrokError));
        }
        if (device.Driver == ScpiDriver.DriverKind && ScpiDriver.CheckSettings(device) is { } scpiError)
        {
            // The message starts with the key it names (Host, Channels:0:Query, InitCommands, …): that is the field.
            var message = Clean(scpiError);
            errors.Add(new DeviceFieldError(message.Split(' ', 2)[0], message));
        }
        if (device.Driver == NetworkDriver.DriverKind && !System.Net.IPAddress.TryParse(device.BindAddress, out _))
        {
            errors.Add(new DeviceFieldError(nameof(DeviceOptions.BindAddress), $"BindAddress must be an IP address such as 127.0.0.1 or 0.0.0.0 (got '{device.BindAddress}')."));
        }
        if (device.Driver == "SharedMemory" && string.IsNullOrWhiteSpace(device.Path))
        {
            errors.Add(new DeviceFieldError(nameof(DeviceOptions.Path), "Path is required for a SharedMemory device (e.g. /dev/shm/measureapp-adc0)."));
        }
        return errors;
    }

    /// <summary>Adds a device (an id that was removed before comes back with the new settings).</summary>
    public async Task<DeviceChangeResult> AddAsync(Requester admin, DeviceOptions device, CancellationToken cancellationToken)
    {
        RequireAdmin(admin);
        var errors = Validate(device);
        if (errors.Count > 0)
        {
            return new DeviceChangeResult(false, errors);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Devices.FirstOrDefaultAsync(d => d.Id == device.Id, cancellationToken);
        if (row is { RemovedAt: null })
        {
            return DeviceChangeResult.Fail(nameof(DeviceOptions.Id), $"Id '{device.Id}' is already used by another device.");
        }
        if (await ListenAsync(device) is { } listenError)
        {
            return listenError;
        }
        var fresh = DeviceCatalog.ToRecord(device, time.GetUtcNow());
        if (row is null)
        {
            db.Devices.Add(fresh);
        }
        else
        {
            Copy(fresh, row);
        }
        await db.SaveChangesAsync(cancellationToken);
        await catalog.RefreshAsync(cancellationToken);
        return DeviceChangeResult.Ok;
    }

    /// <summary>Replaces a device's settings; running measurements keep the settings they started with.</summary>
    public async Task<DeviceChangeResult> UpdateAsync(Requester admin, string id, DeviceOptions device, CancellationToken cancellationToken)
    {
        RequireAdmin(admin);
        ArgumentNullException.ThrowIfNull(device);
        if (!string.Equals(id, device.Id, StringComparison.Ordinal))
        {
            return DeviceChangeResult.Fail(nameof(DeviceOptions.Id), "Id cannot be changed (measurements refer to it); add a new device instead.");
        }
        var errors = Validate(device);
        if (errors.Count > 0)
        {
            return new DeviceChangeResult(false, errors);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Devices.FirstOrDefaultAsync(d => d.Id == id && d.RemovedAt == null, cancellationToken);
        if (row is null)
        {
            return DeviceChangeResult.Fail(nameof(DeviceOptions.Id), $"Device '{id}' does not exist.");
        }
        if (await ListenAsync(device) is { } listenError)
        {
            return listenError;
        }
        Copy(DeviceCatalog.ToRecord(device, time.GetUtcNow()), row);
        await db.SaveChangesAsync(cancellationToken);
        await catalog.RefreshAsync(cancellationToken);
        _probes.TryRemove(id, out _);
        return DeviceChangeResult.Ok;
    }

    /// <summary>Removes a device; refused while measurements run on it (they are never stopped silently).</summary>
    public async Task<DeviceChangeResult> RemoveAsync(Requester admin, string id, CancellationToken cancellationToken)
    {
        RequireAdmin(admin);
        var running = engine.GetRunning(admin).Where(m => m.DeviceId == id).ToList();
        if (running.Count > 0)
        {
            return DeviceChangeResult.Fail(nameof(DeviceOptions.Id),
                $"Device '{id}' is in use by {running.Count} running measurement(s) ({string.Join(", ", running.Select(m => $"“{m.Name}” of {m.OwnerName}"))}); stop them first.");
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Devices.FirstOrDefaultAsync(d => d.Id == id && d.RemovedAt == null, cancellationToken);
        if (row is null)
        {
            return DeviceChangeResult.Fail(nameof(DeviceOptions.Id), $"Device '{id}' does not exist.");
        }
        row.RemovedAt = time.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        await network.CloseAsync(id);
        await catalog.RefreshAsync(cancellationToken);
        _probes.TryRemove(id, out _);
        return DeviceChangeResult.Ok;
    }

    /// <summary>Tests a device through its driver (connect, identity); remembered for the health column.</summary>
    public async Task<DeviceProbeResult> TestAsync(Requester admin, DeviceOptions device, CancellationToken cancellationToken)
    {
        RequireAdmin(admin);
        ArgumentNullException.ThrowIfNull(device);
        var errors = Validate(device);
        DeviceProbeResult result;
        if (errors.Count > 0)
        {
            result = new DeviceProbeResult(false, null, string.Join(" ", errors.Select(e => e.Message)));
        }
        else if (drivers.FirstOrDefault(d => d.Kind == device.Driver) is IDeviceProbe probe)
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(ProbeTimeout);
            try
            {
                result = await probe.ProbeAsync(device, cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                result = new DeviceProbeResult(false, null, $"The device did not answer within {ProbeTimeout.TotalSeconds:0} s.");
            }
        }
        else
        {
            result = device.Driver switch
            {
                "Simulated" => new DeviceProbeResult(true, $"Simulated generator (seed {device.Seed})", "A simulated device is always available."),
                _ => new DeviceProbeResult(true, null, $"The {device.Driver} driver has no connection test; its producer connects when a measurement starts."),
            };
        }
        _probes[device.Id] = (result, time.GetUtcNow());
        return result;
    }

    /// <summary>Lists the sigrok devices attached to this server (<c>sigrok-cli --scan</c>).</summary>
    public Task<(IReadOnlyList<SigrokDevice> Devices, string? Error)> ScanSigrokAsync(Requester admin, CancellationToken cancellationToken)
    {
        RequireAdmin(admin);
        return SigrokCli.ScanAsync(null, cancellationToken);
    }

    // A Network device listens from the moment it is saved (collectors connect before a measurement
    // starts); a port that cannot be bound refuses the save, naming the port, instead of failing later.
    private async Task<DeviceChangeResult?> ListenAsync(DeviceOptions device)
    {
        if (await network.ApplyAsync(device) is not { } error)
        {
            return null;
        }
        var field = error.Contains("cannot listen", StringComparison.Ordinal) ? nameof(DeviceOptions.TcpPort) : nameof(DeviceOptions.Driver);
        return DeviceChangeResult.Fail(field, error.Replace("Acquisition:Devices ", "Device ", StringComparison.Ordinal));
    }

    // Checked here, not only by the page's [Authorize]: every path into device management is admin-only.
    private static void RequireAdmin(Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!requester.IsAdmin)
        {
            throw new UnauthorizedAccessException("Only administrators manage devices.");
        }
    }

    private static void Copy(DeviceRecord from, DeviceRecord to)
    {
        to.Driver = from.Driver;
        to.Name = from.Name;
        to.SettingsJson = from.SettingsJson;
        to.UpdatedAt = from.UpdatedAt;
        to.RemovedAt = null;
    }

    private static string Clean(string? message) => (message ?? "Invalid value.").Replace("Acquisition:Devices:N:", "", StringComparison.Ordinal);
}
