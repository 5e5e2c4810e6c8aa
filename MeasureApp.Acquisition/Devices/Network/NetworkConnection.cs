using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// One collector TCP connection: a read loop that parses frames out of a pooled buffer and a write
/// loop that sends replies. Replies go through a small bounded queue (DropWrite) so a collector that
/// never reads cannot stall the read loop, and the idle sweep closes connections that go quiet
/// (slowloris) or stop reading.
/// </summary>
internal sealed class NetworkConnection
{
    private const int InitialBufferBytes = 64 * 1024;

    private readonly NetworkListener _listener;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _read;
    private readonly CancellationTokenSource _write;
    private readonly Channel<Reply> _replies = Channel.CreateBounded<Reply>(new BoundedChannelOptions(64)
    {
        // Replies are advice to the collector; when it does not read them, dropping is right.
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
    private readonly byte[] _token = new byte[FrameFormat.TokenLength];
    private readonly string _remote;
    private readonly IPAddress _address;
    private readonly long _acceptedAt;
    private int _preAuth = 1;
    private long _lastActivity;
    private long _resolvedAt;
    private volatile string? _userId;
    private string? _collectorName;
    private NetworkRoute? _lastRoute;
    private int _closing;
    private bool _byeRequested;
    private bool _resyncing;

    /// <param name="address">The peer's address; the listener has counted this connection against its pre-authentication share.</param>
    public NetworkConnection(NetworkListener listener, Socket socket, IPAddress address, CancellationToken stopping)
    {
        _address = address;
        _listener = listener;
        _socket = socket;
        _read = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _write = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _remote = socket.RemoteEndPoint?.ToString() ?? "?";
        _lastActivity = _acceptedAt = listener.Time.GetTimestamp();
    }

    public Task Completion { get; private set; } = Task.CompletedTask;

    private enum Step
    {
        NeedBytes,
        Authenticate,
        Close,
    }

    public void Start() => Completion = Task.Run(RunAsync);

    /// <summary>Closes at once (listener shutdown).</summary>
    public void Abort()
    {
        Interlocked.Exchange(ref _closing, 1);
        Cancel(_read);
        Cancel(_write);
    }

    /// <summary>
    /// Called by the sweep: after the idle timeout the read side stops with a TIMEOUT error; if even the
    /// reply cannot be sent within another timeout (the peer reads nothing), the socket is dropped.
    /// Before authentication the clock runs from the connect, not from the last byte: whatever an
    /// anonymous peer sends, it has <see cref="NetworkListener.AuthTimeout"/> to get a HELLO accepted.
    /// </summary>
    public void CheckIdle()
    {
        var authenticated = _userId is not null;
        var closing = Volatile.Read(ref _closing) != 0;
        var limit = authenticated ? _listener.IdleTimeout : _listener.AuthTimeout;
        var since = authenticated || closing ? Volatile.Read(ref _lastActivity) : _acceptedAt;
        if (_listener.Time.GetElapsedTime(since) < limit)
        {
            return;
        }
        if (Interlocked.CompareExchange(ref _closing, 1, 0) == 0)
        {
            _listener.Fault(_lastRoute, NetworkFaultKinds.Timeout, authenticated
                ? $"Collector {_remote} sent nothing for {_listener.IdleTimeout.TotalSeconds:0} s; closed."
                : $"Collector {_remote} did not authenticate within {_listener.AuthTimeout.TotalSeconds:0} s; closed.");
            _replies.Writer.TryWrite(new Reply(FrameType.Error, NetworkErrorCode.Timeout, Guid.Empty, 0));
            Volatile.Write(ref _lastActivity, _listener.Time.GetTimestamp());
            Cancel(_read);
        }
        else
        {
            Cancel(_write);
        }
    }

    private static void Cancel(CancellationTokenSource cts)
    {
        try
        {
            cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The connection finished while the sweep looked at it.
        }
    }

    private async Task RunAsync()
    {
        var writer = WriteLoopAsync(_write.Token);
        try
        {
            await ReadLoopAsync(_read.Token);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _listener.Logger.LogError(ex, "Collector connection {Remote} on device {Device} failed", _remote, _listener.Device.Id);
        }
        finally
        {
            // From here only the reply queue drains; the sweep drops the socket if even that stalls.
            if (Interlocked.CompareExchange(ref _closing, 1, 0) == 0)
            {
                Volatile.Write(ref _lastActivity, _listener.Time.GetTimestamp());
            }
        }
        // The answer to BYE (when asked for) is sent by the write loop after the queue: it must not be dropped
        // like advice. Queued, it was: the queue drops writes when full (FullMode.DropWrite drops WriteAsync's
        // item too), and a collector that sent many bad frames before BYE got an error as its last reply.
        _replies.Writer.TryComplete();
        await writer;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already reset by the peer.
        }
        _socket.Dispose();
        LeavePreAuth();
        _listener.Closed(this);
        _read.Dispose();
        _write.Dispose();
        if (_userId is not null)
        {
            _listener.Logger.LogInformation("Collector {Collector} ({Remote}) of user {User} disconnected from device {Device}",
                _collectorName, _remote, _userId, _listener.Device.Id);
        }
    }

    private async Task ReadLoopAsync(CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
        var start = 0;
        var end = 0;
        try
        {
            while (true)
            {
                // Before anything new is processed: a revoked token delivers nothing more.
                if (_userId is not null && _listener.Time.GetElapsedTime(_resolvedAt) > _listener.TokenRecheck && !await RecheckAsync(ct))
                {
                    return;
                }
                var step = Process(buffer, ref start, end, out var needed);
                if (step == Step.Close)
                {
                    return;
                }
                if (step == Step.Authenticate)
                {
                    if (!await AuthenticateAsync(ct))
                    {
                        return;
                    }
                    continue;
                }

                if (start == end)
                {
                    start = end = 0;
                    if (buffer.Length > InitialBufferBytes)
                    {
                        // Give a big frame's buffer back as soon as it is consumed: memory stays bounded per idle connection.
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
                    }
                }
                if (needed > buffer.Length)
                {
                    // The parser checked the frame size limit before saying how much it needs.
                    var bigger = ArrayPool<byte>.Shared.Rent(needed);
                    buffer.AsSpan(start, end - start).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                    end -= start;
                    start = 0;
                }
                else if (start + needed > buffer.Length || end == buffer.Length)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }

                int received;
                try
                {
                    received = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, ct);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    return;
                }
                catch (SocketException ex)
                {
                    _listener.Fault(_lastRoute, NetworkFaultKinds.ConnectionReset, $"Collector {_remote}: {ex.SocketErrorCode}.");
                    return;
                }
                if (received == 0)
                {
                    if (end > start && Volatile.Read(ref _closing) == 0)
                    {
                        _listener.Fault(_lastRoute, NetworkFaultKinds.Truncated, $"Collector {_remote} closed the connection inside a frame ({end - start} bytes left).");
                    }
                    return;
                }
                end += received;
                Volatile.Write(ref _lastActivity, _listener.Time.GetTimestamp());
                _listener.Counters.Received(received);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Handles every complete frame in the buffer (synchronously: frames are spans into it).</summary>
    private Step Process(byte[] buffer, ref int start, int end, out int needed)
    {
        while (true)
        {
            var input = buffer.AsSpan(start, end - start);
            // Until a HELLO is accepted only a HELLO-sized frame is read: an anonymous peer cannot make us hold a megabyte.
            var limit = _userId is null ? FrameFormat.MaxHelloFrameLength : _listener.Device.MaxFrameBytes;
            var status = FrameParser.Parse(input, limit, out var frame, out var length);
            if (status == FrameStatus.Incomplete)
            {
                needed = length;
                return Step.NeedBytes;
            }
            start += length;
            needed = 0;
            var wasResyncing = _resyncing;
            _resyncing = status is FrameStatus.BadMagic or FrameStatus.BadVersion or FrameStatus.BadHeaderLength
                or FrameStatus.BadHeaderCrc or FrameStatus.TooLarge or FrameStatus.BadFrameCrc;
            if (status == FrameStatus.BadMagic && wasResyncing)
            {
                // Still scanning for the next frame after the error already reported: one fault per burst of junk,
                // however the bytes happen to be split into reads.
                continue;
            }
            if (status != FrameStatus.Ok)
            {
                Refuse(status, input);
                if (_userId is null)
                {
                    // No leeway before authentication: the first bad frame ends the connection.
                    return Step.Close;
                }
                continue;
            }
            _listener.Counters.Frame();
            switch (frame.Type)
            {
                case FrameType.Hello when _userId is null:
                    frame.Token.CopyTo(_token);
                    _collectorName = Encoding.UTF8.GetString(frame.CollectorName);
                    return Step.Authenticate;
                case not FrameType.Hello when _userId is null:
                    // Before the HELLO nothing else is answered (not even a HEARTBEAT): the first other frame ends the connection.
                    _listener.Fault(null, NetworkFaultKinds.Auth, $"Collector {_remote} sent {frame.Type} before HELLO.");
                    Send(NetworkErrorCode.AuthRequired, frame.MeasurementId, frame.Sequence);
                    return Step.Close;
                case FrameType.Data when (frame.Flags & FrameFlags.Token) != 0:
                    _listener.Fault(_lastRoute, NetworkFaultKinds.Unexpected, "A TCP DATA frame must not carry a token.");
                    Send(NetworkErrorCode.UnexpectedType, frame.MeasurementId, frame.Sequence);
                    continue;
                case FrameType.Data:
                    Deliver(frame);
                    continue;
                case FrameType.Heartbeat:
                    _replies.Writer.TryWrite(new Reply(FrameType.Heartbeat, 0, Guid.Empty, frame.Sequence));
                    continue;
                case FrameType.Bye:
                    _byeRequested = true;
                    return Step.Close;
                default:
                    _listener.Fault(_lastRoute, NetworkFaultKinds.Unexpected, $"Collector {_remote} sent an unexpected {frame.Type} frame.");
                    Send(NetworkErrorCode.UnexpectedType, frame.MeasurementId, frame.Sequence);
                    continue;
            }
        }
    }

    private void Deliver(in FrameView frame)
    {
        var route = _listener.FindOwned(frame.MeasurementId, _userId!);
        if (route is null)
        {
            // Unknown, stopped and another user's measurement answer the same: no existence oracle.
            _listener.Fault(null, NetworkFaultKinds.NotFound, $"Collector {_remote} of user {_userId} sent DATA for measurement {frame.MeasurementId}, which is not running for that user.");
            Send(NetworkErrorCode.NotFound, frame.MeasurementId, frame.Sequence);
            return;
        }
        _lastRoute = route;
        if (_listener.Offer(route, frame) is { } code)
        {
            Send(code, frame.MeasurementId, frame.Sequence);
        }
    }

    private void Refuse(FrameStatus status, ReadOnlySpan<byte> input)
    {
        var (kind, code) = NetworkListener.Classify(status);
        var route = _lastRoute;
        var (id, sequence) = (Guid.Empty, 0UL);
        if (NetworkListener.HeaderIsTrusted(status) && _userId is not null)
        {
            (id, sequence) = NetworkListener.ReadIds(input);
            route = _listener.FindOwned(id, _userId) ?? route;
        }
        _listener.Fault(route, kind, $"Collector {_remote}: frame refused ({status}).");
        Send(code, id, sequence);
    }

    private async ValueTask<bool> AuthenticateAsync(CancellationToken ct)
    {
        string? userId;
        try
        {
            // An address that keeps presenting bad tokens waits before each further attempt (bounded by the auth timeout).
            var wait = _listener.Throttle.WaitFor(_address);
            if (wait > TimeSpan.Zero)
            {
                _listener.Counters.AuthThrottled();
                _listener.Fault(null, NetworkFaultKinds.AuthThrottled, $"Collector {_remote} keeps presenting bad tokens; its HELLO waits {wait.TotalSeconds:0.##} s.");
                await Task.Delay(wait, _listener.Time, ct);
            }
            userId = _listener.Tokens.TryGet(_token, out var cached) ? cached : await _listener.Tokens.ResolveAsync(_token, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _listener.Logger.LogError(ex, "Token lookup for collector {Remote} failed", _remote);
            Send(NetworkErrorCode.Unavailable, Guid.Empty, 0);
            return false;
        }
        if (userId is null)
        {
            _listener.Counters.AuthFailed();
            _listener.Throttle.Failed(_address);
            _listener.Fault(null, NetworkFaultKinds.Auth, $"Collector {_remote} presented an unknown or revoked token.");
            Send(NetworkErrorCode.AuthFailed, Guid.Empty, 0);
            return false;
        }
        _resolvedAt = _listener.Time.GetTimestamp();
        Volatile.Write(ref _lastActivity, _resolvedAt);
        _userId = userId;
        LeavePreAuth();
        _replies.Writer.TryWrite(new Reply(FrameType.Welcome, 0, Guid.Empty, 0));
        _listener.Logger.LogInformation("Collector {Collector} ({Remote}) authenticated as user {User} on device {Device}",
            _collectorName, _remote, userId, _listener.Device.Id);
        return true;
    }

    private void LeavePreAuth()
    {
        if (Interlocked.Exchange(ref _preAuth, 0) == 1)
        {
            _listener.LeavePreAuth(_address);
        }
    }

    /// <summary>Revocation reaches open connections within the re-check interval (plus as much again from the token cache).</summary>
    private async ValueTask<bool> RecheckAsync(CancellationToken ct)
    {
        _resolvedAt = _listener.Time.GetTimestamp();
        try
        {
            var userId = _listener.Tokens.TryGet(_token, out var cached) ? cached : await _listener.Tokens.ResolveAsync(_token, ct);
            if (string.Equals(userId, _userId, StringComparison.Ordinal))
            {
                return true;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A store hiccup must not cut running streams; the token was valid a minute ago.
            _listener.Logger.LogWarning(ex, "Token re-check for collector {Remote} failed; keeping the connection", _remote);
            return true;
        }
        _listener.Fault(_lastRoute, NetworkFaultKinds.Auth, $"The token of collector {_remote} was revoked; closed.");
        Send(NetworkErrorCode.AuthFailed, Guid.Empty, 0);
        return false;
    }

    private void Send(NetworkErrorCode code, Guid measurementId, ulong sequence) =>
        _replies.Writer.TryWrite(new Reply(FrameType.Error, code, measurementId, sequence));

    private async Task WriteLoopAsync(CancellationToken ct)
    {
        var frame = new byte[FrameEncoder.MaxControlFrameLength];
        try
        {
            while (await _replies.Reader.WaitToReadAsync(ct))
            {
                while (_replies.Reader.TryRead(out var reply))
                {
                    await SendAsync(reply);
                }
            }
            // The queue is complete: the read side has ended. A collector that said BYE hears BYE last.
            if (_byeRequested)
            {
                await SendAsync(new Reply(FrameType.Bye, 0, Guid.Empty, 0));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The peer went away or does not read; the read side reports what matters.
        }

        async Task SendAsync(Reply reply)
        {
            var n = reply.Type switch
            {
                FrameType.Welcome => FrameEncoder.WriteWelcome(frame, _listener.Device.MaxFrameBytes, (int)_listener.IdleTimeout.TotalMilliseconds),
                FrameType.Heartbeat => FrameEncoder.WriteHeartbeat(frame, reply.Sequence),
                FrameType.Bye => FrameEncoder.WriteBye(frame),
                _ => FrameEncoder.WriteError(frame, reply.Code, reply.MeasurementId, reply.Sequence, Describe(reply.Code)),
            };
            var sent = 0;
            while (sent < n)
            {
                sent += await _socket.SendAsync(frame.AsMemory(sent, n - sent), SocketFlags.None, ct);
            }
        }
    }

    private static string Describe(NetworkErrorCode code) => code switch
    {
        NetworkErrorCode.BadFrame => "Not a valid frame (magic, version, lengths, flags, counts or rate).",
        NetworkErrorCode.BadCrc => "CRC mismatch.",
        NetworkErrorCode.TooLarge => "Frame larger than the server accepts.",
        NetworkErrorCode.AuthRequired => "The first frame must be HELLO.",
        NetworkErrorCode.AuthFailed => "Unknown or revoked token.",
        NetworkErrorCode.NotFound => "No running measurement with this id for your token.",
        NetworkErrorCode.ChannelMismatch => "Channel count differs from the measurement's.",
        NetworkErrorCode.RateMismatch => "Sample rate differs from the measurement's.",
        NetworkErrorCode.NonFinite => "NaN or Infinity in the samples; frame refused.",
        NetworkErrorCode.UnexpectedType => "Frame type not accepted here.",
        NetworkErrorCode.Timeout => "Nothing received for the idle timeout; closing.",
        NetworkErrorCode.Unavailable => "Server unavailable.",
        _ => "Error.",
    };

    private readonly record struct Reply(FrameType Type, NetworkErrorCode Code, Guid MeasurementId, ulong Sequence);
}
