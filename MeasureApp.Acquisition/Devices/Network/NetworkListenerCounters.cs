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
    private long _authFailures;
    private long _authThrottled;

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

    /// <summary>HELLOs and UDP datagrams whose token was unknown, revoked or of a locked-out user.</summary>
    public long AuthenticationFailures => Interlocked.Read(ref _authFailures);

    /// <summary>Authentication attempts delayed (TCP) or dropped unchecked (UDP) because their address kept failing.</summary>
    public long AuthenticationsThrottled => Interlocked.Read(ref _authThrottled);

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

    internal void AuthFailed() => Interlocked.Increment(ref _authFailures);

    internal void AuthThrottled() => Interlocked.Increment(ref _authThrottled);

    internal void Fault(string kind) => Interlocked.Increment(ref _faults.GetOrAdd(kind, _ => new StrongBox()).Value);

    private sealed class StrongBox
    {
        public long Value;
    }
}

/// <summary>
/// Logs each fault kind once per burst with the burst's true count: a burst ends after a quiet second
/// (or, for a steady trickle, after the window), and a kind gets at most one line per window. So a
/// flood of bad frames costs one line per ten seconds, and the counts of all lines add up to every
/// fault seen. <see cref="Flush"/> runs on the listener's one-second sweep and when it stops.
/// </summary>
internal sealed class BurstLog(ILogger logger, TimeProvider time, string deviceId)
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Pending> _kinds = new(StringComparer.Ordinal);

    public void Report(string kind, string message)
    {
        lock (_gate)
        {
            if (!_kinds.TryGetValue(kind, out var p))
            {
                _kinds[kind] = p = new Pending();
            }
            var now = time.GetTimestamp();
            if (p.Count == 0)
            {
                p.First = now;
            }
            p.Count++;
            p.Last = now;
            p.Message = message;
        }
    }

    /// <summary>Writes the bursts that are over (or all pending ones when <paramref name="all"/>).</summary>
    public void Flush(bool all = false)
    {
        List<(string Kind, long Count, TimeSpan Span, string Message)>? lines = null;
        lock (_gate)
        {
            foreach (var (kind, p) in _kinds)
            {
                if (p.Count == 0)
                {
                    continue;
                }
                var windowFree = p.LastLog == 0 || time.GetElapsedTime(p.LastLog) >= Window;
                var burstOver = time.GetElapsedTime(p.Last) >= Quiet || time.GetElapsedTime(p.First) >= Window;
                if (all || (windowFree && burstOver))
                {
                    (lines ??= []).Add((kind, p.Count, time.GetElapsedTime(p.First, p.Last), p.Message));
                    p.Count = 0;
                    p.LastLog = Math.Max(1, time.GetTimestamp());
                }
            }
        }
        foreach (var (kind, count, span, message) in lines ?? [])
        {
            logger.LogWarning("Network device {Device}: {Kind} × {Count} within {Seconds:0.###} s; latest: {Message}",
                deviceId, kind, count, span.TotalSeconds, message);
        }
    }

    private sealed class Pending
    {
        public long Count;
        public long First;
        public long Last;
        public long LastLog;
        public string Message = "";
    }
}

/// <summary>
/// Slows down addresses that keep presenting bad tokens: after a few failures each further attempt
/// from the address must wait (TCP) or is dropped unchecked (UDP) until a delay that doubles per
/// failure, up to a cap, has passed. The store is then asked at most a few times a second per
/// address, however fast a peer guesses. An address is forgiven after a minute without failures.
/// </summary>
internal sealed class AuthThrottle(TimeProvider time)
{
    private const int FreeFailures = 3;
    private const int MaxAddresses = 10_000;
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(8);
    private static readonly TimeSpan ForgetAfter = TimeSpan.FromMinutes(1);
    private readonly Lock _gate = new();
    private readonly Dictionary<System.Net.IPAddress, (int Failures, long LastFailure)> _addresses = [];

    /// <summary>How long an attempt from <paramref name="address"/> has to wait now (zero: go ahead).</summary>
    public TimeSpan WaitFor(System.Net.IPAddress address)
    {
        lock (_gate)
        {
            if (!_addresses.TryGetValue(address, out var a))
            {
                return TimeSpan.Zero;
            }
            var since = time.GetElapsedTime(a.LastFailure);
            if (since >= ForgetAfter)
            {
                _addresses.Remove(address);
                return TimeSpan.Zero;
            }
            var left = DelayAfter(a.Failures) - since;
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Records a bad token from <paramref name="address"/>.</summary>
    public void Failed(System.Net.IPAddress address)
    {
        lock (_gate)
        {
            if (_addresses.Count >= MaxAddresses && !_addresses.ContainsKey(address))
            {
                // Bounded memory under a spoofed-source UDP flood: forget everyone rather than grow.
                _addresses.Clear();
            }
            _addresses.TryGetValue(address, out var a);
            _addresses[address] = (a.Failures + 1, time.GetTimestamp());
        }
    }

    private static TimeSpan DelayAfter(int failures) => failures < FreeFailures
        ? TimeSpan.Zero
        : TimeSpan.FromTicks(Math.Min(MaxDelay.Ticks, FirstDelay.Ticks << Math.Min(failures - FreeFailures, 16)));
}

/// <summary>
/// Remembers what <see cref="ICollectorTokens"/> said about a token for a while (a valid one for the
/// device's token re-check interval, so a revocation is seen within it), so UDP datagrams
/// (each carrying the token) and TCP re-checks do not query the store per frame. Keys are SHA-256
/// hashes, so the cache neither keeps raw secrets nor compares them in variable time. Unknown tokens
/// are remembered briefly too, so a flood of one bad token does not hammer the store.
/// </summary>
internal sealed class TokenCache(ICollectorTokens tokens, TimeProvider time, TimeSpan knownFor)
{
    private const int MaxEntries = 4096;
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
        var ttl = userId is null ? UnknownFor : knownFor;
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
