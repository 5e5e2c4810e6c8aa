using System.Globalization;
using System.Net;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;

namespace MeasureApp.Collectors;

/// <summary>
/// The command lines the UI offers for feeding a measurement: <c>scripts/collector</c> for a Network
/// device (with the port the listener really bound), the C example producer for a SharedMemory device.
/// One place, so the Collectors page, the Live card and the README say the same thing.
/// </summary>
public sealed class FeedCommands(NetworkDriver network)
{
    /// <summary>The environment variable <c>scripts/collector</c> reads the token from when <c>--token</c> is not given.</summary>
    public const string TokenVariable = "MEASUREAPP_TOKEN";

    private const string Collector = "dotnet run --project scripts/collector --";

    /// <summary>Where collectors reach a Network device from the browser's point of view.</summary>
    /// <param name="device">A Network device.</param>
    /// <param name="pageUri">The page's address: its host is used when the listener binds every interface.</param>
    public CollectorEndpoint EndpointOf(DeviceOptions device, Uri pageUri)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(pageUri);
        var listener = network.Listeners.FirstOrDefault(l => string.Equals(l.DeviceId, device.Id, StringComparison.Ordinal));
        var tcp = listener?.TcpEndPoint.Port ?? device.TcpPort;
        var udp = listener is null ? (device.UdpPort >= 0 ? device.UdpPort : (int?)null) : listener.UdpEndPoint?.Port;
        var host = IPAddress.TryParse(device.BindAddress, out var bind) && !bind.Equals(IPAddress.Any) && !bind.Equals(IPAddress.IPv6Any)
            ? device.BindAddress
            : pageUri.Host;
        return new CollectorEndpoint(host, tcp, udp);
    }

    /// <summary>
    /// <c>scripts/collector</c> sending a sine to <paramref name="measurementId"/> (or a placeholder) until Ctrl+C.
    /// Without <paramref name="tokenHex"/> the collector takes the token from <see cref="TokenVariable"/>.
    /// </summary>
    public static string CollectorCommand(CollectorEndpoint endpoint, string? tokenHex, Guid? measurementId, double rate, int channels, bool udp)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var inv = CultureInfo.InvariantCulture;
        var port = udp ? endpoint.UdpPort ?? endpoint.TcpPort : endpoint.TcpPort;
        var token = tokenHex is null ? "" : $" --token {tokenHex}";
        var measurement = measurementId?.ToString() ?? "<measurement id from the Live page>";
        return string.Create(inv, $"{Collector} --host {endpoint.Host} --port {port}{token} --measurement {measurement} --rate {rate} --channels {channels} --seconds 0{(udp ? " --udp" : "")}");
    }

    /// <summary>The example producer for a SharedMemory device: it learns the measurement from the command ring.</summary>
    public static string ProducerCommand(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return $"gcc -O2 -o shm_producer docs/examples/shm_producer.c -lm && ./shm_producer --path {device.Path ?? "<Path of the device>"}";
    }
}

/// <summary>Host and ports a collector sends to.</summary>
public sealed record CollectorEndpoint(string Host, int TcpPort, int? UdpPort);
