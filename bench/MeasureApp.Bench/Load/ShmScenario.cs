using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.SharedMemory;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Highest lossless rate through the SharedMemory device (SPEC §9): a producer writes records of the
/// documented layout into a real mapped ring file at rising rates (a real-time producer: a record
/// that finds the ring full is lost and counted as an overrun), the <see cref="SharedMemoryDriver"/>
/// reads them into a measurement that only counts its blocks. The highest step at which every record
/// became a sample, with no fault, is reported beside the same run's baseline: the same producer
/// with a bare consumer that only checks each record's commit marker, copies it and advances the read
/// index (no checksum, routing or block building).
/// </summary>
public sealed class ShmScenario : ILoadScenario
{
    private const long T0 = 1_700_000_000_000_000_000;

    /// <inheritdoc />
    public string Name => "shm";

    /// <inheritdoc />
    public string Description => "highest lossless record rate through the SharedMemory device, beside a bare ring consumer (SPEC §9)";

    /// <inheritdoc />
    public string Usage => """
        --seconds S        length of each rate step (default 2)
        --channels N       channels per record, 1–8 (default 8)
        --capacity N       ring records (default 262144: 32 MB, a third of a second at 800 k records/s)
        --start R          first step in records/s (default 100000); each step doubles until a record is lost
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var step = TimeSpan.FromSeconds(options.GetDouble("seconds", 2));
        var channels = Math.Clamp(options.GetInt("channels", 8), 1, SharedMemoryLayout.MaxChannels);
        var capacity = options.GetInt("capacity", 262_144);
        var start = options.GetDouble("start", 100_000);
        var report = new LoadReport(Name, "shm", "SharedMemory device: highest lossless record rate vs a bare ring consumer");

        var device = await HighestLosslessAsync(channels, capacity, step, start, bare: false, progress, cancellationToken);
        var bare = await HighestLosslessAsync(channels, capacity, step, start, bare: true, progress, cancellationToken);

        report.Add("SharedMemory device, highest rate with 0 records lost", device / 1e6, "M records/s",
            string.Create(CultureInfo.InvariantCulture, $"bare consumer {bare / 1e6:0.00} M"), bare > 0 ? string.Create(CultureInfo.InvariantCulture, $"{device / bare:0.00}× bare") : "");
        report.Add("  = values per second (records × channels)", device * channels / 1e6, "M values/s");
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"One record = one sample of {channels} channels (128 bytes); ring of {capacity} records in a mapped file under /dev/shm; steps of {step.TotalSeconds:0.#} s doubling from {start / 1e3:0} k records/s; a step counts only when the producer itself kept the pace (≥ 90 %)."));
        report.Notes.Add("Device path: SharedMemoryDriver (commit marker, CRC-32C, routing by measurement id and user tag, counter check, blocks of 5 ms) into a sink that counts and releases blocks — the engine, store and live fan-out are not part of it.");
        report.Notes.Add("Bare baseline: the same producer and ring with a consumer thread that only waits for each commit marker, copies the 128 bytes and advances the read index (sleeping 1 ms when the ring is empty, as the producer does between batches).");
        return report;
    }

    // Rate in records/s of the highest step without a lost record (0 when even the first step lost some).
    private static async Task<double> HighestLosslessAsync(int channels, int capacity, TimeSpan step, double start, bool bare, TextWriter progress, CancellationToken ct)
    {
        var best = 0.0;
        for (var rate = start; rate < 1e9; rate *= 2)
        {
            var path = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"measureapp-bench-{Guid.NewGuid():N}");
            try
            {
                using var ring = RingWriter.Create(path, capacity);
                var result = bare ? await BareStepAsync(ring, channels, rate, step, ct) : await DeviceStepAsync(ring, path, channels, rate, step, ct);
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{(bare ? "bare  " : "device")} at {rate / 1e3:0} k records/s: wrote {result.Written}, lost {result.Lost}, delivered {result.Delivered}, faults {result.Faults}, pace {result.Achieved / rate:P0}"));
                if (result.Lost > 0 || result.Delivered != result.Written || result.Faults > 0 || result.Achieved < rate * 0.9)
                {
                    break;
                }
                best = result.Achieved;
            }
            finally
            {
                File.Delete(path);
            }
        }
        return best;
    }

    private static async Task<StepResult> DeviceStepAsync(RingWriter ring, string path, int channels, double rate, TimeSpan step, CancellationToken ct)
    {
        var device = new DeviceOptions { Id = "bench-shm", Driver = SharedMemoryDriver.DriverKind, Path = path, HeartbeatTimeoutMilliseconds = 600_000 };
        var driver = new SharedMemoryDriver(TimeProvider.System, Options.Create(new AcquisitionOptions { Devices = [device], BlockMilliseconds = 5 }), NullLogger<SharedMemoryDriver>.Instance);
        var info = new MeasurementInfo
        {
            Id = Guid.NewGuid(),
            OwnerId = "bench",
            OwnerName = "bench",
            Name = "bench",
            DeviceId = device.Id,
            Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i + 1}", "V"))],
            SampleRate = rate,
            State = MeasurementState.Starting,
            StartedAt = DateTimeOffset.UtcNow,
        };
        var sink = new CountingSink();
        var run = driver.Start(device, info, sink);
        var (written, lost, achieved) = await Task.Run(() => ring.Produce(info.Id, SharedMemoryLayout.UserTag(info.OwnerId), channels, rate, step, ct), ct);
        await WaitAsync(() => Interlocked.Read(ref sink.Samples) >= written - lost, ct);
        await run.DisposeAsync();
        return new StepResult(written, lost, Interlocked.Read(ref sink.Samples), Interlocked.Read(ref sink.Faults), achieved);
    }

    private static async Task<StepResult> BareStepAsync(RingWriter ring, int channels, double rate, TimeSpan step, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var consumed = new StrongBox<long>();
        var consumer = Task.Factory.StartNew(() => ring.ConsumeBare(consumed, stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var (written, lost, achieved) = await Task.Run(() => ring.Produce(Guid.NewGuid(), 1, channels, rate, step, ct), ct);
        await WaitAsync(() => Interlocked.Read(ref consumed.Value) >= written - lost, ct);
        await stop.CancelAsync();
        await consumer;
        return new StepResult(written, lost, Interlocked.Read(ref consumed.Value), 0, achieved);
    }

    // Polls for the consumer to catch up (2 s at most: a consumer that needs longer has lost the step anyway).
    private static async Task WaitAsync(Func<bool> done, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (!done() && clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(5, ct);
        }
    }

    private sealed record StepResult(long Written, long Lost, long Delivered, long Faults, double Achieved);

    private sealed class CountingSink : IBlockSink
    {
        public long Samples;
        public long Faults;

        public bool Publish(SampleBlock block)
        {
            Interlocked.Add(ref Samples, block.Count);
            block.Release();
            return true;
        }

        public void Fault(string kind, string message) => Interlocked.Increment(ref Faults);

        public void Fault(string kind, string message, long count) => Interlocked.Add(ref Faults, count);

        public void Fail(string message) => Interlocked.Increment(ref Faults);
    }

    /// <summary>A producer of the documented ring layout over a mapped file (docs/shared-memory.md).</summary>
    private sealed class RingWriter : IDisposable
    {
        private readonly FileStream _file;
        private readonly MemoryMappedFile _map;
        private readonly MemoryMappedViewAccessor _view;
        private readonly nint _p;
        private readonly int _capacity;

        private RingWriter(FileStream file, MemoryMappedFile map, MemoryMappedViewAccessor view, nint p, int capacity)
        {
            (_file, _map, _view, _p, _capacity) = (file, map, view, p, capacity);
        }

        public static RingWriter Create(string path, int capacity)
        {
            const int commands = 64;
            var size = SharedMemoryLayout.HeaderSize + ((long)capacity * SharedMemoryLayout.RecordSize) + ((long)commands * SharedMemoryLayout.CommandSize);
            var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            file.SetLength(size);
            var map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
            var view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite);
            var added = false;
            view.SafeMemoryMappedViewHandle.DangerousAddRef(ref added);
            var p = view.SafeMemoryMappedViewHandle.DangerousGetHandle() + (nint)view.PointerOffset;
            var ring = new RingWriter(file, map, view, p, capacity);
            var h = ring.Bytes(0, 64);
            BinaryPrimitives.WriteUInt32LittleEndian(h[SharedMemoryLayout.Header.Version..], SharedMemoryLayout.Version);
            BinaryPrimitives.WriteUInt32LittleEndian(h[SharedMemoryLayout.Header.HeaderSize..], SharedMemoryLayout.HeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(h[SharedMemoryLayout.Header.Capacity..], (uint)capacity);
            BinaryPrimitives.WriteUInt32LittleEndian(h[SharedMemoryLayout.Header.RecordSize..], SharedMemoryLayout.RecordSize);
            BinaryPrimitives.WriteUInt64LittleEndian(h[SharedMemoryLayout.Header.DataOffset..], SharedMemoryLayout.HeaderSize);
            BinaryPrimitives.WriteUInt32LittleEndian(h[SharedMemoryLayout.Header.CommandCapacity..], commands);
            BinaryPrimitives.WriteUInt32LittleEndian(h[SharedMemoryLayout.Header.CommandSize..], SharedMemoryLayout.CommandSize);
            BinaryPrimitives.WriteUInt64LittleEndian(h[SharedMemoryLayout.Header.CommandOffset..], (ulong)(SharedMemoryLayout.HeaderSize + ((long)capacity * SharedMemoryLayout.RecordSize)));
            BinaryPrimitives.WriteUInt64LittleEndian(h[SharedMemoryLayout.Header.FileSize..], (ulong)size);
            BinaryPrimitives.WriteUInt64LittleEndian(h[SharedMemoryLayout.Header.Generation..], (ulong)Random.Shared.NextInt64(1, long.MaxValue));
            Volatile.Write(ref ring.U64(SharedMemoryLayout.Header.ProducerHeartbeat), 1UL);
            Volatile.Write(ref ring.U32(SharedMemoryLayout.Header.Magic), SharedMemoryLayout.Magic);
            return ring;
        }

        /// <summary>
        /// Writes records paced at <paramref name="rate"/> per second for <paramref name="duration"/>; a record
        /// that finds the ring full is lost (counted in the header's overruns, as a real-time producer must).
        /// </summary>
        public (long Written, long Lost, double Achieved) Produce(Guid measurement, ulong userTag, int channels, double rate, TimeSpan duration, CancellationToken ct)
        {
            Span<byte> record = stackalloc byte[SharedMemoryLayout.RecordSize];
            ulong write = 0;
            long lost = 0;
            long counter = 0;
            var clock = Stopwatch.StartNew();
            var lastDue = 0.0;
            while (clock.Elapsed < duration && !ct.IsCancellationRequested)
            {
                lastDue = clock.Elapsed.TotalSeconds;
                var due = (long)(lastDue * rate);
                if (counter >= due)
                {
                    // Sleep rather than spin: on a shared machine a spinning producer would starve the consumer it measures.
                    Thread.Sleep(1);
                    continue;
                }
                var read = Volatile.Read(ref U64(SharedMemoryLayout.Header.ReadIndex));
                while (counter < due)
                {
                    if (write - read >= (ulong)_capacity)
                    {
                        read = Volatile.Read(ref U64(SharedMemoryLayout.Header.ReadIndex));
                        if (write - read >= (ulong)_capacity)
                        {
                            lost++;
                            counter++;
                            Volatile.Write(ref U64(SharedMemoryLayout.Header.Overruns), (ulong)lost);
                            continue;
                        }
                    }
                    Encode(record, write, measurement, userTag, counter, channels, rate);
                    var slot = SharedMemoryLayout.HeaderSize + ((long)(write % (ulong)_capacity) * SharedMemoryLayout.RecordSize);
                    record[8..].CopyTo(Bytes(slot + 8, SharedMemoryLayout.RecordSize - 8));
                    Volatile.Write(ref U64(slot), write + 1);
                    write++;
                    counter++;
                }
                Volatile.Write(ref U64(SharedMemoryLayout.Header.WriteIndex), write);
                Volatile.Write(ref U64(SharedMemoryLayout.Header.ProducerHeartbeat), (ulong)clock.ElapsedTicks + 1);
            }
            // The pace up to the last batch: an oversleep after it (a loaded machine) wrote nothing and is no producer's fault.
            return ((long)write + lost, lost, (write + (ulong)lost) / Math.Max(lastDue, 1e-3));
        }

        /// <summary>The bare baseline consumer: waits for each commit marker, copies the record, advances the read index.</summary>
        public void ConsumeBare(StrongBox<long> consumed, CancellationToken ct)
        {
            Span<byte> copy = stackalloc byte[SharedMemoryLayout.RecordSize];
            ulong read = 0;
            while (!ct.IsCancellationRequested)
            {
                var written = Volatile.Read(ref U64(SharedMemoryLayout.Header.WriteIndex));
                if (read == written)
                {
                    // Polls like a consumer that is not allowed to burn a core (the driver waits between batches too).
                    Thread.Sleep(1);
                    continue;
                }
                while (read < written)
                {
                    var slot = SharedMemoryLayout.HeaderSize + ((long)(read % (ulong)_capacity) * SharedMemoryLayout.RecordSize);
                    if (Volatile.Read(ref U64(slot)) != read + 1)
                    {
                        break;
                    }
                    Bytes(slot, SharedMemoryLayout.RecordSize).CopyTo(copy);
                    read++;
                }
                Volatile.Write(ref U64(SharedMemoryLayout.Header.ReadIndex), read);
                Interlocked.Exchange(ref consumed.Value, (long)read);
            }
        }

        public void Dispose()
        {
            _view.SafeMemoryMappedViewHandle.DangerousRelease();
            _view.Dispose();
            _map.Dispose();
            _file.Dispose();
        }

        private static void Encode(Span<byte> r, ulong index, Guid measurement, ulong userTag, long counter, int channels, double rate)
        {
            r.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(r, index + 1);
            measurement.TryWriteBytes(r.Slice(SharedMemoryLayout.Record.MeasurementId, 16), bigEndian: true, out _);
            BinaryPrimitives.WriteUInt64LittleEndian(r[SharedMemoryLayout.Record.UserTag..], userTag);
            BinaryPrimitives.WriteInt64LittleEndian(r[SharedMemoryLayout.Record.TimestampNs..], T0 + SampleTime.OffsetNs(counter, rate));
            BinaryPrimitives.WriteUInt64LittleEndian(r[SharedMemoryLayout.Record.SampleCounter..], (ulong)counter);
            BinaryPrimitives.WriteUInt32LittleEndian(r[SharedMemoryLayout.Record.ChannelCount..], (uint)channels);
            for (var c = 0; c < channels; c++)
            {
                BinaryPrimitives.WriteDoubleLittleEndian(r[(SharedMemoryLayout.Record.Values + (8 * c))..], Math.Sin((counter + c) * 0.001));
            }
            BinaryPrimitives.WriteUInt32LittleEndian(r[SharedMemoryLayout.Record.Checksum..], SharedMemoryLayout.Crc32C(r[..SharedMemoryLayout.Record.Checksum]));
        }

        private Span<byte> Bytes(long offset, int count) => MemoryMarshal.CreateSpan(ref At(offset), count);

        private ref byte At(long offset) => ref Unsafe.AddByteOffset(ref Unsafe.NullRef<byte>(), _p + (nint)offset);

        private ref ulong U64(long offset) => ref Unsafe.As<byte, ulong>(ref At(offset));

        private ref uint U32(long offset) => ref Unsafe.As<byte, uint>(ref At(offset));
    }
}
