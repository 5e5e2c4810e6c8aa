using System.Globalization;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// The store writer's spool: a row of <see cref="SpoolFile"/> segments in one folder
/// (<c>store.spool</c>, <c>store.1.spool</c>, …). The writer's loop appends to the newest; the replay,
/// on its own task, reads the oldest and deletes it once every record in it is stored, so the files on
/// disk shrink while a backlog is replayed (one file could only be deleted when empty).
/// </summary>
/// <remarks>
/// Thread use: <see cref="Append"/> on the writer's loop only; <see cref="ReadBatch"/>,
/// <see cref="Commit"/> and <see cref="DropFrom"/> on the replay only. Segment I/O runs outside the
/// lock (a slow disk read never blocks an append); the lock guards the list of segments and the counts.
/// </remarks>
internal sealed class Spool : IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<Segment> _segments;
    private readonly long _segmentBytes;
    private long _pendingBytes;
    private long _diskBytes;

    private Spool(string directory, long segmentBytes, List<Segment> segments, long droppedTail)
    {
        Directory = directory;
        _segmentBytes = segmentBytes;
        _segments = segments;
        DroppedTailBytes = droppedTail;
        _pendingBytes = segments.Sum(s => s.File.PendingBytes);
        _diskBytes = segments.Sum(s => s.File.Length);
    }

    /// <summary>The spool's folder.</summary>
    public string Directory { get; }

    /// <summary>Bytes of records not yet replayed.</summary>
    public long PendingBytes => Interlocked.Read(ref _pendingBytes);

    /// <summary>Bytes the spool's files take on disk now.</summary>
    public long DiskBytes => Interlocked.Read(ref _diskBytes);

    /// <summary>True while records wait for replay.</summary>
    public bool HasPending => PendingBytes > 0;

    /// <summary>Bytes of torn or corrupt tails dropped when leftover files were opened.</summary>
    public long DroppedTailBytes { get; }

    /// <summary>How many files the spool has now.</summary>
    public int SegmentCount
    {
        get
        {
            lock (_lock)
            {
                return _segments.Count;
            }
        }
    }

    /// <summary>Path of segment <paramref name="index"/>; the first keeps the historical name <c>store.spool</c>.</summary>
    public static string SegmentPath(string directory, int index) =>
        Path.Combine(directory, index == 0 ? SpoolFile.FileName : string.Create(CultureInfo.InvariantCulture, $"store.{index}.spool"));

    /// <summary>True when the folder holds spool files (a crash's leftovers, or a spool in use).</summary>
    public static bool ExistsIn(string directory) => ListSegments(directory).Count > 0;

    /// <summary>Opens the spool files in <paramref name="directory"/>, creating the first when there are none.</summary>
    public static Spool Open(string directory, long segmentBytes)
    {
        var segments = new List<Segment>();
        long dropped = 0;
        try
        {
            foreach (var (index, path) in ListSegments(directory))
            {
                var file = SpoolFile.Open(path);
                dropped += file.DroppedTailBytes;
                segments.Add(new Segment(index, file));
            }
            if (segments.Count == 0)
            {
                segments.Add(new Segment(0, SpoolFile.Open(SegmentPath(directory, 0))));
            }
        }
        catch
        {
            foreach (var s in segments)
            {
                s.File.Dispose();
            }
            throw;
        }
        return new Spool(directory, segmentBytes, segments, dropped);
    }

    /// <summary>
    /// Appends a batch to the newest file and forces it to disk (one fsync per batch); starts a new file
    /// first when the newest is full.
    /// </summary>
    public void Append(IReadOnlyList<StoredChunk> chunks, MeasurementInfo? update)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        Segment tail;
        lock (_lock)
        {
            tail = _segments[^1];
        }
        if (tail.File.Length >= _segmentBytes)
        {
            var next = new Segment(tail.Index + 1, SpoolFile.Open(SegmentPath(Directory, tail.Index + 1)));
            lock (_lock)
            {
                _segments.Add(next);
                _diskBytes += next.File.Length;
            }
            tail = next;
        }
        var before = tail.File.Length;
        try
        {
            foreach (var chunk in chunks)
            {
                tail.File.Append(chunk);
            }
            if (update is not null)
            {
                tail.File.Append(update);
            }
            tail.File.FlushToDisk();
        }
        finally
        {
            // What was written counts, even when a later record of the batch failed (the replay reads
            // whole records only; a retry may append a chunk twice, which the store's key absorbs).
            var added = tail.File.Length - before;
            Interlocked.Add(ref _pendingBytes, added);
            Interlocked.Add(ref _diskBytes, added);
        }
    }

    /// <summary>
    /// Reads the next records of the oldest file without consuming them (up to <paramref name="maxChunks"/>
    /// chunks or about <paramref name="maxBytes"/>); <see cref="Commit"/> <paramref name="next"/> once stored.
    /// </summary>
    public List<SpoolRecord> ReadBatch(int maxChunks, long maxBytes, out SpoolPosition next)
    {
        var head = Head();
        var records = head.File.ReadBatch(maxChunks, maxBytes, out var position);
        next = new SpoolPosition(head.Index, position);
        return records;
    }

    /// <summary>Marks the records before <paramref name="next"/> as stored; deletes the oldest file once it is done and no longer appended to.</summary>
    public void Commit(SpoolPosition next)
    {
        var head = Head();
        if (head.Index != next.Segment)
        {
            throw new InvalidOperationException($"Spool commit for file {next.Segment}, but the oldest is {head.Index}.");
        }
        var replayed = next.Position - head.File.ReadPosition;
        head.File.Commit(next.Position);
        Interlocked.Add(ref _pendingBytes, -replayed);
        DropFinishedHeads();
    }

    /// <summary>Drops the rest of the oldest file from its read position (a damaged record that cannot be replayed).</summary>
    /// <returns>Bytes dropped.</returns>
    public long DropFrom()
    {
        var head = Head();
        var dropped = head.File.PendingBytes;
        head.File.TruncateAt(head.File.ReadPosition);
        Interlocked.Add(ref _pendingBytes, -dropped);
        Interlocked.Add(ref _diskBytes, -dropped);
        DropFinishedHeads();
        return dropped;
    }

    /// <summary>Position of the next record to replay (for log messages).</summary>
    public string DescribeReadPosition()
    {
        var head = Head();
        return $"{Path.GetFileName(head.File.Path)}:{head.File.ReadPosition}";
    }

    /// <summary>Every valid record of every file, oldest first (diagnostics and tests).</summary>
    public List<SpoolRecord> ReadAll()
    {
        lock (_lock)
        {
            return [.. _segments.SelectMany(s => s.File.ReadAll())];
        }
    }

    /// <summary>Closes and deletes every file (everything was replayed; the caller makes sure nothing is appended meanwhile).</summary>
    public void Delete()
    {
        lock (_lock)
        {
            foreach (var s in _segments)
            {
                s.File.Delete();
            }
            _segments.Clear();
            Interlocked.Exchange(ref _diskBytes, 0);
            Interlocked.Exchange(ref _pendingBytes, 0);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var s in _segments)
            {
                s.File.Dispose();
            }
        }
    }

    private Segment Head()
    {
        lock (_lock)
        {
            return _segments[0];
        }
    }

    // The oldest file is deleted once it is replayed and the loop appends to a newer one.
    private void DropFinishedHeads()
    {
        lock (_lock)
        {
            while (_segments.Count > 1 && !_segments[0].File.HasPending)
            {
                var done = _segments[0];
                _segments.RemoveAt(0);
                Interlocked.Add(ref _diskBytes, -done.File.Length);
                done.File.Delete();
            }
        }
    }

    private static List<(int Index, string Path)> ListSegments(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
        {
            return [];
        }
        var found = new List<(int, string)>();
        foreach (var path in System.IO.Directory.EnumerateFiles(directory, "store*spool"))
        {
            var name = Path.GetFileName(path);
            if (name == SpoolFile.FileName)
            {
                found.Add((0, path));
            }
            else if (name.StartsWith("store.", StringComparison.Ordinal) && name.EndsWith(".spool", StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(6, name.Length - 12), NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index > 0)
            {
                found.Add((index, path));
            }
        }
        return [.. found.OrderBy(f => f.Item1)];
    }

    private sealed record Segment(int Index, SpoolFile File);
}

/// <summary>A place in the spool: file number and byte position in it.</summary>
internal readonly record struct SpoolPosition(int Segment, long Position);
