using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace MeasureApp.Acquisition.Devices.Scpi;

/// <summary>The instrument closed the socket or stopped answering: the run cannot go on.</summary>
internal sealed class ScpiConnectionLostException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>An answer that is not what the protocol allows (bad block header, short or oversized block).</summary>
internal sealed class ScpiMalformedException(string message) : Exception(message);

/// <summary>
/// One raw SCPI socket: newline-terminated commands out; lines or IEEE 488.2 definite-length blocks
/// (<c>#&lt;n&gt;&lt;len&gt;&lt;bytes&gt;</c>) in. Every wait is bounded by the device's timeout in real time
/// (an instrument's silence is wall-clock silence, whatever clock paces the measurement).
/// </summary>
internal sealed class ScpiConnection : IAsyncDisposable
{
    private const int BufferSize = 64 * 1024;
    private readonly Socket _socket;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _stop;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;
    private int _end;
    private CancellationTokenSource _op;

    private ScpiConnection(Socket socket, string endpoint, TimeSpan timeout, CancellationToken stop)
    {
        _socket = socket;
        Endpoint = endpoint;
        _timeout = timeout;
        _stop = stop;
        _op = CancellationTokenSource.CreateLinkedTokenSource(stop);
    }

    /// <summary>host:port, for messages.</summary>
    public string Endpoint { get; }

    /// <summary>Connects within <paramref name="timeout"/>; connection errors become <see cref="ScpiConnectionLostException"/>.</summary>
    public static async Task<ScpiConnection> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken stop)
    {
        var endpoint = string.Create(CultureInfo.InvariantCulture, $"{host}:{port}");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(host, port, cts.Token);
            return new ScpiConnection(socket, endpoint, timeout, stop);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ArgumentException && !stop.IsCancellationRequested)
        {
            socket.Dispose();
            var why = ex is OperationCanceledException ? $"no answer within {timeout.TotalMilliseconds:0} ms" : ex.Message;
            throw new ScpiConnectionLostException($"could not connect to {endpoint}: {why}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one command line (the newline is added).</summary>
    public async ValueTask SendAsync(string command)
    {
        var bytes = Encoding.ASCII.GetBytes(command + "\n");
        var token = Arm(_timeout);
        try
        {
            var sent = 0;
            while (sent < bytes.Length)
            {
                sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, token);
            }
        }
        catch (Exception ex) when (IsLost(ex))
        {
            throw Lost($"sending '{command}' failed", ex);
        }
    }

    /// <summary>Sends a query and reads its one-line answer (terminator removed).</summary>
    public async Task<string> QueryAsync(string query, int maxLength = 64 * 1024)
    {
        await SendAsync(query);
        return await ReadLineAsync(query, maxLength);
    }

    /// <summary>Reads one line; a line longer than <paramref name="maxLength"/> is malformed.</summary>
    public async Task<string> ReadLineAsync(string query, int maxLength)
    {
        await SkipTerminatorsAsync(query);
        var scanned = 0;
        while (true)
        {
            var newline = _buffer.AsSpan(_start + scanned, _end - _start - scanned).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                var length = scanned + newline;
                var line = Encoding.ASCII.GetString(_buffer, _start, length).TrimEnd('\r');
                _start += length + 1;
                return line;
            }
            scanned = _end - _start;
            if (scanned > maxLength)
            {
                throw new ScpiMalformedException($"the answer to '{query}' is longer than {maxLength} bytes without a line end");
            }
            await FillAsync(query, _end - _start + 1);
        }
    }

    /// <summary>
    /// Reads the answer to a block query: a definite-length block (its payload is returned) or, when
    /// the answer does not start with '#' and <paramref name="lineAllowed"/>, one line. The returned
    /// buffer is pooled: return it with <see cref="ArrayPool{T}.Shared"/>.
    /// </summary>
    public async Task<(byte[] Buffer, int Length, bool IsBlock)> ReadBlockAsync(string query, int maxBytes, bool lineAllowed)
    {
        await SkipTerminatorsAsync(query);
        if (_buffer[_start] != (byte)'#')
        {
            if (!lineAllowed)
            {
                throw new ScpiMalformedException($"the answer to '{query}' does not start with a block header ('#'), it starts with '{Printable(_buffer.AsSpan(_start, Math.Min(16, _end - _start)))}'");
            }
            var line = await ReadLineAsync(query, maxBytes);
            var bytes = ArrayPool<byte>.Shared.Rent(Math.Max(1, line.Length));
            var n = Encoding.ASCII.GetBytes(line, bytes);
            return (bytes, n, false);
        }
        await EnsureAsync(query, 2);
        var digits = _buffer[_start + 1] - '0';
        if (digits is < 1 or > 9)
        {
            throw new ScpiMalformedException($"the block header of the answer to '{query}' has '{Printable(_buffer.AsSpan(_start + 1, 1))}' where the digit count 1-9 belongs");
        }
        await EnsureAsync(query, 2 + digits);
        long length = 0;
        for (var i = 0; i < digits; i++)
        {
            var d = _buffer[_start + 2 + i] - '0';
            if (d is < 0 or > 9)
            {
                throw new ScpiMalformedException($"the block header of the answer to '{query}' has a non-digit in its length '{Printable(_buffer.AsSpan(_start + 2, digits))}'");
            }
            length = (length * 10) + d;
        }
        if (length > maxBytes)
        {
            throw new ScpiMalformedException(string.Create(CultureInfo.InvariantCulture, $"the answer to '{query}' announces a block of {length:N0} bytes, more than MaxBlockBytes ({maxBytes:N0})"));
        }
        _start += 2 + digits;
        var payload = ArrayPool<byte>.Shared.Rent((int)Math.Max(1, length));
        try
        {
            var copied = 0;
            while (copied < length)
            {
                if (_end == _start)
                {
                    try
                    {
                        await FillAsync(query, 1);
                    }
                    catch (ScpiConnectionLostException) when (copied > 0 && !_stop.IsCancellationRequested && _socket.Connected && _timedOut)
                    {
                        throw new ScpiMalformedException(string.Create(CultureInfo.InvariantCulture,
                            $"the answer to '{query}' announces {length:N0} bytes but only {copied:N0} arrived within {_timeout.TotalMilliseconds:0} ms"));
                    }
                }
                var take = (int)Math.Min(length - copied, _end - _start);
                _buffer.AsSpan(_start, take).CopyTo(payload.AsSpan(copied));
                _start += take;
                copied += take;
            }
            return (payload, (int)length, true);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(payload);
            throw;
        }
    }

    /// <summary>
    /// After a malformed answer: throws away whatever the instrument still sends until it has been
    /// quiet for <paramref name="quiet"/> (bounded by the timeout), so the next query starts in step.
    /// </summary>
    public async Task DrainAsync(TimeSpan quiet)
    {
        _start = _end = 0;
        var draining = System.Diagnostics.Stopwatch.StartNew();
        while (draining.Elapsed < _timeout)
        {
            var token = Arm(quiet);
            int n;
            try
            {
                n = await _socket.ReceiveAsync(_buffer.AsMemory(), SocketFlags.None, token);
            }
            catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (IsLost(ex))
            {
                throw Lost("reading failed", ex);
            }
            if (n == 0)
            {
                throw Lost("the instrument closed the connection", null);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already gone.
        }
        catch (ObjectDisposedException)
        {
            // Already gone.
        }
        _socket.Dispose();
        _op.Dispose();
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        await Task.CompletedTask;
    }

    private bool _timedOut;

    private CancellationToken Arm(TimeSpan timeout)
    {
        if (!_op.TryReset())
        {
            _op.Dispose();
            _op = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        }
        _op.CancelAfter(timeout);
        return _op.Token;
    }

    private async Task SkipTerminatorsAsync(string query)
    {
        while (true)
        {
            while (_start < _end && _buffer[_start] is (byte)'\n' or (byte)'\r')
            {
                _start++;
            }
            if (_start < _end)
            {
                return;
            }
            await FillAsync(query, 1);
        }
    }

    private async Task EnsureAsync(string query, int count)
    {
        while (_end - _start < count)
        {
            await FillAsync(query, count);
        }
    }

    /// <summary>Receives at least one more byte; makes room (compacting, then growing up to need) first.</summary>
    private async Task FillAsync(string query, int need)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        if (_end == _buffer.Length)
        {
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length || need > _buffer.Length)
            {
                var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, need));
                _buffer.AsSpan(0, _end).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }
        }
        var token = Arm(_timeout);
        int n;
        _timedOut = false;
        try
        {
            n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, token);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            _timedOut = true;
            throw Lost($"no answer to '{query}' within {_timeout.TotalMilliseconds:0} ms", null);
        }
        catch (Exception ex) when (IsLost(ex))
        {
            throw Lost($"reading the answer to '{query}' failed", ex);
        }
        if (n == 0)
        {
            throw Lost("the instrument closed the connection", null);
        }
        _end += n;
    }

    private static bool IsLost(Exception ex) => ex is SocketException or IOException or ObjectDisposedException;

    private static ScpiConnectionLostException Lost(string what, Exception? inner) =>
        new(inner is null ? what : $"{what}: {inner.Message}", inner);

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes)
        {
            sb.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
        }
        return sb.ToString();
    }
}
