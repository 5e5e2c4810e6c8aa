using System.Runtime.CompilerServices;
using L = MeasureApp.Acquisition.Devices.SharedMemory.SharedMemoryLayout;

namespace MeasureApp.Acquisition.Devices.SharedMemory;

/// <summary>Receives what <see cref="RingConsumer.Poll"/> finds.</summary>
internal interface IRingTarget
{
    /// <summary>A record copied out of its slot (not yet validated); <paramref name="expectedSequence"/> is its index + 1.</summary>
    void OnRecord(ReadOnlySpan<byte> record, ulong expectedSequence);

    /// <summary>The slot's sequence changed while it was copied.</summary>
    void OnTornRecord();

    /// <summary>Records were lost.</summary>
    void OnOverrun(ulong lostRecords, bool droppedByProducer);

    /// <summary>The write index went backwards without a generation change.</summary>
    void OnIndexWentBack();
}

/// <summary>What one poll did.</summary>
internal enum PollResult
{
    /// <summary>Nothing new.</summary>
    Idle,
    /// <summary>Records were read.</summary>
    Records,
    /// <summary>The read position was resynchronised (overrun or index jump).</summary>
    Resynchronised,
    /// <summary>Magic or generation changed: the producer restarted; detach and attach again.</summary>
    Restarted,
}

/// <summary>Outcome of writing a command.</summary>
internal enum CommandWrite
{
    Written,
    Full,
    Inconsistent,
}

/// <summary>
/// The consumer side of the rings over raw memory (a mapped view in production, a pinned array in
/// tests). Single consumer of the data ring and single producer of the command ring: one thread at
/// a time. Shared indices are read with acquire and written with release semantics; every size and
/// offset comes from a validated header, so no input can make it touch memory outside the mapping.
/// </summary>
internal sealed unsafe class RingConsumer
{
    private byte* _base;
    private RingGeometry _geometry;
    private ulong _read;
    private ulong _commandWrite;
    private ulong _overruns;

    public bool IsAttached => _base != null;

    public RingGeometry Geometry => _geometry;

    public ulong ReadIndex => _read;

    /// <summary>The producer's write index now (acquire).</summary>
    public ulong WriteIndex => Volatile.Read(ref U64(L.Header.WriteIndex));

    public ulong ProducerHeartbeat => Volatile.Read(ref U64(L.Header.ProducerHeartbeat));

    /// <summary>
    /// Validates the header in memory and takes up reading. Continuing the same generation resumes at
    /// the published read index; a new generation (or a first attach) starts at the write index,
    /// because older records cannot belong to a measurement whose start command is not sent yet.
    /// </summary>
    public HeaderStatus Attach(nint address, long length, ulong previousGeneration)
    {
        Detach();
        var memory = (byte*)address;
        if (length < L.HeaderSize)
        {
            return HeaderStatus.Truncated;
        }
        // Seqlock-style copy: the producer writes magic last on init and clears it first on re-init.
        var magic = Volatile.Read(ref Unsafe.AsRef<uint>(memory + L.Header.Magic));
        Span<byte> header = stackalloc byte[L.HeaderFieldsSize];
        new ReadOnlySpan<byte>(memory, L.HeaderFieldsSize).CopyTo(header);
        Interlocked.MemoryBarrier();
        var magicAfter = Volatile.Read(ref Unsafe.AsRef<uint>(memory + L.Header.Magic));
        var generationAfter = Volatile.Read(ref Unsafe.AsRef<ulong>(memory + L.Header.Generation));
        var status = L.ValidateHeader(header, length, out var geometry);
        if (status != HeaderStatus.Ok)
        {
            return status;
        }
        if (magic != magicAfter || generationAfter != geometry.Generation)
        {
            return HeaderStatus.NotReady;
        }
        _base = memory;
        _geometry = geometry;
        var write = Volatile.Read(ref U64(L.Header.WriteIndex));
        var read = Volatile.Read(ref U64(L.Header.ReadIndex));
        _read = geometry.Generation == previousGeneration && read <= write && write - read <= (ulong)geometry.Capacity ? read : write;
        Volatile.Write(ref U64(L.Header.ReadIndex), _read);

        // Continue the engine's own command index when it is consistent with what the producer read.
        var commandWrite = Volatile.Read(ref U64(L.Header.CommandWriteIndex));
        var commandRead = Volatile.Read(ref U64(L.Header.CommandReadIndex));
        _commandWrite = commandRead <= commandWrite && commandWrite - commandRead <= (ulong)geometry.CommandCapacity ? commandWrite : commandRead;
        Volatile.Write(ref U64(L.Header.CommandWriteIndex), _commandWrite);
        _overruns = Volatile.Read(ref U64(L.Header.Overruns));
        return HeaderStatus.Ok;
    }

    public void Detach()
    {
        _base = null;
        _geometry = default;
    }

    /// <summary>Reads at most <paramref name="maxRecords"/> records (bounded work per call whatever the indices say).</summary>
    public PollResult Poll(IRingTarget target, int maxRecords)
    {
        if (Volatile.Read(ref Unsafe.AsRef<uint>(_base + L.Header.Magic)) != L.Magic
            || Volatile.Read(ref U64(L.Header.Generation)) != _geometry.Generation
            || LayoutChanged())
        {
            return PollResult.Restarted;
        }
        var overruns = Volatile.Read(ref U64(L.Header.Overruns));
        if (overruns != _overruns)
        {
            if (overruns > _overruns)
            {
                target.OnOverrun(overruns - _overruns, droppedByProducer: true);
            }
            _overruns = overruns;
        }

        var write = Volatile.Read(ref U64(L.Header.WriteIndex));
        if (write == _read)
        {
            return PollResult.Idle;
        }
        // Resynchronise before reporting: whoever hears of it sees the read index already moved.
        if (write < _read)
        {
            Resynchronise(write);
            target.OnIndexWentBack();
            return PollResult.Resynchronised;
        }
        if (write - _read > (ulong)_geometry.Capacity)
        {
            // The producer ignored the read index (or the index is corrupt): the oldest slots are gone.
            var lost = write - _read;
            Resynchronise(write);
            target.OnOverrun(lost, droppedByProducer: false);
            return PollResult.Resynchronised;
        }

        var count = (int)Math.Min(write - _read, (ulong)maxRecords);
        var mask = (ulong)_geometry.Capacity - 1;
        var data = _base + _geometry.DataOffset;
        Span<byte> copy = stackalloc byte[L.RecordSize];
        for (var i = 0; i < count; i++)
        {
            var index = _read + (ulong)i;
            var slot = data + (long)(index & mask) * L.RecordSize;
            var before = Volatile.Read(ref Unsafe.AsRef<ulong>(slot));
            new ReadOnlySpan<byte>(slot, L.RecordSize).CopyTo(copy);
            // The copy must be complete before the sequence is read again (LoadLoad), hence a full fence.
            Interlocked.MemoryBarrier();
            var after = Volatile.Read(ref Unsafe.AsRef<ulong>(slot));
            if (before != after)
            {
                target.OnTornRecord();
            }
            else
            {
                target.OnRecord(copy, unchecked(index + 1));
            }
        }
        _read += (ulong)count;
        // Release: the producer may reuse the slots only after our reads of them are done.
        Volatile.Write(ref U64(L.Header.ReadIndex), _read);
        return PollResult.Records;
    }

    /// <summary>Writes one command; the producer sees it once the command write index is published.</summary>
    public CommandWrite TryWriteCommand(SharedMemoryCommandType type, Guid measurementId, ulong userTag, int channelCount, double sampleRate, long issuedAtNs)
    {
        var read = Volatile.Read(ref U64(L.Header.CommandReadIndex));
        if (read > _commandWrite || _commandWrite - read > (ulong)_geometry.CommandCapacity)
        {
            return CommandWrite.Inconsistent;
        }
        if (_commandWrite - read == (ulong)_geometry.CommandCapacity)
        {
            return CommandWrite.Full;
        }
        Span<byte> command = stackalloc byte[L.CommandSize];
        var sequence = _commandWrite + 1;
        L.WriteCommand(command, sequence, type, measurementId, userTag, channelCount, sampleRate, issuedAtNs);
        var slot = _base + _geometry.CommandOffset + (long)(_commandWrite & ((ulong)_geometry.CommandCapacity - 1)) * L.CommandSize;
        command[8..].CopyTo(new Span<byte>(slot + 8, L.CommandSize - 8));
        Volatile.Write(ref Unsafe.AsRef<ulong>(slot), sequence);
        _commandWrite = sequence;
        Volatile.Write(ref U64(L.Header.CommandWriteIndex), _commandWrite);
        return CommandWrite.Written;
    }

    /// <summary>Lets producers see that the engine is alive.</summary>
    public void WriteConsumerHeartbeat(long unixNs) => Volatile.Write(ref U64(L.Header.ConsumerHeartbeat), (ulong)unixNs);

    /// <summary>A header rewritten without a new generation is treated like a restart (cheap: four loads).</summary>
    private bool LayoutChanged() =>
        Unsafe.AsRef<uint>(_base + L.Header.Capacity) != (uint)_geometry.Capacity
        || U64(L.Header.DataOffset) != (ulong)_geometry.DataOffset
        || Unsafe.AsRef<uint>(_base + L.Header.CommandCapacity) != (uint)_geometry.CommandCapacity
        || U64(L.Header.CommandOffset) != (ulong)_geometry.CommandOffset;

    private void Resynchronise(ulong write)
    {
        _read = write;
        Volatile.Write(ref U64(L.Header.ReadIndex), _read);
    }

    private ref ulong U64(int headerOffset) => ref Unsafe.AsRef<ulong>(_base + headerOffset);
}
