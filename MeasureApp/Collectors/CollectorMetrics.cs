using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Monitoring;
using Prometheus;

namespace MeasureApp.Collectors;

/// <summary>
/// Collector-port numbers in <c>GET /metrics</c>, per Network device: refused tokens, throttled
/// attempts and open connections, so an admin sees someone guessing tokens (the log has the addresses).
/// Read from the listeners' counters when a scrape arrives, like the rest of <see cref="MetricsExporter"/>.
/// </summary>
public sealed class CollectorMetrics
{
    private const string DeviceLabel = "device";
    private readonly NetworkDriver _driver;
    private readonly Counter _authFailures;
    private readonly Counter _authThrottled;
    private readonly Gauge _connections;

    /// <summary>Adds the metrics to the exporter's registry.</summary>
    public CollectorMetrics(MetricsExporter exporter, NetworkDriver driver)
    {
        ArgumentNullException.ThrowIfNull(exporter);
        _driver = driver;
        var factory = Metrics.WithCustomRegistry(exporter.Registry);
        _authFailures = factory.CreateCounter("measureapp_collector_auth_failures_total",
            "Collector HELLOs and UDP datagrams refused for an unknown, revoked or locked-out token.", DeviceLabel);
        _authThrottled = factory.CreateCounter("measureapp_collector_auth_throttled_total",
            "Collector authentication attempts delayed or dropped because their address kept failing.", DeviceLabel);
        _connections = factory.CreateGauge("measureapp_collector_connections", "Open collector TCP connections.", DeviceLabel);
        exporter.Registry.AddBeforeCollectCallback(Collect);
    }

    private void Collect()
    {
        foreach (var listener in _driver.Listeners)
        {
            _authFailures.WithLabels(listener.DeviceId).IncTo(listener.Counters.AuthenticationFailures);
            _authThrottled.WithLabels(listener.DeviceId).IncTo(listener.Counters.AuthenticationsThrottled);
            _connections.WithLabels(listener.DeviceId).Set(listener.Counters.ActiveConnections);
        }
    }
}
