using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Highest lossless ingest through the Network device (SPEC §9): DATA frames over real loopback
/// sockets into a <see cref="NetworkListener"/> whose measurement only counts (and releases) the
/// blocks, beside the same run's raw-socket baseline (the same bytes into a plain socket that only
/// counts them). TCP cannot lose, so its figure is the throughput with every frame delivered; UDP is
/// paced at rising rates and the highest rate at which every datagram became a block is reported.
/// </summary>
public sealed class NetworkScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "network";

    /// <inheritdoc />
    public string Description => "lossless ingest through the Network device over loopback TCP and UDP, beside raw sockets (SPEC §9)";

    /// <inheritdoc />
    public string Usage => """
        --seconds S        length of the TCP runs and of each UDP step (default 3)
        --channels N (8)   --samples N per channel per frame (default 1024: one 32 KB frame, fits a datagram)
        --udp-start R      first UDP step in values/s (default 1M); each step doubles until a datagram is lost
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var seconds = TimeSpan.FromSeconds(options.GetDouble("seconds", 3));
        var channels = options.GetInt("channels", 8);
        var samples = options.GetInt("samples", 1024);
        var udpStart = options.GetDouble("udp-start", 1e6);
        var report = new LoadReport(Name, "network", "Network device: highest lossless ingest (TCP, UDP) vs raw loopback sockets");

        var tcp = await TcpAsync(channels, samples, seconds, raw: false, cancellationToken);
        var tcpRaw = await TcpAsync(channels, samples, seconds, raw: true, cancellationToken);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"TCP: {tcp / 1e6:0.0} M values/s through the device, {tcpRaw / 1e6:0.0} M raw"));
        var udp = await UdpHighestLosslessAsync(channels, samples, seconds, udpStart, raw: false, progress, cancellationToken);
        var udpRaw = await UdpHighestLosslessAsync(channels, samples, seconds, udpStart, raw: true, progress, cancellationToken);

        report.Add("TCP, every frame delivered", tcp / 1e6, "M values/s", string.Create(CultureInfo.InvariantCulture, $"raw TCP {tcpRaw / 1e6:0.0} M"), Ratio(tcp, tcpRaw));
        report.Add("UDP, highest rate without a lost datagram", udp / 1e6, "M values/s", string.Create(CultureInfo.InvariantCulture, $"raw UDP {udpRaw / 1e6:0.0} M"), Ratio(udp, udpRaw));
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{channels} channels × {samples} samples per frame ({FrameEncoder.DataFrameLength(channels, samples, true)} bytes with token), loopback, one collector; TCP runs {seconds.TotalSeconds:0} s flat out; UDP steps of {seconds.TotalSeconds:0} s doubling from {udpStart / 1e6:0.#} M values/s."));
        report.Notes.Add("A value is one float32 sample of one channel; divide by the channel count for samples per second per channel.");
        report.Notes.Add("Raw baseline: the same frame bytes into a plain socket that only counts them (no parsing, CRC, token or block copy).");
        return report;
    }

    private static string Ratio(double value, double baseline) =>
        baseline > 0 ? string.Create(CultureInfo.InvariantCulture, $"{value / baseline:0.00}× raw") : "";

    // Values per second through the device (or into a raw socket) with TCP flat out; throws if a frame went missing.
    private static async Task<double> TcpAsync(int channels, int samples, TimeSpan duration, bool raw, CancellationToken ct)
    {
        await using var target = await Target.StartAsync(channels, raw, ct);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(target.Tcp, ct);
        if (!raw)
        {
            var hello = new byte[FrameEncoder.MaxControlFrameLength];
            await socket.SendAsync(hello.AsMemory(0, FrameEncoder.WriteHello(hello, target.Token, "bench")), ct);
            var welcome = new byte[FrameEncoder.MaxControlFrameLength];
            _ = await socket.ReceiveAsync(welcome, ct);
        }
        var frame = Frame(target.Measurement, channels, samples, token: null);
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            // Sequence numbers do not matter for throughput: every frame restarts the tracking.
            await socket.SendAsync(frame, ct);
            sent++;
        }
        await target.WaitForAsync(sent, frame.Length, TimeSpan.FromSeconds(30), ct);
        var elapsed = clock.Elapsed;
        return sent * channels * samples / elapsed.TotalSeconds;
    }

    private static async Task<double> UdpHighestLosslessAsync(int channels, int samples, TimeSpan step, double start, bool raw, TextWriter progress, CancellationToken ct)
    {
        var best = 0.0;
        for (var rate = start; rate < 2e9; rate *= 2)
        {
            await using var target = await Target.StartAsync(channels, raw, ct);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(target.Udp!);
            var frame = Frame(target.Measurement, channels, samples, target.Token);
            var perSecond = rate / (channels * samples);
            long sent = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < step)
            {
                var due = (long)(clock.Elapsed.TotalSeconds * perSecond);
                while (sent < due)
                {
                    await socket.SendAsync(frame, ct);
                    sent++;
                }
                await Task.Delay(1, ct);
            }
            var lossless = await target.TryWaitForAsync(sent, frame.Length, TimeSpan.FromSeconds(2), ct);
            var achieved = sent * channels * samples / clock.Elapsed.TotalSeconds;
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"UDP {(raw ? "raw" : "device")} at {rate / 1e6:0.#} M values/s: sent {sent}, received {target.Received}{(lossless ? "" : " (loss)")}"));
            if (!lossless || achieved < rate * 0.9)
            {
                // Lost datagrams, or the sender itself could not keep up: the previous step is the answer.
                break;
            }
            best = achieved;
        }
        return best;
    }

    private static byte[] Frame(Guid measurement, int channels, int samples, byte[]? token)
    {
        var values = new float[channels * samples];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = MathF.Sin(i * 0.01f);
        }
        var frame = new byte[FrameEncoder.DataFrameLength(channels, samples, token is not null)];
        FrameEncoder.WriteData(frame, new DataFrameHeader(measurement, 0, 1_700_000_000_000_000_000, 100_000, channels, samples, Restart: true), values, token);
        return frame;
    }

    /// <summary>Where the frames go: the Network device with a counting measurement, or a plain socket that counts bytes.</summary>
    private sealed class Target : IAsyncDisposable, IBlockSink
    {
        private readonly CancellationTokenSource _stop = new();
        private NetworkListener? _listener;
        private IAsyncDisposable? _registration;
        private Socket? _rawTcp;
        private Socket? _rawUdp;
        private Task _rawLoop = Task.CompletedTask;
        private long _frames;
        private long _bytes;

        public Guid Measurement { get; } = Guid.CreateVersion7();

        public byte[] Token { get; private set; } = [];

        public IPEndPoint Tcp { get; private set; } = null!;

        public IPEndPoint? Udp { get; private set; }

        /// <summary>Frames delivered (device) or whole frames' worth of bytes received (raw).</summary>
        public long Received => Interlocked.Read(ref _frames);

        public static async Task<Target> StartAsync(int channels, bool raw, CancellationToken ct)
        {
            var target = new Target();
            if (raw)
            {
                target._rawTcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                target._rawTcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                target._rawTcp.Listen();
                target._rawUdp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 4 * 1024 * 1024 };
                target._rawUdp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                target.Tcp = (IPEndPoint)target._rawTcp.LocalEndPoint!;
                target.Udp = (IPEndPoint)target._rawUdp.LocalEndPoint!;
                target._rawLoop = Task.WhenAll(Task.Run(() => target.RawTcpAsync(target._stop.Token), CancellationToken.None),
                    Task.Run(() => target.RawUdpAsync(target._stop.Token), CancellationToken.None));
                return target;
            }
            var tokens = new InMemoryCollectorTokens();
            target.Token = (await tokens.IssueAsync("bench", ct)).Secret;
            var device = new DeviceOptions { Id = "bench-net", Driver = NetworkDriver.DriverKind, TcpPort = 0, UdpPort = 0, MaxFrameBytes = 4 * 1024 * 1024 };
            target._listener = new NetworkListener(device, tokens, TimeProvider.System, NullLogger.Instance);
            target._listener.Start();
            target.Tcp = target._listener.TcpEndPoint;
            target.Udp = target._listener.UdpEndPoint;
            target._registration = target._listener.Register(new MeasurementInfo
            {
                Id = target.Measurement,
                OwnerId = "bench",
                OwnerName = "bench",
                Name = "bench",
                DeviceId = device.Id,
                Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i}", "V"))],
                SampleRate = 100_000,
                State = MeasurementState.Running,
                StartedAt = DateTimeOffset.UtcNow,
            }, target);
            return target;
        }

        public async Task WaitForAsync(long frames, int frameBytes, TimeSpan guard, CancellationToken ct)
        {
            if (!await TryWaitForAsync(frames, frameBytes, guard, ct))
            {
                throw new InvalidOperationException($"Only {Received} of {frames} frames arrived over TCP.");
            }
        }

        public async Task<bool> TryWaitForAsync(long frames, int frameBytes, TimeSpan guard, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            while (Count(frameBytes) < frames && clock.Elapsed < guard)
            {
                await Task.Delay(5, ct);
            }
            return Count(frameBytes) >= frames;
        }

        private long Count(int frameBytes) => _listener is null ? Interlocked.Read(ref _bytes) / frameBytes : Received;

        public bool Publish(SampleBlock block)
        {
            block.Release();
            Interlocked.Increment(ref _frames);
            return true;
        }

        public void Fault(string kind, string message)
        {
        }

        public void Fail(string message)
        {
        }

        private async Task RawTcpAsync(CancellationToken ct)
        {
            try
            {
                using var peer = await _rawTcp!.AcceptAsync(ct);
                var buffer = new byte[256 * 1024];
                int n;
                while ((n = await peer.ReceiveAsync(buffer, ct)) > 0)
                {
                    Interlocked.Add(ref _bytes, n);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // Done.
            }
        }

        private async Task RawUdpAsync(CancellationToken ct)
        {
            var buffer = new byte[64 * 1024];
            try
            {
                while (true)
                {
                    var n = await _rawUdp!.ReceiveAsync(buffer, ct);
                    Interlocked.Add(ref _bytes, n);
                    Interlocked.Increment(ref _frames);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // Done.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _rawTcp?.Dispose();
            _rawUdp?.Dispose();
            await _rawLoop;
            if (_registration is not null)
            {
                await _registration.DisposeAsync();
            }
            if (_listener is not null)
            {
                await _listener.DisposeAsync();
            }
            _stop.Dispose();
        }
    }
}
