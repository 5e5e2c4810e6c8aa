using System.IO.MemoryMappedFiles;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;
using L = MeasureApp.Acquisition.Devices.SharedMemory.SharedMemoryLayout;

namespace MeasureApp.Acquisition.Devices.SharedMemory;

/// <summary>
/// The single consumer of one ring file: maps it, polls it on its own thread, routes records to the
/// measurements reading it and writes their start/stop commands. Exists while at least one
/// measurement reads the file. Everything that touches the ring happens under <see cref="_gate"/>,
/// which is also what makes removal synchronous: once <see cref="Remove"/> returns, that
/// measurement's sink is never called again.
/// </summary>
internal sealed unsafe class SharedMemoryReader
{
    /// <summary>Most records handled per poll, so adding or removing a measurement never waits long for the lock.</summary>
    internal const int MaxBatch = 4096;

    private const int MaxPendingCommands = 1024;
    private static readonly TimeSpan AttachRetry = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan IdentityCheckInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ConsumerHeartbeatInterval = TimeSpan.FromMilliseconds(100);

    private readonly Lock _gate = new();
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly TimeSpan _heartbeatTimeout;
    private readonly ILogger _logger;
    private readonly RecordRouter _router;
    private readonly RingConsumer _ring = new();
    private readonly List<PendingCommand> _commands = [];
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _thread;
    private volatile bool _stopping;

    private FileStream? _file;
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private long _mappedSize;
    private ulong _lastGeneration;
    private long _nextAttachAt;
    private bool _attachAttempted;
    private (FaultKind Kind, string Message)? _attachError;
    private long _nextIdentityCheckAt;
    private long _nextConsumerHeartbeatAt;
    private ulong _producerHeartbeat;
    private long _producerHeartbeatChangedAt;
    private bool _stallReported;
    private bool _commandsBlocked;
    private bool _internalErrorLogged;

    public SharedMemoryReader(string path, TimeProvider time, TimeSpan blockInterval, TimeSpan heartbeatTimeout, ILogger logger, DeviceFaults? deviceFaults = null, string deviceId = "")
    {
        _path = path;
        _time = time;
        _heartbeatTimeout = heartbeatTimeout;
        _logger = logger;
        _router = new RecordRouter(new SharedMemoryCounters(), time, blockInterval, deviceFaults, deviceId);
    }

    public bool IsStopping => _stopping;

    public SharedMemoryStatistics Statistics => _router.Counters.Snapshot();

    public void Begin()
    {
        _thread = new Thread(Loop) { IsBackground = true, Name = "shm " + Path.GetFileName(_path) };
        _thread.Start();
    }

    /// <summary>Adds a measurement; false when this reader is already shutting down (the caller makes a new one).</summary>
    public bool TryAdd(MeasurementInfo measurement, IBlockSink sink, out Subscription? subscription)
    {
        lock (_gate)
        {
            subscription = null;
            if (_stopping)
            {
                return false;
            }
            subscription = _router.CreateSubscription(measurement, sink);
            _router.Add(subscription);
            if (_ring.IsAttached)
            {
                Enqueue(SharedMemoryCommandType.Start, subscription);
                WriteCommands();
            }
            else
            {
                // Attach now, so the start command is in the ring when Start returns.
                var reported = TryAttach(force: true);
                if (!_ring.IsAttached && !reported && _attachError is { } error)
                {
                    subscription.Sink.Fault(SharedMemoryFaults.All[(int)error.Kind], error.Message);
                }
            }
            return true;
        }
    }

    /// <summary>
    /// Sends a measurement's stop command, delivers every record the producer had published before it
    /// (the ring is drained up to the write index seen right after the command), then removes the
    /// measurement; true when it was the last one (the reader then stops). Records of it that arrive
    /// later are counted on the device.
    /// </summary>
    public bool Remove(Subscription subscription)
    {
        lock (_gate)
        {
            var unsent = _commands.FindIndex(c => c.Subscription == subscription && c.Type == SharedMemoryCommandType.Start);
            if (unsent >= 0)
            {
                // The producer never heard of it: no stop needed.
                _commands.RemoveAt(unsent);
            }
            else
            {
                // Owed even while detached (file briefly truncated or replaced): sent on the next attach.
                Enqueue(SharedMemoryCommandType.Stop, subscription);
                WriteCommands();
                Drain(subscription);
            }
            _router.Remove(subscription);
            _router.Stopped(subscription.MeasurementId);
            if (_router.Count > 0)
            {
                return false;
            }
            // Only commands of this reader's measurements are pending; a successor reader starts fresh.
            _router.Counters.Fault(FaultKind.Command, _commands.Count);
            _commands.Clear();
            _stopping = true;
            return true;
        }
    }

    // Not from the reader thread (a sink that stops its measurement while a poll is running): a nested
    // poll would move the read index under the outer one.
    private void Drain(Subscription subscription)
    {
        if (!_ring.IsAttached || !subscription.Active || Environment.CurrentManagedThreadId == _thread?.ManagedThreadId)
        {
            return;
        }
        var stopAt = _ring.WriteIndex;
        while (_ring.IsAttached && subscription.Active && _ring.ReadIndex < stopAt)
        {
            _router.SetNow(_time.GetTimestamp());
            var left = stopAt - _ring.ReadIndex;
            if (_ring.Poll(_router, (int)Math.Min((ulong)MaxBatch, left)) != PollResult.Records)
            {
                // A restart or resynchronisation: what is left belongs to the normal loop's handling.
                break;
            }
        }
    }

    /// <summary>Waits for the thread to detach (not when called from the reader thread itself, e.g. by a sink that stops the measurement).</summary>
    public Task StopAsync() =>
        _thread is null || Environment.CurrentManagedThreadId == _thread.ManagedThreadId ? Task.CompletedTask : _exited.Task;

    private void Loop()
    {
        var spinner = default(SpinWait);
        try
        {
            while (!_stopping)
            {
                bool worked;
                lock (_gate)
                {
                    if (_stopping)
                    {
                        break;
                    }
                    worked = IterateSafely();
                }
                if (worked)
                {
                    spinner.Reset();
                }
                else if (spinner.Count < 10)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
                else
                {
                    // Idle: poll about once a millisecond (this is the poll cadence, not a wait for a result).
                    Thread.Sleep(1);
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                Detach();
            }
            _exited.TrySetResult();
        }
    }

    private bool IterateSafely()
    {
        try
        {
            return Iterate();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A bug or an environment surprise: report, detach, attach again later; the stream goes on.
            if (!_internalErrorLogged)
            {
                _internalErrorLogged = true;
                _logger.LogError(ex, "Shared-memory reader of {Path} failed; it detaches and attaches again", _path);
            }
            _router.RingFault(FaultKind.Internal, ex.Message);
            Detach();
            return false;
        }
    }

    private bool Iterate()
    {
        if (_router.Count == 0)
        {
            // Nobody to deliver to: never consume records that a successor reader should get.
            return false;
        }
        var now = _time.GetTimestamp();
        _router.SetNow(now);
        if (!_ring.IsAttached)
        {
            TryAttach(force: false);
            _router.FlushDue(now);
            return false;
        }
        if (RandomAccess.GetLength(_file!.SafeFileHandle) < _mappedSize)
        {
            // Shrunk under us: stop touching the mapping before anything reads past the new end.
            Detach();
            ReportAttachError(FaultKind.Truncated, $"The shared-memory file {_path} was truncated while mapped; waiting for a complete one.");
            return false;
        }

        var result = _ring.Poll(_router, MaxBatch);
        if (result == PollResult.Restarted)
        {
            ResynchroniseAfterRestart("The producer restarted (new generation or rewritten header); the stream resynchronised.");
            return true;
        }
        CheckProducerHeartbeat(now);
        if (_time.GetElapsedTime(_nextConsumerHeartbeatAt, now) >= TimeSpan.Zero)
        {
            _ring.WriteConsumerHeartbeat((_time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100);
            _nextConsumerHeartbeatAt = now + (long)(ConsumerHeartbeatInterval.TotalSeconds * _time.TimestampFrequency);
        }
        if (result == PollResult.Idle && _time.GetElapsedTime(_nextIdentityCheckAt, now) >= TimeSpan.Zero)
        {
            _nextIdentityCheckAt = now + (long)(IdentityCheckInterval.TotalSeconds * _time.TimestampFrequency);
            CheckFileIdentity();
        }
        WriteCommands();
        _router.FlushDue(now);
        return result != PollResult.Idle;
    }

    private void ResynchroniseAfterRestart(string message)
    {
        _router.RingFault(FaultKind.Restart, message);
        _router.ResetStreams();
        Detach();
        _attachError = null;
        TryAttach(force: true);
    }

    /// <summary>
    /// Opens, validates (from a plain read, before anything is mapped) and maps the file. Returns true
    /// when it reported a (new) attach error to the measurements.
    /// </summary>
    private bool TryAttach(bool force)
    {
        var now = _time.GetTimestamp();
        if (!force && _attachAttempted && _time.GetElapsedTime(_nextAttachAt, now) < TimeSpan.Zero)
        {
            return false;
        }
        _attachAttempted = true;
        _nextAttachAt = now + (long)(AttachRetry.TotalSeconds * _time.TimestampFrequency);

        FileStream? file = null;
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        var pointerAcquired = false;
        try
        {
            try
            {
                file = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                return ReportAttachError(FaultKind.Missing, $"The shared-memory file {_path} does not exist; waiting for the producer to create it.");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return ReportAttachError(FaultKind.Missing, $"The shared-memory file {_path} cannot be opened: {ex.Message}");
            }

            var length = RandomAccess.GetLength(file.SafeFileHandle);
            Span<byte> header = stackalloc byte[L.HeaderFieldsSize];
            var read = length <= 0 ? 0 : RandomAccess.Read(file.SafeFileHandle, header, 0);
            var status = L.ValidateHeader(header[..read], length, out var geometry);
            if (status != HeaderStatus.Ok)
            {
                return ReportHeaderStatus(status);
            }

            map = MemoryMappedFile.CreateFromFile(file, mapName: null, capacity: 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            view = map.CreateViewAccessor(0, geometry.MappedSize, MemoryMappedFileAccess.ReadWrite);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointerAcquired = true;
            pointer += view.PointerOffset;

            // Validate again in the mapping: the header may have changed since the plain read.
            status = _ring.Attach((nint)pointer, geometry.MappedSize, _lastGeneration);
            if (status != HeaderStatus.Ok)
            {
                return ReportHeaderStatus(status);
            }

            (_file, _map, _view, _mappedSize) = (file, map, view, geometry.MappedSize);
            file = null;
            map = null;
            view = null;
            _lastGeneration = _ring.Geometry.Generation;
            _attachError = null;
            _producerHeartbeat = _ring.ProducerHeartbeat;
            _producerHeartbeatChangedAt = now;
            _stallReported = false;
            _nextIdentityCheckAt = now + (long)(IdentityCheckInterval.TotalSeconds * _time.TimestampFrequency);
            _nextConsumerHeartbeatAt = now;

            // A (new) producer knows nothing yet: tell it about every measurement reading this file
            // (owed stops stay queued, ahead of the starts).
            _commands.RemoveAll(c => c.Type == SharedMemoryCommandType.Start);
            _commandsBlocked = false;
            foreach (var s in _router.Subscriptions)
            {
                Enqueue(SharedMemoryCommandType.Start, s);
            }
            WriteCommands();
            _logger.LogInformation("Attached to shared-memory ring {Path}: {Capacity} records, generation {Generation}", _path, _ring.Geometry.Capacity, _ring.Geometry.Generation);
            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _ring.Detach();
            return ReportAttachError(FaultKind.Missing, $"The shared-memory file {_path} cannot be mapped: {ex.Message}");
        }
        finally
        {
            if (view is not null)
            {
                if (pointerAcquired)
                {
                    view.SafeMemoryMappedViewHandle.ReleasePointer();
                }
                view.Dispose();
                _ring.Detach();
            }
            map?.Dispose();
            file?.Dispose();
        }
    }

    private bool ReportHeaderStatus(HeaderStatus status) => status switch
    {
        HeaderStatus.Truncated => ReportAttachError(FaultKind.Truncated, $"The shared-memory file {_path} is shorter than its header says."),
        HeaderStatus.NotReady => ReportAttachError(FaultKind.Header, $"The shared-memory file {_path} is not initialised yet (magic 0)."),
        HeaderStatus.BadMagic => ReportAttachError(FaultKind.Header, $"The shared-memory file {_path} has a wrong magic number; it is not a MeasureApp ring."),
        HeaderStatus.BadVersion => ReportAttachError(FaultKind.Header, $"The shared-memory file {_path} has a layout version other than {L.Version}."),
        _ => ReportAttachError(FaultKind.Header, $"The shared-memory file {_path} has impossible sizes or offsets in its header."),
    };

    /// <summary>Reports a reason for not being attached once per change of reason (retries are silent).</summary>
    private bool ReportAttachError(FaultKind kind, string message)
    {
        if (_attachError is { } last && last.Kind == kind && last.Message == message)
        {
            return false;
        }
        _attachError = (kind, message);
        _router.RingFault(kind, message);
        return true;
    }

    private void CheckProducerHeartbeat(long now)
    {
        var beat = _ring.ProducerHeartbeat;
        if (beat != _producerHeartbeat)
        {
            _producerHeartbeat = beat;
            _producerHeartbeatChangedAt = now;
            _stallReported = false;
        }
        else if (!_stallReported && _time.GetElapsedTime(_producerHeartbeatChangedAt, now) > _heartbeatTimeout)
        {
            _stallReported = true;
            _router.RingFault(FaultKind.Stalled, $"The producer's heartbeat has not changed for {_heartbeatTimeout.TotalSeconds:0.#} s; it may have stopped.");
        }
    }

    /// <summary>
    /// A producer that replaced the file (unlink + create) writes to an inode we no longer see; a plain
    /// read through the path tells us.
    /// </summary>
    private void CheckFileIdentity()
    {
        Span<byte> header = stackalloc byte[64];
        int read;
        try
        {
            using var probe = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
            read = RandomAccess.Read(probe.SafeFileHandle, header, 0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _router.ResetStreams();
            Detach();
            ReportAttachError(FaultKind.Missing, $"The shared-memory file {_path} disappeared; waiting for the producer to create it again.");
            return;
        }
        var sameMagic = read == 64 && BitConverter.ToUInt32(header[L.Header.Magic..]) == L.Magic;
        var sameGeneration = read == 64 && BitConverter.ToUInt64(header[L.Header.Generation..]) == _ring.Geometry.Generation;
        if (!sameMagic || !sameGeneration)
        {
            ResynchroniseAfterRestart("The shared-memory file was replaced or re-initialised; the stream resynchronised.");
        }
    }

    private void Enqueue(SharedMemoryCommandType type, Subscription subscription)
    {
        if (_commands.Count >= MaxPendingCommands)
        {
            _commands.RemoveAt(0);
            _router.Counters.Fault(FaultKind.Command);
        }
        _commands.Add(new PendingCommand(type, subscription));
    }

    private void WriteCommands()
    {
        while (_commands.Count > 0 && _ring.IsAttached)
        {
            var c = _commands[0];
            var s = c.Subscription;
            var issuedAt = (_time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
            var result = _ring.TryWriteCommand(c.Type, s.MeasurementId, s.UserTag, s.Channels, s.SampleRate, issuedAt);
            if (result != CommandWrite.Written)
            {
                if (!_commandsBlocked)
                {
                    _commandsBlocked = true;
                    _router.RingFault(FaultKind.Command, result == CommandWrite.Full
                        ? "The command ring is full (is the producer reading it?); commands wait until there is room."
                        : "The command ring's read index is inconsistent; commands wait until the producer restarts.");
                }
                return;
            }
            _commandsBlocked = false;
            _commands.RemoveAt(0);
            _router.Counters.Command();
        }
    }

    private void Detach()
    {
        _ring.Detach();
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _view = null;
        }
        _map?.Dispose();
        _map = null;
        _file?.Dispose();
        _file = null;
        _mappedSize = 0;
    }

    private readonly record struct PendingCommand(SharedMemoryCommandType Type, Subscription Subscription);
}
