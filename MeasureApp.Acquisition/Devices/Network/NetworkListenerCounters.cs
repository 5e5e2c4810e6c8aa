using System.Collections.Concurrent;
using System.Security.Cryptography;
using MeasureApp.Acquisition.Coordination;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// What a collector listener has seen since it started, for the monitor page, metrics and tests.
/// Faults are counted here whether or not a measurement could be blamed for them, so bad input from
/// unauthenticated peers is visible too.
/// </summary>
public sealed class NetworkListenerCounters
{
    private readonly ConcurrentDictionary<string, StrongBox> _faults = new(StringComparer.Ordinal);
    private long _accepted;
    private long _active;
    private long _frames;
    private long _blocks;
    private long _datagrams;
    private long _bytes;

    /// <summary>TCP connections accepted (not counting ones refused at the connection limit).</summary>
    public long ConnectionsAccepted => Interlocked.Read(ref _accepted);

    /// <summary>TCP connections open now.</summary>
    public long ActiveConnections => Interlocked.Read(ref _active);

    /// <summary>Valid frames received over TCP and UDP.</summary>
    public long FramesReceived => Interlocked.Read(ref _frames);

    /// <summary>UDP datagrams received, valid or not.</summary>
    public long DatagramsReceived => Interlocked.Read(ref _datagrams);

    /// <summary>Bytes received over TCP.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytes);

    /// <summary>Blocks handed to measurements.</summary>
    public long BlocksDelivered => Interlocked.Read(ref _blocks);

    /// <summary>All faults of every kind.</summary>
    public long Faults => _faults.Values.Sum(b => Interlocked.Read(ref b.Value));

    /// <summary>Faults of one kind (see <see cref="NetworkFaultKinds"/>).</summary>
    public long FaultsOf(string kind) => _faults.TryGetValue(kind, out var b) ? Interlocked.Read(ref b.Value) : 0;

    /// <summary>A copy of the fault counts by kind.</summary>
    public IReadOnlyDictionary<string, long> FaultsByKind() =>
        _faults.ToDictionary(p => p.Key, p => Interlocked.Read(ref p.Value.Value), StringComparer.Ordinal);

    internal void Accepted()
    {
        Interlocked.Increment(ref _accepted);
        Interlocked.Increment(ref _active);
    }

    internal void Closed() => Interlocked.Decrement(ref _active);

    internal void Frame() => Interlocked.Increment(ref _frames);

    internal void Received(int bytes) => Interlocked.Add(ref _bytes, bytes);

    internal void Datagram() => Interlocked.Increment(ref _datagrams);

    internal void Block() => Interlocked.Increment(ref _blocks);

    internal void Fault(string kind) => Interlocked.Increment(ref _faults.GetOrAdd(kind, _ => new StrongBox()).Value);

    private sealed class StrongBox
    {
        public long Value;
    }
}

/// <summary>
/// Logs a fault kind at most once per window with the number seen since the last line, so a
/// flood of bad frames costs one log line per ten seconds, not one per frame.
/// </summary>
internal sealed class BurstLog(ILogger logger, TimeProvider time, string deviceId)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (long Count, long LastLog)> _kinds = new(StringComparer.Ordinal);

    public void Report(string kind, string message)
    {
        long count;
        lock (_gate)
        {
            _kinds.TryGetValue(kind, out var e);
            e.Count++;
            if (e.LastLog != 0 && time.GetElapsedTime(e.LastLog) < Window)
            {
                _kinds[kind] = e;
                return;
            }
            count = e.Count;
            _kinds[kind] = (0, Math.Max(1, time.GetTimestamp()));
        }
        logger.LogWarning("Network device {Device}: {Kind} × {Count} since the last report; latest: {Message}", deviceId, kind, count, message);
    }
}

/// <summary>
/// Remembers what <see cref="ICollectorTokens"/> said about a token for a while, so UDP datagrams
/// (each carrying the token) and TCP re-checks do not query the store per frame. Keys are SHA-256
/// hashes, so the cache neither keeps raw secrets nor compares them in variable time. Unknown tokens
/// are remembered briefly too, so a flood of one bad token does not hammer the store.
/// </summary>
internal sealed class TokenCache(ICollectorTokens tokens, TimeProvider time)
{
    private const int MaxEntries = 4096;
    private static readonly TimeSpan KnownFor = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan UnknownFor = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<Key, Entry> _entries = new();

    /// <summary>True when the cache answers: <paramref name="userId"/> is the user, or null for a token known to be invalid.</summary>
    public bool TryGet(ReadOnlySpan<byte> token, out string? userId)
    {
        userId = null;
        if (token.Length != FrameFormat.TokenLength)
        {
            return true;
        }
        if (_entries.TryGetValue(Key.Of(token), out var e) && time.GetTimestamp() < e.ExpiresAt)
        {
            userId = e.UserId;
            return true;
        }
        return false;
    }

    /// <summary>Asks the store (exceptions pass to the caller and are not cached).</summary>
    public async ValueTask<string?> ResolveAsync(byte[] token, CancellationToken cancellationToken)
    {
        var userId = await tokens.ResolveAsync(token, cancellationToken).ConfigureAwait(false);
        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }
        var ttl = userId is null ? UnknownFor : KnownFor;
        _entries[Key.Of(token)] = new Entry(userId, time.GetTimestamp() + (long)(ttl.TotalSeconds * time.TimestampFrequency));
        return userId;
    }

    private readonly record struct Entry(string? UserId, long ExpiresAt);

    private readonly record struct Key(ulong A, ulong B, ulong C, ulong D)
    {
        public static Key Of(ReadOnlySpan<byte> token)
        {
            Span<byte> h = stackalloc byte[32];
            SHA256.HashData(token, h);
            var w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(h);
            return new Key(w[0], w[1], w[2], w[3]);
        }
    }
}
