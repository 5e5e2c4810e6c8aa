using System.Text.Json;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MeasureApp.Devices;

/// <summary>A device as stored in the database (the Devices page edits these rows).</summary>
public sealed class DeviceRecord
{
    /// <summary>The device id (<see cref="DeviceOptions.Id"/>).</summary>
    public required string Id { get; set; }
    /// <summary>Driver kind, duplicated from the settings for lists and queries.</summary>
    public required string Driver { get; set; }
    /// <summary>Display name.</summary>
    public string? Name { get; set; }
    /// <summary>The whole <see cref="DeviceOptions"/> as JSON (new driver fields need no migration).</summary>
    public required string SettingsJson { get; set; }
    /// <summary>Set when an admin removed the device: kept so old measurements still name it and so a removal is not undone by the seed.</summary>
    public DateTimeOffset? RemovedAt { get; set; }
    /// <summary>Last change.</summary>
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// The engine's device catalog, backed by the <c>devices</c> table: seeded from
/// <c>Acquisition:Devices</c> on a fresh install (an empty table), then edited on the Devices page.
/// Keeps a snapshot for lists; a start reads the row fresh, so another instance's edit applies too.
/// </summary>
public sealed class DeviceCatalog(IDbContextFactory<AppDbContext> contexts, IOptions<AcquisitionOptions> seed, NetworkDriver network, TimeProvider time, ILogger<DeviceCatalog> logger)
    : IDeviceCatalog, IHostedService
{
    private volatile IReadOnlyList<DeviceOptions> _devices = seed.Value.Devices;

    /// <inheritdoc />
    public IReadOnlyList<DeviceOptions> Devices => _devices;

    /// <inheritdoc />
    public async ValueTask<DeviceOptions?> FindAsync(string deviceId, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Devices.AsNoTracking().FirstOrDefaultAsync(d => d.Id == deviceId && d.RemovedAt == null, cancellationToken);
        return row is null ? null : Deserialize(row);
    }

    /// <summary>Seeds a fresh install and loads the snapshot (runs after the database initializer).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            if (!await db.Devices.AnyAsync(cancellationToken))
            {
                var now = time.GetUtcNow();
                foreach (var d in seed.Value.Devices)
                {
                    db.Devices.Add(ToRecord(d, now));
                }
                await db.SaveChangesAsync(cancellationToken);
                logger.LogInformation("Seeded {Count} device(s) from Acquisition:Devices; edit them on the Devices page from now on.", seed.Value.Devices.Count);
            }
        }
        await RefreshAsync(cancellationToken);
        // The network driver opened the seed's listeners; the database may hold Network devices added,
        // edited or removed on the Devices page since. A failure here names the device and is logged,
        // not fatal: the other devices keep working and the page shows the refusal on the next save.
        foreach (var error in await network.SyncAsync(_devices))
        {
            logger.LogError("Network device listener not opened: {Error}", error);
        }
    }

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Re-reads the snapshot (after an edit, or when a page opens).</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Devices.AsNoTracking().Where(d => d.RemovedAt == null).ToListAsync(cancellationToken);
        // The configured (seed) order first, so the first device of appsettings stays the default choice of
        // the start dialog; devices added on the page follow by id.
        var seeded = seed.Value.Devices.Select((d, i) => (d.Id, i)).ToDictionary(p => p.Id, p => p.i, StringComparer.Ordinal);
        _devices = [.. rows.OrderBy(d => seeded.TryGetValue(d.Id, out var i) ? i : int.MaxValue).ThenBy(d => d.Id, StringComparer.Ordinal).Select(Deserialize)];
    }

    /// <summary>The row for <paramref name="device"/>.</summary>
    public static DeviceRecord ToRecord(DeviceOptions device, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(device);
        return new DeviceRecord
        {
            Id = device.Id,
            Driver = device.Driver,
            Name = device.Name,
            SettingsJson = JsonSerializer.Serialize(device, DeviceJson.Options),
            UpdatedAt = now,
        };
    }

    /// <summary>The settings of a row.</summary>
    public static DeviceOptions Deserialize(DeviceRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return JsonSerializer.Deserialize<DeviceOptions>(row.SettingsJson, DeviceJson.Options) ?? new DeviceOptions { Id = row.Id, Driver = row.Driver };
    }
}

/// <summary>How device settings are written as JSON (stored rows and the page's form).</summary>
public static class DeviceJson
{
    /// <summary>Property names as in appsettings.json; enums as names.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };
}
