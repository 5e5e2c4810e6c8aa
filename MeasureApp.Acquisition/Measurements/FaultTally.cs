using System.Collections.Frozen;

namespace MeasureApp.Acquisition.Measurements;

/// <summary>
/// Exact fault counts by kind (any string a driver reports through <c>IBlockSink.Fault</c>) plus the
/// bursts they come in: a burst starts with the first fault of a kind and ends once that kind stayed
/// quiet for <see cref="QuietToEndBurst"/> (or ran for <see cref="MaxBurst"/>), so a log line per burst
/// can carry the burst's true count. Thread-safe; a lock per report is cheap next to a bad record.
/// </summary>
public sealed class FaultTally
{
    /// <summary>A kind that saw no fault for this long ends its burst.</summary>
    public static readonly TimeSpan QuietToEndBurst = TimeSpan.FromSeconds(1);

    /// <summary>A burst that never goes quiet is still logged this often.</summary>
    public static readonly TimeSpan MaxBurst = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _kinds = new(StringComparer.Ordinal);
    private IReadOnlyDictionary<string, long>? _snapshot = FrozenDictionary<string, long>.Empty;
    private long _bursts;

    /// <summary>Bursts started so far (over all kinds); a change means "a new burst began".</summary>
    public long Bursts => Interlocked.Read(ref _bursts);

    /// <summary>Counts <paramref name="count"/> faults of <paramref name="kind"/>; true when this starts a burst.</summary>
    /// <param name="kind">Fault kind.</param>
    /// <param name="count">How many (records lost, samples missing, frames refused …), at least 1.</param>
    /// <param name="message">The driver's description (the last one of a burst is logged).</param>
    /// <param name="now">Timestamp of the <see cref="TimeProvider"/> the bursts are timed with.</param>
    /// <param name="logged">False for faults already logged elsewhere (a device-wide fault, logged by the device).</param>
    public bool Add(string kind, long count, string message, long now, bool logged = true)
    {
        ArgumentNullException.ThrowIfNull(kind);
        count = Math.Max(1, count);
        lock (_gate)
        {
            _snapshot = null;
            if (!_kinds.TryGetValue(kind, out var e))
            {
                e = new Entry();
                _kinds[kind] = e;
            }
            e.Total += count;
            e.LastAt = now;
            e.LastMessage = message;
            e.Logged |= logged;
            if (e.InBurst == 0)
            {
                e.InBurst = count;
                e.BurstStart = now;
                Interlocked.Increment(ref _bursts);
                return true;
            }
            e.InBurst += count;
            return false;
        }
    }

    /// <summary>Counts by kind (only kinds that occurred).</summary>
    public IReadOnlyDictionary<string, long> Snapshot()
    {
        lock (_gate)
        {
            return _snapshot ??= _kinds.ToFrozenDictionary(k => k.Key, k => k.Value.Total, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Ends the bursts that went quiet (or ran too long; all of them when <paramref name="all"/>) and
    /// returns those to log, each with its true count.
    /// </summary>
    public IReadOnlyList<FaultBurst> EndBursts(long now, TimeProvider time, bool all = false)
    {
        ArgumentNullException.ThrowIfNull(time);
        List<FaultBurst>? ended = null;
        lock (_gate)
        {
            foreach (var (kind, e) in _kinds)
            {
                if (e.InBurst == 0)
                {
                    continue;
                }
                if (all || time.GetElapsedTime(e.LastAt, now) >= QuietToEndBurst || time.GetElapsedTime(e.BurstStart, now) >= MaxBurst)
                {
                    if (e.Logged)
                    {
                        (ended ??= []).Add(new FaultBurst(kind, e.InBurst, e.Total, time.GetElapsedTime(e.BurstStart, e.LastAt), e.LastMessage));
                    }
                    e.InBurst = 0;
                    e.Logged = false;
                }
            }
        }
        return ended ?? (IReadOnlyList<FaultBurst>)[];
    }

    private sealed class Entry
    {
        public long Total;
        public long InBurst;
        public long BurstStart;
        public long LastAt;
        public bool Logged;
        public string LastMessage = "";
    }
}

/// <summary>One burst of faults of one kind, for the log.</summary>
/// <param name="Kind">Fault kind.</param>
/// <param name="Count">Faults in this burst.</param>
/// <param name="Total">Faults of this kind so far.</param>
/// <param name="Span">From the burst's first fault to its last.</param>
/// <param name="LastMessage">The driver's description of the last fault.</param>
public sealed record FaultBurst(string Kind, long Count, long Total, TimeSpan Span, string LastMessage);
