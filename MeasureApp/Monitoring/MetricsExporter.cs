using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Presence;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Prometheus;

namespace MeasureApp.Monitoring;

/// <summary>Settings of <c>GET /metrics</c> (section <c>Metrics</c>).</summary>
public sealed class MetricsOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Metrics";

    /// <summary>
    /// When true (the default), only a logged-in admin or a scraper presenting <see cref="ScrapeToken"/>
    /// may read the metrics; anonymous requests get 401 and other users 403. The body names users by id
    /// and counts logins, which is nothing to show an anonymous visitor. Set false only when the
    /// endpoint is restricted at the network (reverse proxy, firewall).
    /// </summary>
    public bool RequireAdmin { get; set; } = true;

    /// <summary>Secret a Prometheus scraper sends as <c>Authorization: Bearer &lt;token&gt;</c>; empty = no token access.</summary>
    public string? ScrapeToken { get; set; }

    /// <summary>The problem with these options in one sentence naming the key, or null when they are usable.</summary>
    /// <remarks>A token is compared with the whole header; spaces around it never arrive (HTTP trims them), so such a token could never match.</remarks>
    public string? Problem() =>
        ScrapeToken is { Length: > 0 } t && (t.Trim().Length != t.Length || t.Any(char.IsControl))
            ? $"{SectionName}:ScrapeToken must not start or end with a space or hold control characters."
            : null;
}

/// <summary>
/// Prometheus exposition of the app: HTTP request metrics, process metrics, presence, the storage
/// queue and per-user resource use. Values are read from <see cref="PresenceTracker"/>,
/// <see cref="ResourceAccountant"/> and <see cref="StoreWriter"/> when a scrape arrives, so nothing
/// runs between scrapes and the numbers are as fresh as the scrape.
/// </summary>
/// <remarks>
/// Each app instance has its own <see cref="CollectorRegistry"/> rather than prometheus-net's static
/// default one: the default registry also picks up every .NET <c>Meter</c> and event counter in the
/// process (names Prometheus' linter rejects), and several hosts in one process (tests) would
/// otherwise write into one registry through callbacks of disposed hosts.
/// Counters are raised to the accountant's totals with <see cref="ICounter.IncTo"/>, which never
/// lowers a value, so they stay monotonic even if a total were read out of order.
/// </remarks>
public sealed class MetricsExporter
{
    private const string UserLabel = "user";

    private readonly ResourceAccountant _accountant;
    private readonly PresenceTracker _presence;
    private readonly StoreWriter _storeWriter;

    private readonly Gauge _activeUsers;
    private readonly Gauge _openTabs;
    private readonly Gauge _runningMeasurements;
    private readonly Gauge _storeQueueBytes;
    private readonly Counter _storeChunksWritten;
    private readonly Gauge _spoolBytes;
    private readonly Gauge _spoolAge;
    private readonly Counter _spoolChunks;
    private readonly Counter _spoolReplayedChunks;
    private readonly Counter _spoolReplayedBytes;
    private readonly Counter _userSamples;
    private readonly Counter _userBrowserBytes;
    private readonly Counter _userDroppedFrames;
    private readonly Counter _userPipelineSeconds;
    private readonly Gauge _userBufferBytes;
    private readonly LiveLatencyStats? _latency;
    private readonly Gauge _liveLatency;
    private readonly Gauge _liveRenders;
    private readonly DeviceFaults? _deviceFaults;
    private readonly Counter _deviceFaultsTotal;

    /// <summary>Creates the registry and its metrics; values are filled in on each scrape.</summary>
    public MetricsExporter(ResourceAccountant accountant, PresenceTracker presence, StoreWriter storeWriter, LiveLatencyStats? latency = null, DeviceFaults? deviceFaults = null)
    {
        _deviceFaults = deviceFaults;
        _latency = latency;
        _accountant = accountant;
        _presence = presence;
        _storeWriter = storeWriter;
        Registry = Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        var factory = Metrics.WithCustomRegistry(Registry);

        _activeUsers = factory.CreateGauge("measureapp_active_users", "Users with a circuit seen within the presence window.");
        _openTabs = factory.CreateGauge("measureapp_open_tabs", "Open browser tabs (circuits) seen within the presence window.");
        _runningMeasurements = factory.CreateGauge("measureapp_running_measurements", "Measurements running now.");
        _storeQueueBytes = factory.CreateGauge("measureapp_store_queue_bytes", "Sample bytes queued for the store writer.");
        _storeChunksWritten = factory.CreateCounter("measureapp_store_chunks_written_total", "Sample chunks written to the store.");
        _spoolBytes = factory.CreateGauge("measureapp_store_spool_bytes", "Bytes waiting in the spool for the database (0: nothing spooled).");
        _spoolAge = factory.CreateGauge("measureapp_store_spool_age_seconds", "Age of the oldest data waiting in the spool (0: nothing spooled).");
        _spoolChunks = factory.CreateCounter("measureapp_store_chunks_spooled_total", "Sample chunks written to the spool because the database did not take them.");
        _spoolReplayedChunks = factory.CreateCounter("measureapp_store_chunks_replayed_total", "Spooled chunks replayed into the database.");
        _spoolReplayedBytes = factory.CreateCounter("measureapp_store_spool_replayed_bytes_total", "Spool bytes replayed into the database; rate() of it is the replay rate.");
        _userSamples = factory.CreateCounter("measureapp_user_samples_total", "Samples per channel acquired by the user's measurements.", UserLabel);
        _userBrowserBytes = factory.CreateCounter("measureapp_user_browser_bytes_total", "Estimated bytes sent to the user's browser tabs.", UserLabel);
        _userDroppedFrames = factory.CreateCounter("measureapp_user_dropped_frames_total", "Live frames dropped because the user's tabs were too slow.", UserLabel);
        _userPipelineSeconds = factory.CreateCounter("measureapp_user_pipeline_seconds_total", "Pipeline time spent publishing the user's sample blocks.", UserLabel);
        _userBufferBytes = factory.CreateGauge("measureapp_user_buffer_bytes", "Estimated memory of live frames queued for the user's tabs.", UserLabel);

        _liveLatency = factory.CreateGauge("measureapp_live_latency_seconds",
            "Sample-to-screen latency of this instance's live chart renders over the last 10 s, by percentile (NaN without renders).", "percentile");
        _deviceFaultsTotal = factory.CreateCounter("measureapp_device_faults_total",
            "Device faults by device and kind: every fault of the device's measurements and those that belong to none (see docs/shared-memory.md, docs/network-protocol.md).", "device", "kind");
        _liveRenders = factory.CreateGauge("measureapp_live_renders", "Live chart renders on this instance in the last 10 s.");

        Registry.AddBeforeCollectCallback(Collect);
    }

    /// <summary>The registry <c>GET /metrics</c> serves.</summary>
    public CollectorRegistry Registry { get; }

    private void Collect()
    {
        var presence = _presence.Now();
        _activeUsers.Set(presence.ActiveUsers);
        _openTabs.Set(presence.OpenTabs);
        _storeQueueBytes.Set(_storeWriter.QueuedBytes);
        _storeChunksWritten.IncTo(_storeWriter.ChunksWritten);
        _spoolBytes.Set(_storeWriter.SpoolPendingBytes);
        _spoolAge.Set(_storeWriter.SpoolOldest is { } oldest ? Math.Max(0, (DateTimeOffset.UtcNow - oldest).TotalSeconds) : 0);
        _spoolChunks.IncTo(_storeWriter.ChunksSpooled);
        _spoolReplayedChunks.IncTo(_storeWriter.ChunksReplayed);
        _spoolReplayedBytes.IncTo(_storeWriter.SpoolReplayedBytes);

        var running = 0;
        foreach (var usage in _accountant.Snapshot())
        {
            running += usage.RunningMeasurements;
            _userSamples.WithLabels(usage.UserId).IncTo(usage.Samples);
            _userBrowserBytes.WithLabels(usage.UserId).IncTo(usage.BytesToBrowser);
            _userDroppedFrames.WithLabels(usage.UserId).IncTo(usage.DroppedFrames);
            _userPipelineSeconds.WithLabels(usage.UserId).IncTo(usage.PipelineTime.TotalSeconds);
            _userBufferBytes.WithLabels(usage.UserId).Set(usage.BufferBytes);
        }
        _runningMeasurements.Set(running);

        foreach (var (device, kinds) in _deviceFaults?.All() ?? new Dictionary<string, IReadOnlyDictionary<string, long>>())
        {
            foreach (var (kind, count) in kinds)
            {
                _deviceFaultsTotal.WithLabels(device, kind).IncTo(count);
            }
        }

        var latency = _latency?.Percentiles();
        _liveRenders.Set(latency?.Count ?? 0);
        _liveLatency.WithLabels("50").Set((latency?.P50Ms ?? double.NaN) / 1e3);
        _liveLatency.WithLabels("95").Set((latency?.P95Ms ?? double.NaN) / 1e3);
        _liveLatency.WithLabels("99").Set((latency?.P99Ms ?? double.NaN) / 1e3);
    }
}

/// <summary>Registration and mapping of <c>GET /metrics</c>.</summary>
public static class MetricsEndpoints
{
    /// <summary>The scrape path, Prometheus' convention.</summary>
    public const string Path = "/metrics";

    /// <summary>Registers <see cref="MetricsExporter"/> and <see cref="MetricsOptions"/>.</summary>
    public static IServiceCollection AddMeasureAppMetrics(this IServiceCollection services)
    {
        // A value that is not a boolean fails at start naming the key (binding); a token is checked like every section.
        services.AddSectionOptions<MetricsOptions>(MetricsOptions.SectionName, o => [o.Problem()]);
        services.AddSingleton<MetricsExporter>();
        return services;
    }

    /// <summary>
    /// Adds HTTP request metrics to the pipeline and maps <see cref="Path"/>, admins (or a scrape token) only unless
    /// <see cref="MetricsOptions.RequireAdmin"/> is turned off (see there for why).
    /// </summary>
    public static WebApplication MapMeasureAppMetrics(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var exporter = app.Services.GetRequiredService<MetricsExporter>();
        var options = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value;
        var requireAdmin = options.RequireAdmin;
        app.UseHttpMetrics(o => o.SetMetricFactory(Metrics.WithCustomRegistry(exporter.Registry)));

        var scrape = ((IEndpointRouteBuilder)app).CreateApplicationBuilder();
        if (requireAdmin)
        {
            var token = options.ScrapeToken is { Length: > 0 } t ? System.Text.Encoding.UTF8.GetBytes("Bearer " + t) : null;
            scrape.Use((context, next) => RequireAdminAsync(context, next, token));
        }
        scrape.UseMetricServer(s => s.Registry = exporter.Registry, url: null);
        app.Map(Path, scrape.Build()).WithDisplayName("Prometheus metrics");
        return app;
    }

    // A status code, not the cookie scheme's redirect to the login page: a scraper cannot follow it.
    private static Task RequireAdminAsync(HttpContext context, RequestDelegate next, byte[]? token)
    {
        var user = context.User;
        var presented = System.Text.Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
        if (user.IsInRole(Roles.Admin) || (token is not null && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(presented, token)))
        {
            return next(context);
        }
        // The empty 401/403 must not be re-executed into the HTML not-found page.
        if (context.Features.Get<IStatusCodePagesFeature>() is { } statusCodePages)
        {
            statusCodePages.Enabled = false;
        }
        context.Response.StatusCode = user.Identity?.IsAuthenticated == true ? StatusCodes.Status403Forbidden : StatusCodes.Status401Unauthorized;
        return Task.CompletedTask;
    }
}
