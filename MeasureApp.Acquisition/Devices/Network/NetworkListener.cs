using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// The collector endpoint of one Network device: a TCP listener and a UDP socket speaking the frame
/// protocol of docs/network-protocol.md. Measurements register with it while they run; a DATA frame
/// reaches a measurement only when the collector's token belongs to the measurement's owner. Bad
/// input is counted, reported to the measurement it concerns and answered with an ERROR frame (TCP);
/// nothing a peer sends can stop the listener.
/// </summary>
public sealed class NetworkListener : IAsyncDisposable
{
    private const int UdpBufferBytes = 64 * 1024;
    private readonly ConcurrentDictionary<Guid, NetworkRoute> _routes = new();
    private readonly ConcurrentDictionary<NetworkConnection, byte> _connections = new();
    private readonly Dictionary<IPAddress, int> _preAuth = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private Socket? _tcp;
    private Socket? _udp;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _udpLoop = Task.CompletedTask;
    private Task _sweepLoop = Task.CompletedTask;
    private int _disposed;
    private readonly DeviceFaults? _deviceFaults;

    /// <summary>Creates a listener for <paramref name="device"/>; call <see cref="Start"/> to bind.</summary>
    public NetworkListener(DeviceOptions device, ICollectorTokens tokens, TimeProvider time, ILogger logger, DeviceFaults? deviceFaults = null)
    {
        _deviceFaults = deviceFaults;
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(tokens);
        Device = device;
        Time = time;
        _logger = logger;
        TokenRecheck = TimeSpan.FromSeconds(device.TokenRecheckSeconds);
        Tokens = new TokenCache(tokens, time, TokenRecheck);
        Burst = new BurstLog(logger, time, device.Id);
        Throttle = new AuthThrottle(time);
        IdleTimeout = TimeSpan.FromSeconds(device.IdleTimeoutSeconds);
        AuthTimeout = TimeSpan.FromSeconds(device.AuthTimeoutSeconds);
    }

    /// <summary>The id of the device this listener serves.</summary>
    public string DeviceId => Device.Id;

    /// <summary>The TCP endpoint actually bound (the real port when 0 was configured).</summary>
    public IPEndPoint TcpEndPoint => (IPEndPoint)(_tcp ?? throw new InvalidOperationException("The listener is not started.")).LocalEndPoint!;

    /// <summary>The UDP endpoint actually bound, or null when UDP is off.</summary>
    public IPEndPoint? UdpEndPoint => _udp?.LocalEndPoint as IPEndPoint;

    /// <summary>Counters since start.</summary>
    public NetworkListenerCounters Counters { get; } = new();

    internal DeviceOptions Device { get; }

    /// <summary>Measurements registered now (a listener in use is not closed by a settings change).</summary>
    internal int RouteCount => _routes.Count;

    internal TimeProvider Time { get; }

    internal TokenCache Tokens { get; }

    internal BurstLog Burst { get; }

    internal TimeSpan IdleTimeout { get; }

    internal TimeSpan AuthTimeout { get; }

    internal TimeSpan TokenRecheck { get; }

    internal AuthThrottle Throttle { get; }

    internal ILogger Logger => _logger;

    /// <summary>Binds the sockets and starts accepting. Throws with the configuration key named when the address or port is unusable.</summary>
    public void Start()
    {
        if (!IPAddress.TryParse(Device.BindAddress, out var address))
        {
            throw new InvalidOperationException($"Acquisition:Devices ({Device.Id}): BindAddress '{Device.BindAddress}' is not an IP address.");
        }
        _tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _tcp.Bind(new IPEndPoint(address, Device.TcpPort));
            _tcp.Listen(128);
            if (Device.UdpPort >= 0)
            {
                // A big receive buffer rides out bursts while the loop hands a block to a measurement; the kernel caps it.
                _udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 4 * 1024 * 1024 };
                _udp.Bind(new IPEndPoint(address, Device.UdpPort));
            }
        }
        catch (SocketException ex)
        {
            _tcp.Dispose();
            _udp?.Dispose();
            throw new InvalidOperationException(
                $"Acquisition:Devices ({Device.Id}): cannot listen on {address} TCP {Device.TcpPort} / UDP {Device.UdpPort}: {ex.Message}", ex);
        }
        var ct = _stop.Token;
        _acceptLoop = Task.Run(() => AcceptLoopAsync(ct), CancellationToken.None);
        if (_udp is not null)
        {
            _udpLoop = Task.Run(() => UdpLoopAsync(ct), CancellationToken.None);
        }
        // Created here, not in the loop, so the sweep's clock starts with the listener (fake clocks in tests rely on it).
        var sweep = new PeriodicTimer(TimeSpan.FromSeconds(1), Time);
        _sweepLoop = Task.Run(() => SweepLoopAsync(sweep, ct), CancellationToken.None);
        _logger.LogInformation("Network device {Device} listens on TCP {Tcp} and UDP {Udp}", Device.Id, TcpEndPoint, UdpEndPoint?.ToString() ?? "off");
    }

    /// <summary>
    /// Accepts frames for <paramref name="measurement"/> until the returned handle is disposed; after
    /// that no further block reaches <paramref name="sink"/>.
    /// </summary>
    public IAsyncDisposable Register(MeasurementInfo measurement, IBlockSink sink)
    {
        ArgumentNullException.ThrowIfNull(measurement);
        ArgumentNullException.ThrowIfNull(sink);
        var route = new NetworkRoute(this, measurement, sink);
        if (!_routes.TryAdd(measurement.Id, route))
        {
            throw new InvalidOperationException($"Measurement {measurement.Id} is already registered with device {Device.Id}.");
        }
        return route;
    }

    /// <summary>Stops accepting, closes every connection and waits for the loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _stop.CancelAsync();
        _tcp?.Dispose();
        _udp?.Dispose();
        foreach (var c in _connections.Keys)
        {
            c.Abort();
        }
        await Task.WhenAll(_acceptLoop, _udpLoop, _sweepLoop);
        await Task.WhenAll(_connections.Keys.Select(c => c.Completion));
        Burst.Flush(all: true);
        _stop.Dispose();
    }

    internal void Unregister(NetworkRoute route) => _routes.TryRemove(new KeyValuePair<Guid, NetworkRoute>(route.MeasurementId, route));

    /// <summary>The running measurement with that id when <paramref name="userId"/> owns it; null otherwise (unknown, stopped, foreign look the same).</summary>
    internal NetworkRoute? FindOwned(Guid measurementId, string userId) =>
        _routes.TryGetValue(measurementId, out var r) && !r.IsStopped && string.Equals(r.OwnerId, userId, StringComparison.Ordinal) ? r : null;

    /// <summary>Counts a fault, tells the measurement it concerns (when one is known) and logs once per burst.</summary>
    internal void Fault(NetworkRoute? route, string kind, string message)
    {
        Counters.Fault(kind);
        if (route is { IsStopped: false })
        {
            route.Sink.Fault(kind, message);
        }
        else
        {
            // Belongs to no running measurement (no token yet, a stopped or unknown id): the device's.
            _deviceFaults?.Count(Device.Id, kind, 1);
        }
        Burst.Report(kind, message);
    }

    /// <summary>
    /// Counts a connection from <paramref name="address"/> that has not authenticated yet; false (and
    /// nothing counted) when the address already holds its share, so anonymous peers cannot take every slot.
    /// </summary>
    internal bool TryEnterPreAuth(IPAddress address)
    {
        lock (_preAuth)
        {
            _preAuth.TryGetValue(address, out var n);
            if (n >= Device.MaxPreAuthConnectionsPerAddress)
            {
                return false;
            }
            _preAuth[address] = n + 1;
            return true;
        }
    }

    /// <summary>The connection authenticated or closed: it no longer counts against its address.</summary>
    internal void LeavePreAuth(IPAddress address)
    {
        lock (_preAuth)
        {
            if (_preAuth.TryGetValue(address, out var n))
            {
                if (n <= 1)
                {
                    _preAuth.Remove(address);
                }
                else
                {
                    _preAuth[address] = n - 1;
                }
            }
        }
    }

    internal void Closed(NetworkConnection connection)
    {
        if (_connections.TryRemove(connection, out _))
        {
            Counters.Closed();
        }
    }

    private async Task AcceptLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _tcp!.AcceptAsync(ct);
            }
            catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // A peer that resets before accept completes is its problem, not the listener's; the pause keeps
                // a persistent failure (out of file descriptors) from spinning.
                Fault(null, NetworkFaultKinds.ConnectionReset, $"Accept failed: {ex.SocketErrorCode}");
                await PauseAsync(ct);
                continue;
            }
            if (_connections.Count >= Device.MaxConnections)
            {
                Fault(null, NetworkFaultKinds.ConnectionLimit, $"More than {Device.MaxConnections} collector connections; one refused.");
                RefuseAtLimit(socket);
                continue;
            }
            var address = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (!TryEnterPreAuth(address))
            {
                Fault(null, NetworkFaultKinds.ConnectionLimit,
                    $"{address} already has {Device.MaxPreAuthConnectionsPerAddress} connections that have not authenticated; one refused.");
                RefuseAtLimit(socket);
                continue;
            }
            try
            {
                socket.NoDelay = true;
                var connection = new NetworkConnection(this, socket, address, ct);
                _connections[connection] = 0;
                Counters.Accepted();
                connection.Start();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Reset between accept and setup.
                Fault(null, NetworkFaultKinds.ConnectionReset, $"Connection lost while accepting: {ex.Message}");
                LeavePreAuth(address);
                socket.Dispose();
            }
        }
    }

    private async Task PauseAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), Time, ct);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private static void RefuseAtLimit(Socket socket)
    {
        try
        {
            Span<byte> frame = stackalloc byte[FrameEncoder.MaxControlFrameLength];
            var n = FrameEncoder.WriteError(frame, NetworkErrorCode.Unavailable, Guid.Empty, 0, "Too many collector connections.");
            // A fresh socket's send buffer is empty, so this cannot block.
            socket.Send(frame[..n]);
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The peer is gone already.
        }
        finally
        {
            socket.Dispose();
        }
    }

    private async Task SweepLoopAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                foreach (var c in _connections.Keys)
                {
                    c.CheckIdle();
                }
                Burst.Flush();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Listener stopped.
        }
        finally
        {
            timer.Dispose();
        }
    }

    private async Task UdpLoopAsync(CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(UdpBufferBytes);
        var token = new byte[FrameFormat.TokenLength];
        var from = new SocketAddress(_udp!.AddressFamily);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                int received;
                try
                {
                    received = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, from, ct);
                }
                catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }
                catch (SocketException)
                {
                    // ICMP errors for earlier datagrams surface here on some platforms; the socket is fine.
                    continue;
                }
                Counters.Datagram();
                try
                {
                    if (HandleDatagram(buffer.AsSpan(0, received), token))
                    {
                        continue;
                    }
                    // The token is not cached: ask the store once (unless the sender keeps failing), then handle the datagram again.
                    var sender = ((IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(from)).Address;
                    if (Throttle.WaitFor(sender) > TimeSpan.Zero)
                    {
                        Counters.AuthThrottled();
                        Fault(null, NetworkFaultKinds.AuthThrottled, $"UDP DATA from {sender}, which keeps presenting bad tokens; dropped unchecked.");
                        continue;
                    }
                    if (await Tokens.ResolveAsync(token, ct) is null)
                    {
                        Throttle.Failed(sender);
                    }
                    HandleDatagram(buffer.AsSpan(0, received), token);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // One datagram (or one token lookup) failed; the next one gets a fresh chance.
                    Fault(null, NetworkFaultKinds.Unexpected, $"UDP datagram not handled: {ex.Message}");
                    _logger.LogError(ex, "Network device {Device} could not handle a UDP datagram", Device.Id);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Handles one datagram; false when its token must first be looked up (copied to <paramref name="token"/>).</summary>
    private bool HandleDatagram(ReadOnlySpan<byte> datagram, byte[] token)
    {
        var status = FrameParser.Parse(datagram, Math.Min(Device.MaxFrameBytes, FrameFormat.MaxDatagramBytes), out var frame, out var length);
        if (status == FrameStatus.Ok && length != datagram.Length)
        {
            Fault(null, NetworkFaultKinds.BadFrame, $"UDP datagram of {datagram.Length} bytes holds a frame of {length} bytes; one frame per datagram.");
            return true;
        }
        if (status != FrameStatus.Ok)
        {
            var (kind, _) = Classify(status == FrameStatus.Incomplete ? FrameStatus.LengthMismatch : status);
            Fault(null, kind, $"UDP datagram refused: {status}.");
            return true;
        }
        Counters.Frame();
        if (frame.Type is FrameType.Heartbeat or FrameType.Bye)
        {
            return true;
        }
        if (frame.Type != FrameType.Data)
        {
            Fault(null, NetworkFaultKinds.Unexpected, $"{frame.Type} frames are not accepted over UDP.");
            return true;
        }
        if ((frame.Flags & FrameFlags.Token) == 0)
        {
            Fault(null, NetworkFaultKinds.Auth, "UDP DATA frame without a token.");
            return true;
        }
        if (!Tokens.TryGet(frame.Token, out var userId))
        {
            frame.Token.CopyTo(token);
            return false;
        }
        if (userId is null)
        {
            Counters.AuthFailed();
            Fault(null, NetworkFaultKinds.Auth, "UDP DATA frame with an unknown or revoked token.");
            return true;
        }
        var route = FindOwned(frame.MeasurementId, userId);
        if (route is null)
        {
            // Unknown, stopped and someone else's measurement look the same to the sender.
            Fault(null, NetworkFaultKinds.NotFound, $"UDP DATA for measurement {frame.MeasurementId}, which is not running for that token's user.");
            return true;
        }
        Offer(route, frame);
        return true;
    }

    /// <summary>Offers a DATA frame to its measurement; returns the error code to answer with, or null.</summary>
    internal NetworkErrorCode? Offer(NetworkRoute route, in FrameView frame)
    {
        switch (route.Deliver(frame))
        {
            case DeliveryOutcome.Delivered:
                Counters.Block();
                return null;
            case DeliveryOutcome.Duplicate:
                Counters.Fault(NetworkFaultKinds.Duplicate);
                return null;
            case DeliveryOutcome.ChannelMismatch:
                Counters.Fault(NetworkFaultKinds.Mismatch);
                return NetworkErrorCode.ChannelMismatch;
            case DeliveryOutcome.RateMismatch:
                Counters.Fault(NetworkFaultKinds.Mismatch);
                return NetworkErrorCode.RateMismatch;
            default:
                Counters.Fault(NetworkFaultKinds.NotFound);
                return NetworkErrorCode.NotFound;
        }
    }

    /// <summary>The fault kind and error code for a parse result.</summary>
    internal static (string Kind, NetworkErrorCode Code) Classify(FrameStatus status) => status switch
    {
        FrameStatus.BadFrameCrc => (NetworkFaultKinds.Crc, NetworkErrorCode.BadCrc),
        FrameStatus.TooLarge => (NetworkFaultKinds.Oversized, NetworkErrorCode.TooLarge),
        FrameStatus.NonFiniteSample => (NetworkFaultKinds.NonFinite, NetworkErrorCode.NonFinite),
        FrameStatus.BadChannelCount or FrameStatus.BadSampleCount or FrameStatus.BadSampleRate or FrameStatus.LengthMismatch
            => (NetworkFaultKinds.BadCounts, NetworkErrorCode.BadFrame),
        _ => (NetworkFaultKinds.BadFrame, NetworkErrorCode.BadFrame),
    };

    /// <summary>True for errors found after both CRCs matched, so the header's measurement id and sequence can be believed.</summary>
    internal static bool HeaderIsTrusted(FrameStatus status) => status is FrameStatus.UnknownType or FrameStatus.BadFlags
        or FrameStatus.BadChannelCount or FrameStatus.BadSampleCount or FrameStatus.BadSampleRate
        or FrameStatus.LengthMismatch or FrameStatus.NonFiniteSample;

    /// <summary>Measurement id and sequence from a header that passed its CRC.</summary>
    internal static (Guid MeasurementId, ulong Sequence) ReadIds(ReadOnlySpan<byte> header) =>
        (new Guid(header.Slice(FrameFormat.OffsetMeasurementId, 16), bigEndian: true),
         BinaryPrimitives.ReadUInt64LittleEndian(header[FrameFormat.OffsetSequence..]));
}
