using System.Net;
using System.Net.Sockets;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Tests.Acquisition.Network;

/// <summary>Shared setup of the Network driver tests: listeners on ephemeral ports, measurements, frames.</summary>
internal static class NetworkTestKit
{
    /// <summary>Guards against hangs only; a passing test never waits this long.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    public static NetworkListener StartListener(ICollectorTokens tokens, TimeProvider? time = null, int idleTimeoutSeconds = 30, int maxConnections = 256,
        int authTimeoutSeconds = 5, int maxPreAuthPerAddress = 8, int tokenRecheckSeconds = 5, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var device = new DeviceOptions
        {
            Id = "collectors",
            Driver = NetworkDriver.DriverKind,
            BindAddress = "127.0.0.1",
            TcpPort = 0,
            UdpPort = 0,
            IdleTimeoutSeconds = idleTimeoutSeconds,
            MaxConnections = maxConnections,
            AuthTimeoutSeconds = authTimeoutSeconds,
            MaxPreAuthConnectionsPerAddress = maxPreAuthPerAddress,
            TokenRecheckSeconds = tokenRecheckSeconds,
        };
        var listener = new NetworkListener(device, tokens, time ?? TimeProvider.System, logger ?? NullLogger.Instance);
        listener.Start();
        return listener;
    }

    public static MeasurementInfo Measurement(string ownerId, int channels = 2, double rate = 1000) => new()
    {
        Id = Guid.CreateVersion7(),
        OwnerId = ownerId,
        OwnerName = ownerId + "@lab.test",
        Name = "remote",
        DeviceId = "collectors",
        Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i + 1}", "V"))],
        SampleRate = rate,
        State = MeasurementState.Running,
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    /// <summary>Distinct, recognizable values: frame f, channel c, sample i → f * 1000 + c * 100 + i * 0.5.</summary>
    public static float[] Values(ulong frame, int channels, int samples)
    {
        var v = new float[channels * samples];
        for (var c = 0; c < channels; c++)
        {
            for (var i = 0; i < samples; i++)
            {
                v[(c * samples) + i] = (frame * 1000f) + (c * 100f) + (i * 0.5f);
            }
        }
        return v;
    }

    public static long T0(ulong frame) => 1_700_000_000_000_000_000L + ((long)frame * 1_000_000_000L);

    public static byte[] DataFrame(MeasurementInfo m, ulong sequence, int samples = 32, byte[]? token = null, bool restart = false)
    {
        var channels = m.Channels.Count;
        var frame = new byte[FrameEncoder.DataFrameLength(channels, samples, token is not null)];
        FrameEncoder.WriteData(frame, new DataFrameHeader(m.Id, sequence, T0(sequence), m.SampleRate, channels, samples, restart),
            Values(sequence, channels, samples), token);
        return frame;
    }

    public static byte[] Hello(byte[] token)
    {
        var buffer = new byte[FrameEncoder.MaxControlFrameLength];
        return buffer[..FrameEncoder.WriteHello(buffer, token, "test collector")];
    }

    public static byte[] Bye()
    {
        var buffer = new byte[FrameEncoder.MaxControlFrameLength];
        return buffer[..FrameEncoder.WriteBye(buffer)];
    }

    /// <summary>Waits for a condition that has no completion signal (listener counters), with a deadline.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (waited.Elapsed > Guard)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }
            await Task.Delay(5);
        }
    }
}

/// <summary>A block as received, copied out of the pooled buffer.</summary>
internal sealed record ReceivedBlock(long T0Ns, double SampleRate, int ChannelCount, int Count, float[] Values);

/// <summary>Records what a device run hands to its measurement; waiters are woken on every change.</summary>
internal sealed class RecordingSink : IBlockSink
{
    private readonly Lock _gate = new();
    private readonly List<ReceivedBlock> _blocks = [];
    private readonly List<(string Kind, string Message)> _faults = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Accepting { get; set; } = true;

    public IReadOnlyList<ReceivedBlock> Blocks
    {
        get
        {
            lock (_gate)
            {
                return [.. _blocks];
            }
        }
    }

    public IReadOnlyList<(string Kind, string Message)> Faults
    {
        get
        {
            lock (_gate)
            {
                return [.. _faults];
            }
        }
    }

    public int FaultCount(string kind) => Faults.Count(f => f.Kind == kind);

    public bool Publish(SampleBlock block)
    {
        try
        {
            if (!Accepting)
            {
                return false;
            }
            lock (_gate)
            {
                _blocks.Add(new ReceivedBlock(block.T0Ns, block.SampleRate, block.ChannelCount, block.Count, block.Values.ToArray()));
            }
            Changed();
            return true;
        }
        finally
        {
            block.Release();
        }
    }

    public void Fault(string kind, string message)
    {
        lock (_gate)
        {
            _faults.Add((kind, message));
        }
        Changed();
    }

    public void Fail(string message) => Fault("fail", message);

    public Task WaitForBlocksAsync(int count) => WaitUntilAsync(() => Blocks.Count >= count, $"{count} blocks arrived");

    public Task WaitForFaultAsync(string kind) => WaitUntilAsync(() => FaultCount(kind) > 0, $"a '{kind}' fault was reported");

    private async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            if (condition())
            {
                return;
            }
            var left = NetworkTestKit.Guard - waited.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }
            try
            {
                await changed.WaitAsync(left);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"Timed out waiting until {what}.");
            }
        }
    }

    private void Changed() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}

/// <summary>A frame the server sent.</summary>
internal sealed record ServerFrame(FrameType Type, NetworkErrorCode Code, Guid MeasurementId, ulong Sequence);

/// <summary>A minimal collector on a real TCP socket.</summary>
internal sealed class TestCollector : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private TestCollector(Socket socket) => _socket = socket;

    public Socket Socket => _socket;

    public static async Task<TestCollector> ConnectAsync(IPEndPoint endPoint, int? receiveBufferBytes = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferBytes is { } bytes)
        {
            // Set before connecting, so the window the server sees is small from the start.
            socket.ReceiveBufferSize = bytes;
        }
        await socket.ConnectAsync(endPoint).WaitAsync(NetworkTestKit.Guard);
        return new TestCollector(socket);
    }

    public async Task<ServerFrame?> HelloAsync(byte[] token)
    {
        await SendAsync(NetworkTestKit.Hello(token));
        return await ReadAsync();
    }

    public async Task SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            var n = await _socket.SendAsync(bytes, SocketFlags.None).AsTask().WaitAsync(NetworkTestKit.Guard);
            bytes = bytes[n..];
        }
    }

    /// <summary>The next frame from the server, or null when it closed the connection.</summary>
    public async Task<ServerFrame?> ReadAsync()
    {
        while (true)
        {
            if (_end > _start)
            {
                var status = FrameParser.Parse(_buffer.AsSpan(_start, _end - _start), _buffer.Length, out var frame, out var length);
                if (status != FrameStatus.Incomplete)
                {
                    _start += length;
                    if (status != FrameStatus.Ok)
                    {
                        throw new InvalidOperationException($"The server sent an invalid frame: {status}.");
                    }
                    return new ServerFrame(frame.Type, frame.ErrorCode, frame.MeasurementId, frame.Sequence);
                }
            }
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            int n;
            try
            {
                n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).AsTask().WaitAsync(NetworkTestKit.Guard);
            }
            catch (SocketException)
            {
                return null;
            }
            if (n == 0)
            {
                return null;
            }
            _end += n;
        }
    }

    /// <summary>Frames until the server closes the connection.</summary>
    public async Task<List<ServerFrame>> ReadToEndAsync()
    {
        var frames = new List<ServerFrame>();
        while (await ReadAsync() is { } f)
        {
            frames.Add(f);
        }
        return frames;
    }

    /// <summary>Drops the connection with a TCP reset, as a crashing collector would.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
