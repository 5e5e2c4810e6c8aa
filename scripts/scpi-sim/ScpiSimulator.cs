using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace MeasureApp.ScpiSim;

/// <summary>Settings of <see cref="ScpiSimulator"/>.</summary>
public sealed record ScpiSimulatorOptions
{
    /// <summary>Loopback port to listen on (0 = any free port, see <see cref="ScpiSimulator.Port"/>).</summary>
    public int Port { get; init; }
    /// <summary>Address to bind; loopback unless a demo needs the LAN.</summary>
    public IPAddress BindAddress { get; init; } = IPAddress.Loopback;
    /// <summary>The <c>*IDN?</c> answer.</summary>
    public string Identity { get; init; } = "MeasureApp,ScpiSim DMM+scope,SIM0001,1.0";
    /// <summary>Most DMM readings per second per connection (0 = as fast as the socket goes), like an NPLC setting.</summary>
    public double MaxReadingsPerSecond { get; init; }
    /// <summary>Close a connection when it sends its N-th command (0 = never): an instrument that drops off the LAN.</summary>
    public int DropAfterCommands { get; init; }
    /// <summary>Every N-th DMM reading also queues error -230 (0 = never).</summary>
    public int ErrorEveryReadings { get; init; }
    /// <summary>Scope sample interval reported by <c>:WAV:XINC?</c>.</summary>
    public double ScopeSampleInterval { get; init; } = 1e-4;
}

/// <summary>A malformed answer the simulator sends once, to the next data query, when asked to.</summary>
public enum ScpiSimFault
{
    /// <summary>Nothing injected.</summary>
    None,
    /// <summary>A block answer without the '#' header.</summary>
    BadHeader,
    /// <summary>A block that announces more bytes than it sends (then silence).</summary>
    ShortBlock,
    /// <summary>A block header announcing 500,000,000 bytes.</summary>
    OversizedBlock,
    /// <summary>A DMM reading that is not a number.</summary>
    GarbageReading,
}

/// <summary>Waveform encodings of the simulated scope (<c>:WAV:FORM</c>).</summary>
public enum ScpiSimWaveFormat
{
    /// <summary>Signed bytes, 100 codes per volt.</summary>
    Byte,
    /// <summary>Unsigned bytes, 128 + 100 codes per volt.</summary>
    UnsignedByte,
    /// <summary>Signed 16-bit, 10,000 codes per volt, byte order from <c>:WAV:BYT</c>.</summary>
    Word,
    /// <summary>float32 volts, byte order from <c>:WAV:BYT</c>.</summary>
    FloatingPoint,
    /// <summary>A comma-separated line of volts.</summary>
    Ascii,
}

/// <summary>
/// A SCPI server emulating a DMM (<c>*IDN?</c>, <c>*RST</c>, <c>*CLS</c>, <c>CONF:VOLT:DC</c>, <c>MEAS:VOLT:DC?</c>,
/// <c>MEAS:CURR:DC?</c>, <c>READ?</c>, <c>SAMP:COUN</c>, <c>SYST:ERR?</c>) and a scope (<c>:WAV:SOUR</c>,
/// <c>:WAV:FORM</c>, <c>:WAV:BYT</c>, <c>:WAV:POIN</c>, <c>:WAV:XINC?</c>, <c>:WAV:DATA?</c>) with deterministic
/// signals: reading k of a connection is <see cref="DmmVoltage"/>(k), scope point k of channel c is
/// <see cref="ScopeVolts"/>(c, k). Unknown commands go to the error queue as real instruments do;
/// <c>SIM:DROP</c> closes the connection, <c>SIM:INJ BADH|SHORT|OVER|GARB</c> makes the next data answer malformed.
/// </summary>
public sealed class ScpiSimulator(ScpiSimulatorOptions? options = null) : IAsyncDisposable
{
    private readonly ScpiSimulatorOptions _options = options ?? new ScpiSimulatorOptions();
    private readonly ConcurrentDictionary<Socket, byte> _clients = new();
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task _accept = Task.CompletedTask;
    private long _commands;
    private long _readings;
    private long _blocks;
    private int _inject;

    /// <summary>The port listened on (after <see cref="Start"/>).</summary>
    public int Port { get; private set; }

    /// <summary>Commands handled over all connections (a test waits on it instead of sleeping).</summary>
    public long CommandsHandled => Interlocked.Read(ref _commands);

    /// <summary>DMM readings sent over all connections.</summary>
    public long ReadingsServed => Interlocked.Read(ref _readings);

    /// <summary>Scope blocks (<c>:WAV:DATA?</c> answers) sent over all connections.</summary>
    public long BlocksServed => Interlocked.Read(ref _blocks);

    /// <summary>Connections open now.</summary>
    public int OpenConnections => _clients.Count;

    /// <summary>DMM voltage reading k: a 5 V sine over 100 readings, rounded to µV.</summary>
    public static double DmmVoltage(long index) => Math.Round(5 * Math.Sin(2 * Math.PI * (index % 100) / 100), 6);

    /// <summary>DMM current reading k: a 0–49 mA sawtooth.</summary>
    public static double DmmCurrent(long index) => (index % 50) / 1000.0;

    /// <summary>Scope point k of channel c (0-based): a 1 V sine over 64 points, phase c·45°, rounded to 10 µV.</summary>
    public static double ScopeVolts(int channel, long index) => Math.Round(Math.Sin((2 * Math.PI * (index % 64) / 64) + (channel * Math.PI / 4)), 5);

    /// <summary>The raw code a client decodes from point k of channel c in <paramref name="format"/>.</summary>
    public static double ScopeRaw(ScpiSimWaveFormat format, int channel, long index)
    {
        var v = ScopeVolts(channel, index);
        return format switch
        {
            ScpiSimWaveFormat.Byte => Math.Round(v * 100),
            ScpiSimWaveFormat.UnsignedByte => 128 + Math.Round(v * 100),
            ScpiSimWaveFormat.Word => Math.Round(v * 10_000),
            ScpiSimWaveFormat.FloatingPoint => (float)v,
            _ => v,
        };
    }

    /// <summary>Starts listening.</summary>
    public void Start()
    {
        var listener = new Socket(_options.BindAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(_options.BindAddress, _options.Port));
        listener.Listen(64);
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _accept = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Makes the next data answer (on any connection) malformed.</summary>
    public void InjectNext(ScpiSimFault fault) => Volatile.Write(ref _inject, (int)fault);

    /// <summary>Closes every open connection at once, as a power cut or a pulled cable would.</summary>
    public void DropAll()
    {
        foreach (var client in _clients.Keys)
        {
            Close(client);
        }
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener?.Dispose();
        DropAll();
        try
        {
            await _accept;
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener!.AcceptAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            client.NoDelay = true;
            _clients[client] = 0;
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private void Close(Socket client)
    {
        if (_clients.TryRemove(client, out _))
        {
            try
            {
                client.Shutdown(SocketShutdown.Both);
            }
            catch (SocketException)
            {
                // Already gone.
            }
            catch (ObjectDisposedException)
            {
                // Already gone.
            }
            client.Dispose();
        }
    }

    private async Task ServeAsync(Socket client)
    {
        var state = new Session();
        var buffer = new byte[64 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                var n = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    return;
                }
                filled += n;
                int newline;
                while ((newline = buffer.AsSpan(0, filled).IndexOf((byte)'\n')) >= 0)
                {
                    var line = Encoding.ASCII.GetString(buffer, 0, newline).Trim();
                    buffer.AsSpan(newline + 1, filled - newline - 1).CopyTo(buffer);
                    filled -= newline + 1;
                    if (line.Length > 0 && !await HandleLineAsync(client, state, line))
                    {
                        return;
                    }
                }
                if (filled == buffer.Length)
                {
                    // A line longer than any command: like an input buffer overflow, dropped with an error.
                    state.Errors.Enqueue("-363,\"Input buffer overrun\"");
                    filled = 0;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
        {
            // The client left or the simulator stops.
        }
        finally
        {
            Close(client);
        }
    }

    /// <summary>Handles one line of ';'-separated commands; false when the connection must close.</summary>
    private async Task<bool> HandleLineAsync(Socket client, Session state, string line)
    {
        var answer = new MemoryStream();
        var textAnswers = 0;
        foreach (var raw in line.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            Interlocked.Increment(ref _commands);
            state.Commands++;
            if (_options.DropAfterCommands > 0 && state.Commands >= _options.DropAfterCommands)
            {
                return false;
            }
            var (header, argument) = Parse(raw);
            if (header == "SIM:DROP")
            {
                return false;
            }
            var reply = await ExecuteAsync(state, header, argument);
            switch (reply)
            {
                case null:
                    break;
                case string text:
                    if (textAnswers++ > 0)
                    {
                        answer.WriteByte((byte)';');
                    }
                    answer.Write(Encoding.ASCII.GetBytes(text));
                    break;
                case byte[] bytes:
                    answer.Write(bytes);
                    break;
            }
        }
        if (answer.Length > 0)
        {
            var bytes = answer.ToArray();
            // A short block is followed by silence, so the client waits for the rest: no terminator.
            if (state.NoTerminator)
            {
                state.NoTerminator = false;
            }
            else
            {
                bytes = [.. bytes, (byte)'\n'];
            }
            var sent = 0;
            while (sent < bytes.Length)
            {
                sent += await client.SendAsync(bytes.AsMemory(sent), SocketFlags.None, _stop.Token);
            }
        }
        return true;
    }

    private static readonly Dictionary<string, string> LongForms = new(StringComparer.Ordinal)
    {
        ["MEASURE"] = "MEAS", ["VOLTAGE"] = "VOLT", ["CURRENT"] = "CURR", ["CONFIGURE"] = "CONF",
        ["SYSTEM"] = "SYST", ["ERROR"] = "ERR", ["SAMPLE"] = "SAMP", ["COUNT"] = "COUN",
        ["WAVEFORM"] = "WAV", ["FORMAT"] = "FORM", ["POINTS"] = "POIN", ["SOURCE"] = "SOUR",
        ["BYTEORDER"] = "BYT", ["XINCREMENT"] = "XINC", ["CHANNEL"] = "CHAN", ["NEXT"] = "NEXT",
    };

    /// <summary>Upper-cases, drops the leading colon, maps long mnemonics to short ones.</summary>
    private static (string Header, string Argument) Parse(string command)
    {
        var space = command.IndexOfAny([' ', '\t']);
        var header = (space < 0 ? command : command[..space]).TrimStart(':').ToUpperInvariant();
        var argument = space < 0 ? "" : command[(space + 1)..].Trim().ToUpperInvariant();
        var parts = header.Split(':');
        for (var i = 0; i < parts.Length; i++)
        {
            var query = parts[i].EndsWith('?');
            var word = query ? parts[i][..^1] : parts[i];
            if (LongForms.TryGetValue(word, out var shortForm))
            {
                word = shortForm;
            }
            parts[i] = query ? word + "?" : word;
        }
        return (string.Join(':', parts), argument);
    }

    private async Task<object?> ExecuteAsync(Session state, string header, string argument)
    {
        switch (header)
        {
            case "*IDN?":
                return _options.Identity;
            case "*RST":
                state.Reset();
                return null;
            case "*CLS":
                state.Errors.Clear();
                return null;
            case "*OPC?":
                return "1";
            case "SYST:ERR?" or "SYST:ERR:NEXT?":
                return state.Errors.TryDequeue(out var error) ? error : "+0,\"No error\"";
            case "CONF:VOLT:DC" or "CONF:VOLT":
                state.Function = "VOLT";
                return null;
            case "CONF:CURR:DC" or "CONF:CURR":
                state.Function = "CURR";
                return null;
            case "MEAS:VOLT:DC?" or "MEAS:VOLT?":
                state.Function = "VOLT";
                return await ReadingsAsync(state, 1);
            case "MEAS:CURR:DC?" or "MEAS:CURR?":
                state.Function = "CURR";
                return await ReadingsAsync(state, 1);
            case "READ?":
                return await ReadingsAsync(state, state.SampleCount);
            case "SAMP:COUN":
                if (int.TryParse(argument, NumberStyles.Integer, CultureInfo.InvariantCulture, out var samples) && samples is >= 1 and <= 1_000_000)
                {
                    state.SampleCount = samples;
                }
                else
                {
                    state.Errors.Enqueue("-222,\"Data out of range\"");
                }
                return null;
            case "SAMP:COUN?":
                return state.SampleCount.ToString(CultureInfo.InvariantCulture);
            case "WAV:SOUR":
                if (argument.StartsWith("CHAN", StringComparison.Ordinal) && int.TryParse(argument.AsSpan(argument.StartsWith("CHANNEL", StringComparison.Ordinal) ? 7 : 4), CultureInfo.InvariantCulture, out var ch) && ch is >= 1 and <= 4)
                {
                    state.Source = ch - 1;
                }
                else
                {
                    state.Errors.Enqueue("-224,\"Illegal parameter value\"");
                }
                return null;
            case "WAV:FORM":
                ScpiSimWaveFormat? format = argument switch
                {
                    "BYTE" => ScpiSimWaveFormat.Byte,
                    "UBYT" or "UBYTE" => ScpiSimWaveFormat.UnsignedByte,
                    "WORD" => ScpiSimWaveFormat.Word,
                    "FLO" or "FLOAT" => ScpiSimWaveFormat.FloatingPoint,
                    "ASC" or "ASCII" => ScpiSimWaveFormat.Ascii,
                    _ => null,
                };
                if (format is { } f)
                {
                    state.Format = f;
                }
                else
                {
                    state.Errors.Enqueue("-224,\"Illegal parameter value\"");
                }
                return null;
            case "WAV:BYT":
                if (argument is "LSBF" or "MSBF")
                {
                    state.BigEndian = argument == "MSBF";
                }
                else
                {
                    state.Errors.Enqueue("-224,\"Illegal parameter value\"");
                }
                return null;
            case "WAV:POIN":
                if (int.TryParse(argument, NumberStyles.Integer, CultureInfo.InvariantCulture, out var points) && points is >= 1 and <= 10_000_000)
                {
                    state.Points = points;
                }
                else
                {
                    state.Errors.Enqueue("-224,\"Illegal parameter value\"");
                }
                return null;
            case "WAV:POIN?":
                return state.Points.ToString(CultureInfo.InvariantCulture);
            case "WAV:XINC?":
                return _options.ScopeSampleInterval.ToString("E6", CultureInfo.InvariantCulture);
            case "WAV:DATA?":
                return WaveData(state);
            case "SIM:INJ":
                ScpiSimFault? fault = argument switch
                {
                    "BADH" => ScpiSimFault.BadHeader,
                    "SHORT" => ScpiSimFault.ShortBlock,
                    "OVER" => ScpiSimFault.OversizedBlock,
                    "GARB" => ScpiSimFault.GarbageReading,
                    _ => null,
                };
                if (fault is { } injected)
                {
                    InjectNext(injected);
                }
                else
                {
                    state.Errors.Enqueue("-224,\"Illegal parameter value\"");
                }
                return null;
            default:
                state.Errors.Enqueue("-113,\"Undefined header\"");
                return null;
        }
    }

    private ScpiSimFault TakeInjection() => (ScpiSimFault)Interlocked.Exchange(ref _inject, (int)ScpiSimFault.None);

    private async Task<string> ReadingsAsync(Session state, int count)
    {
        if (TakeInjection() is ScpiSimFault.GarbageReading or ScpiSimFault.BadHeader)
        {
            return "OVLD-NOT-A-NUMBER";
        }
        var sb = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            if (_options.MaxReadingsPerSecond > 0)
            {
                // Paced like an integrating DMM: a reading takes its time, whatever the client asks.
                var interval = TimeSpan.FromSeconds(1 / _options.MaxReadingsPerSecond);
                var now = Stopwatch.GetElapsedTime(state.Epoch);
                state.NextReading = state.NextReading < now ? now : state.NextReading;
                var wait = state.NextReading - now;
                state.NextReading += interval;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _stop.Token);
                }
            }
            var k = state.Function == "CURR" ? state.CurrentIndex++ : state.VoltageIndex++;
            var value = state.Function == "CURR" ? DmmCurrent(k) : DmmVoltage(k);
            if (i > 0)
            {
                sb.Append(',');
            }
            sb.Append(value.ToString("+0.000000000E+00;-0.000000000E+00", CultureInfo.InvariantCulture));
            var served = Interlocked.Increment(ref _readings);
            if (_options.ErrorEveryReadings > 0 && served % _options.ErrorEveryReadings == 0)
            {
                state.Errors.Enqueue("-230,\"Data corrupt or stale\"");
            }
        }
        return sb.ToString();
    }

    private object WaveData(Session state)
    {
        var fault = TakeInjection();
        switch (fault)
        {
            case ScpiSimFault.BadHeader or ScpiSimFault.GarbageReading:
                return "XY12garbage-instead-of-a-block";
            case ScpiSimFault.OversizedBlock:
                return Encoding.ASCII.GetBytes("#9500000000\x01\x02\x03\x04");
        }
        var channel = state.Source;
        var first = state.ScopeIndex[channel];
        var n = state.Points;
        state.ScopeIndex[channel] += n;
        Interlocked.Increment(ref _blocks);
        if (state.Format == ScpiSimWaveFormat.Ascii)
        {
            var sb = new StringBuilder(n * 9);
            for (var i = 0; i < n; i++)
            {
                if (i > 0)
                {
                    sb.Append(',');
                }
                sb.Append(ScopeVolts(channel, first + i).ToString("R", CultureInfo.InvariantCulture));
            }
            return sb.ToString();
        }
        var size = state.Format switch
        {
            ScpiSimWaveFormat.Byte or ScpiSimWaveFormat.UnsignedByte => 1,
            ScpiSimWaveFormat.Word => 2,
            _ => 4,
        };
        var payload = new byte[n * size];
        for (var i = 0; i < n; i++)
        {
            var raw = ScopeRaw(state.Format, channel, first + i);
            var span = payload.AsSpan(i * size);
            switch (state.Format)
            {
                case ScpiSimWaveFormat.Byte:
                    span[0] = unchecked((byte)(sbyte)raw);
                    break;
                case ScpiSimWaveFormat.UnsignedByte:
                    span[0] = (byte)raw;
                    break;
                case ScpiSimWaveFormat.Word when state.BigEndian:
                    BinaryPrimitives.WriteInt16BigEndian(span, (short)raw);
                    break;
                case ScpiSimWaveFormat.Word:
                    BinaryPrimitives.WriteInt16LittleEndian(span, (short)raw);
                    break;
                case ScpiSimWaveFormat.FloatingPoint when state.BigEndian:
                    BinaryPrimitives.WriteSingleBigEndian(span, (float)raw);
                    break;
                default:
                    BinaryPrimitives.WriteSingleLittleEndian(span, (float)raw);
                    break;
            }
        }
        var length = payload.Length.ToString(CultureInfo.InvariantCulture);
        var header = Encoding.ASCII.GetBytes($"#{length.Length}{length}");
        if (fault == ScpiSimFault.ShortBlock)
        {
            // Announces the whole block, sends half of it and falls silent.
            state.NoTerminator = true;
            return (byte[])[.. header, .. payload.AsSpan(0, payload.Length / 2)];
        }
        return (byte[])[.. header, .. payload];
    }

    /// <summary>Per-connection instrument state (each connection is its own instrument, like separate front panels).</summary>
    private sealed class Session
    {
        public long Commands;
        public ConcurrentQueue<string> Errors { get; } = new();
        public string Function { get; set; } = "VOLT";
        public int SampleCount { get; set; } = 1;
        public long VoltageIndex { get; set; }
        public long CurrentIndex { get; set; }
        public int Source { get; set; }
        public ScpiSimWaveFormat Format { get; set; } = ScpiSimWaveFormat.Byte;
        public bool BigEndian { get; set; }
        public int Points { get; set; } = 1000;
        public long[] ScopeIndex { get; } = new long[4];
        public bool NoTerminator { get; set; }
        public long Epoch { get; } = Stopwatch.GetTimestamp();
        public TimeSpan NextReading { get; set; }

        public void Reset()
        {
            Function = "VOLT";
            SampleCount = 1;
            Source = 0;
            Format = ScpiSimWaveFormat.Byte;
            BigEndian = false;
            Points = 1000;
        }
    }
}
