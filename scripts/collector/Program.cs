using System.Globalization;
using System.Net.Sockets;
using System.Text;
using MeasureApp.Acquisition.Devices.Network;

// A reference collector for MeasureApp's Network device (docs/network-protocol.md).
//   dotnet run --project scripts/collector -- --host 127.0.0.1 --port 5700 --token <64 hex> \
//       --measurement <guid> --rate 1000 --channels 2 --seconds 10 [--udp] [--csv file.csv] [--fast]
// Without --token the token is read from the environment variable MEASUREAPP_TOKEN; --seconds 0 runs until Ctrl+C.
// Exit codes: 0 sent and no error came back, 1 the server reported errors, 2 bad arguments or refused (or revoked) token.

Options options;
try
{
    options = Options.Parse(args);
}
catch (FormatException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(Options.Usage);
    return 2;
}

using var source = options.CsvPath is { } csv ? (ISampleSource)CsvSource.Open(csv, options) : new SineSource(options);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
try
{
    return options.Udp
        ? await Sender.RunUdpAsync(options, source, cancel.Token)
        : await Sender.RunTcpAsync(options, source, cancel.Token);
}
catch (SocketException ex)
{
    Console.Error.WriteLine($"Network error: {ex.Message}");
    return 1;
}

/// <summary>Command line.</summary>
internal sealed record Options(string Host, int Port, byte[] Token, Guid Measurement, double Rate, int Channels, double Seconds,
    bool Udp, string? CsvPath, bool Fast, int FrameMilliseconds, bool RateGiven)
{
    public const string Usage =
        "usage: --measurement <guid> [--token <64 hex digits>, default $MEASUREAPP_TOKEN] [--host 127.0.0.1] [--port 5700] " +
        "[--rate 1000] [--channels 1] [--seconds 10, 0 = until Ctrl+C] [--udp] [--csv file.csv] [--fast] [--frame-ms 10]";

    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a is "--udp" or "--fast")
            {
                flags.Add(a);
            }
            else if (a.StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                values[a] = args[++i];
            }
            else
            {
                throw new FormatException($"Unexpected argument '{a}'.");
            }
        }
        string Get(string key, string fallback) => values.TryGetValue(key, out var v) ? v : fallback;
        double Number(string key, string fallback) =>
            double.TryParse(Get(key, fallback), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                ? d : throw new FormatException($"{key} needs a number.");

        if (!values.TryGetValue("--token", out var tokenHex))
        {
            tokenHex = Environment.GetEnvironmentVariable("MEASUREAPP_TOKEN") ?? "";
        }
        if (tokenHex.Length != 64)
        {
            throw new FormatException("--token (or MEASUREAPP_TOKEN) needs the 64 hex digits shown when the token was created on the Collectors page.");
        }
        byte[] token;
        try
        {
            token = Convert.FromHexString(tokenHex);
        }
        catch (FormatException)
        {
            throw new FormatException("--token needs 64 hex digits.");
        }
        if (!Guid.TryParse(Get("--measurement", ""), out var measurement))
        {
            throw new FormatException("--measurement needs the measurement id (a GUID).");
        }
        var channels = (int)Number("--channels", "1");
        if (channels is < 1 or > 8)
        {
            throw new FormatException("--channels must be 1 to 8.");
        }
        var rate = Number("--rate", "1000");
        if (rate <= 0)
        {
            throw new FormatException("--rate must be positive.");
        }
        var frameMs = (int)Number("--frame-ms", "10");
        if (frameMs is < 1 or > 1000)
        {
            throw new FormatException("--frame-ms must be 1 to 1000.");
        }
        return new Options(Get("--host", "127.0.0.1"), (int)Number("--port", "5700"), token, measurement, rate, channels,
            Number("--seconds", "10"), flags.Contains("--udp"), values.GetValueOrDefault("--csv"), flags.Contains("--fast"), frameMs,
            values.ContainsKey("--rate"));
    }
}

/// <summary>Where samples come from: fills channel-major values, returns the samples per channel written (0 = done).</summary>
internal interface ISampleSource : IDisposable
{
    int Channels { get; }

    double Rate { get; }

    int Fill(Span<float> channelMajor, int samplesPerChannel);
}

/// <summary>Channel c: sine of (c + 1) Hz, amplitude 1, for the requested number of seconds.</summary>
internal sealed class SineSource(Options options) : ISampleSource
{
    private readonly long _total = options.Seconds > 0 ? (long)(options.Seconds * options.Rate) : long.MaxValue;
    private long _index;

    public int Channels => options.Channels;

    public double Rate => options.Rate;

    public int Fill(Span<float> channelMajor, int samplesPerChannel)
    {
        var n = (int)Math.Min(samplesPerChannel, _total - _index);
        for (var c = 0; c < Channels; c++)
        {
            for (var i = 0; i < n; i++)
            {
                channelMajor[(c * n) + i] = (float)Math.Sin(2 * Math.PI * (c + 1) * (_index + i) / Rate);
            }
        }
        _index += n;
        return n;
    }

    public void Dispose()
    {
    }
}

/// <summary>Replays a CSV: first column time in seconds, the others channels; a header line is skipped.</summary>
internal sealed class CsvSource : ISampleSource
{
    private readonly StreamReader _reader;
    private readonly Queue<float[]> _pending = new();

    private CsvSource(StreamReader reader, int channels, double rate)
    {
        _reader = reader;
        Channels = channels;
        Rate = rate;
    }

    public int Channels { get; }

    public double Rate { get; }

    public static CsvSource Open(string path, Options options)
    {
        var reader = new StreamReader(path, Encoding.UTF8);
        var first = new List<double[]>();
        while (first.Count < 2 && reader.ReadLine() is { } line)
        {
            if (Parse(line) is { } row)
            {
                first.Add(row);
            }
        }
        if (first.Count == 0 || first[0].Length < 2 || first[0].Length > 9)
        {
            reader.Dispose();
            throw new FormatException($"{path}: expected rows of time plus 1 to 8 channel values.");
        }
        var rate = options.RateGiven || first.Count < 2 ? options.Rate : 1.0 / (first[1][0] - first[0][0]);
        if (!double.IsFinite(rate) || rate <= 0)
        {
            reader.Dispose();
            throw new FormatException($"{path}: the time column must increase (or pass --rate).");
        }
        var source = new CsvSource(reader, first[0].Length - 1, rate);
        foreach (var row in first)
        {
            source._pending.Enqueue([.. row.Skip(1).Select(v => (float)v)]);
        }
        return source;
    }

    public int Fill(Span<float> channelMajor, int samplesPerChannel)
    {
        while (_pending.Count < samplesPerChannel && _reader.ReadLine() is { } line)
        {
            if (Parse(line) is { Length: > 1 } row && row.Length - 1 == Channels)
            {
                _pending.Enqueue([.. row.Skip(1).Select(v => (float)v)]);
            }
        }
        var n = Math.Min(samplesPerChannel, _pending.Count);
        for (var i = 0; i < n; i++)
        {
            var row = _pending.Dequeue();
            for (var c = 0; c < Channels; c++)
            {
                channelMajor[(c * n) + i] = row[c];
            }
        }
        return n;
    }

    public void Dispose() => _reader.Dispose();

    private static double[]? Parse(string line)
    {
        var parts = line.Split(',', StringSplitOptions.TrimEntries);
        var values = new double[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
            {
                return null;
            }
        }
        return values;
    }
}

/// <summary>Paces frames in real time (or as fast as possible with --fast) and sends them.</summary>
internal static class Sender
{
    public static async Task<int> RunTcpAsync(Options options, ISampleSource source, CancellationToken ct)
    {
        using var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync(options.Host, options.Port, ct);
        var stream = client.GetStream();
        var control = new byte[FrameEncoder.MaxControlFrameLength];
        var n = FrameEncoder.WriteHello(control, options.Token, $"MeasureApp.Collector {Environment.MachineName}");
        await stream.WriteAsync(control.AsMemory(0, n), ct);

        var reader = new ReplyReader(stream);
        var welcome = await reader.NextAsync(ct);
        if (welcome is not { Type: FrameType.Welcome } w)
        {
            Console.Error.WriteLine(welcome is { } e ? $"Refused: {e.Describe()}" : "The server closed the connection.");
            return 2;
        }
        Console.WriteLine($"Connected to {options.Host}:{options.Port}; server accepts frames up to {w.MaxFrameBytes} bytes.");

        var errors = 0;
        var refused = false;
        // The server ends the connection after AUTH_FAILED (a token revoked while we send): stop sending then.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var replies = Task.Run(async () =>
        {
            while (await reader.NextAsync(CancellationToken.None) is { } reply)
            {
                if (reply.Type == FrameType.Error)
                {
                    Interlocked.Increment(ref errors);
                    Console.Error.WriteLine($"Server: {reply.Describe()}");
                    if (reply.Code is NetworkErrorCode.AuthFailed or NetworkErrorCode.Timeout or NetworkErrorCode.Unavailable)
                    {
                        refused = reply.Code == NetworkErrorCode.AuthFailed;
                        await stop.CancelAsync();
                        return;
                    }
                }
                else if (reply.Type == FrameType.Bye)
                {
                    return;
                }
            }
        }, CancellationToken.None);

        var maxSamples = MaxSamples(Math.Min(w.MaxFrameBytes, 1024 * 1024), source.Channels, withToken: false);
        long frames, samples;
        try
        {
            (frames, samples) = await PumpAsync(options, source, maxSamples, withToken: false,
                frame => stream.WriteAsync(frame, stop.Token), stop.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The server closed the connection; the reply reader says why.
            await replies.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            Console.Error.WriteLine(refused ? "The server refused the token (revoked?); stopped." : "The server closed the connection; stopped.");
            return refused ? 2 : 1;
        }
        if (stop.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            Console.Error.WriteLine(refused ? "The server refused the token (revoked?); stopped." : "The server closed the connection; stopped.");
            return refused ? 2 : 1;
        }

        n = FrameEncoder.WriteBye(control);
        await stream.WriteAsync(control.AsMemory(0, n), CancellationToken.None);
        await replies.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Console.WriteLine($"Sent {frames} frames, {samples} samples per channel; the server reported {errors} error(s).");
        return errors == 0 ? 0 : 1;
    }

    public static async Task<int> RunUdpAsync(Options options, ISampleSource source, CancellationToken ct)
    {
        using var udp = new UdpClient();
        udp.Connect(options.Host, options.Port);
        var maxSamples = MaxSamples(FrameFormat.MaxDatagramBytes, source.Channels, withToken: true);
        var (frames, samples) = await PumpAsync(options, source, maxSamples, withToken: true,
            async frame => await udp.SendAsync(frame, ct), ct);
        Console.WriteLine($"Sent {frames} datagrams, {samples} samples per channel (UDP: the server sends no replies).");
        return 0;
    }

    private static int MaxSamples(int maxFrameBytes, int channels, bool withToken) =>
        Math.Min(FrameFormat.MaxSamplesPerFrame,
            (maxFrameBytes - FrameFormat.HeaderLength - FrameFormat.TrailerLength - (withToken ? FrameFormat.TokenLength : 0)) / (4 * channels));

    private static async Task<(long Frames, long Samples)> PumpAsync(Options options, ISampleSource source, int maxSamples, bool withToken,
        Func<ReadOnlyMemory<byte>, ValueTask> send, CancellationToken ct)
    {
        var perFrame = Math.Clamp((int)(source.Rate * options.FrameMilliseconds / 1000), 1, maxSamples);
        var values = new float[perFrame * source.Channels];
        var frame = new byte[FrameEncoder.DataFrameLength(source.Channels, perFrame, withToken)];
        var startNs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        var started = TimeProvider.System.GetTimestamp();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.FrameMilliseconds));
        long sent = 0;
        ulong sequence = 0;
        while (!ct.IsCancellationRequested)
        {
            var due = options.Fast ? long.MaxValue : (long)(TimeProvider.System.GetElapsedTime(started).TotalSeconds * source.Rate);
            // Whole frames only; the source returns a short one at its end.
            while (due - sent >= perFrame)
            {
                var count = source.Fill(values, perFrame);
                if (count == 0)
                {
                    return ((long)sequence, sent);
                }
                var header = new DataFrameHeader(options.Measurement, sequence, startNs + (long)(sent * 1e9 / source.Rate), source.Rate,
                    source.Channels, count, Restart: sequence == 0);
                var length = FrameEncoder.WriteData(frame, header, values.AsSpan(0, count * source.Channels), withToken ? options.Token : default);
                await send(frame.AsMemory(0, length));
                sequence++;
                sent += count;
            }
            try
            {
                await timer.WaitForNextTickAsync(ct);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return ((long)sequence, sent);
    }
}

/// <summary>A server reply.</summary>
internal sealed record Reply(FrameType Type, NetworkErrorCode Code, string Message, Guid MeasurementId, ulong Sequence, int MaxFrameBytes)
{
    public string Describe() => Type == FrameType.Error
        ? $"{Code} ({(int)Code}) for measurement {MeasurementId} frame {Sequence}: {Message}"
        : Type.ToString();
}

/// <summary>Reads frames the server sends, with the same parser the server uses.</summary>
internal sealed class ReplyReader(Stream stream)
{
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public async Task<Reply?> NextAsync(CancellationToken ct)
    {
        while (true)
        {
            if (TryParse() is { } reply)
            {
                return reply;
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
                n = await stream.ReadAsync(_buffer.AsMemory(_end), ct);
            }
            catch (IOException)
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

    private Reply? TryParse()
    {
        while (_end > _start)
        {
            var status = FrameParser.Parse(_buffer.AsSpan(_start, _end - _start), _buffer.Length, out var frame, out var length);
            if (status == FrameStatus.Incomplete)
            {
                return null;
            }
            _start += length;
            if (status == FrameStatus.Ok)
            {
                return new Reply(frame.Type, frame.ErrorCode, Encoding.UTF8.GetString(frame.ErrorMessage), frame.MeasurementId, frame.Sequence,
                    frame.WelcomeMaxFrameBytes);
            }
        }
        return null;
    }
}
