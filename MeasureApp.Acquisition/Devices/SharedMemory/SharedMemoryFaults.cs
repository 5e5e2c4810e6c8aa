using System.Collections.Frozen;

namespace MeasureApp.Acquisition.Devices.SharedMemory;

/// <summary>
/// The fault kinds the SharedMemory driver reports through <see cref="IBlockSink.Fault"/>
/// (docs/shared-memory.md says what the consumer does in each case).
/// </summary>
public static class SharedMemoryFaults
{
    /// <summary>The file does not exist or cannot be opened.</summary>
    public const string Missing = "missing";
    /// <summary>Wrong magic or version, impossible sizes/offsets, or a header still being initialised.</summary>
    public const string Header = "header";
    /// <summary>The file is shorter than its header says.</summary>
    public const string Truncated = "truncated";
    /// <summary>The producer restarted (generation changed) or the file was replaced.</summary>
    public const string Restart = "restart";
    /// <summary>The producer heartbeat stopped changing.</summary>
    public const string Stalled = "stalled";
    /// <summary>Records were lost: dropped by the producer on a full ring, or the write index ran a lap ahead.</summary>
    public const string Overrun = "overrun";
    /// <summary>The write index went backwards.</summary>
    public const string Index = "index";
    /// <summary>A slot did not hold the expected record, or changed while it was read.</summary>
    public const string Sequence = "sequence";
    /// <summary>CRC-32C mismatch.</summary>
    public const string Checksum = "checksum";
    /// <summary>Channel count impossible or different from the measurement's.</summary>
    public const string Channels = "channels";
    /// <summary>NaN/±Inf values, replaced by the channel's last finite value.</summary>
    public const string NonFinite = "non-finite";
    /// <summary>The sample counter jumped forward: samples are missing.</summary>
    public const string Gap = "gap";
    /// <summary>The sample counter repeated or went back: the record was dropped.</summary>
    public const string Duplicate = "duplicate";
    /// <summary>A record with this measurement's id carried another user's tag.</summary>
    public const string User = "user";
    /// <summary>Records of other measurements were ignored (reported at most once a second, counted exactly).</summary>
    public const string Foreign = "foreign";
    /// <summary>The command ring is full or its read index is inconsistent.</summary>
    public const string Command = "command";
    /// <summary>An unexpected error in the driver; it detached and carries on.</summary>
    public const string Internal = "internal";

    internal static readonly string[] All =
        [Missing, Header, Truncated, Restart, Stalled, Overrun, Index, Sequence, Checksum, Channels, NonFinite, Gap, Duplicate, User, Foreign, Command, Internal];
}

/// <summary>Index of a fault kind in <see cref="SharedMemoryFaults.All"/>; keeps counting allocation-free.</summary>
internal enum FaultKind
{
    Missing,
    Header,
    Truncated,
    Restart,
    Stalled,
    Overrun,
    Index,
    Sequence,
    Checksum,
    Channels,
    NonFinite,
    Gap,
    Duplicate,
    User,
    Foreign,
    Command,
    Internal,
}

/// <summary>What one ring reader saw since it started (exact counts; the sinks get deduplicated reports).</summary>
/// <param name="Records">Records delivered into blocks.</param>
/// <param name="Blocks">Blocks published.</param>
/// <param name="LostRecords">Records lost to overruns (dropped by the producer or skipped on a lap).</param>
/// <param name="MissingSamples">Samples missing from a measurement's stream (sample-counter gaps, whatever the cause).</param>
/// <param name="CommandsWritten">Commands written to the command ring.</param>
/// <param name="Faults">Count per fault kind of <see cref="SharedMemoryFaults"/> (for <c>foreign</c>: records).</param>
public sealed record SharedMemoryStatistics(long Records, long Blocks, long LostRecords, long MissingSamples, long CommandsWritten, IReadOnlyDictionary<string, long> Faults)
{
    /// <summary>The count of one fault kind (0 when none).</summary>
    public long this[string kind] => Faults.TryGetValue(kind, out var n) ? n : 0;
}

/// <summary>Counters written by the reader thread and read by anyone.</summary>
internal sealed class SharedMemoryCounters
{
    private readonly long[] _faults = new long[SharedMemoryFaults.All.Length];
    private long _records;
    private long _blocks;
    private long _lost;
    private long _missing;
    private long _commands;

    public void Fault(FaultKind kind, long count = 1) => Interlocked.Add(ref _faults[(int)kind], count);

    public void Records(long count) => Interlocked.Add(ref _records, count);

    public void Block() => Interlocked.Increment(ref _blocks);

    public void Lost(long count) => Interlocked.Add(ref _lost, count);

    public void Missing(long count) => Interlocked.Add(ref _missing, count);

    public void Command() => Interlocked.Increment(ref _commands);

    public SharedMemoryStatistics Snapshot()
    {
        var faults = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < _faults.Length; i++)
        {
            faults[SharedMemoryFaults.All[i]] = Interlocked.Read(ref _faults[i]);
        }
        return new SharedMemoryStatistics(Interlocked.Read(ref _records), Interlocked.Read(ref _blocks), Interlocked.Read(ref _lost), Interlocked.Read(ref _missing),
            Interlocked.Read(ref _commands), faults.ToFrozenDictionary(StringComparer.Ordinal));
    }
}
