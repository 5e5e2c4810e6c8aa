using System.Buffers.Binary;
using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.SharedMemory;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition.SharedMemory;

/// <summary>
/// Seeded mutation tests (SPEC §10: ≥ 10⁶ mutated inputs, 0 crashes, 0 hangs, bounded memory) through
/// the consumer's own parsing and ring code. Loops are bounded by construction; the Timeout only
/// turns a hang into a failure.
/// </summary>
[Collection(nameof(MeasureApp.Tests.Infrastructure.ProcessMemoryCollection))]
public sealed class SharedMemoryMutationTests
{
    private const int Seed = 20_240_611;
    private const long MemoryBound = 8 * 1024 * 1024;

    [Fact(Timeout = 120_000)]
    public async Task AMillionMutatedRecordsNeverThrowNorGrowMemoryAndTheValidOnesBetweenThemAllArrive()
    {
        await Task.Yield();
        const int mutated = 1_000_000;
        const int channels = 4;
        var info = ShmTest.Info(channels, rate: 1000);
        var tag = TestRingProducer.UserTag(info.OwnerId);
        var counters = new SharedMemoryCounters();
        var router = new RecordRouter(counters, new FakeTimeProvider(), TimeSpan.FromMilliseconds(5));
        var sink = new HashingSink(channels);
        var subscription = router.CreateSubscription(info, sink);
        router.Add(subscription);
        var expected = new ExpectedStream(channels);
        var random = new Random(Seed);
        var record = new byte[128];
        var values = new double[channels];
        ulong next = 0;
        ulong sequence = 0;
        var deliverable = 0;
        long before = 0;

        for (var i = 0; i < mutated; i++)
        {
            if (i == 10_000)
            {
                // After warm-up (pool, JIT): from here on nothing may accumulate.
                before = GC.GetTotalMemory(forceFullCollection: true);
            }
            sequence++;
            if (random.Next(10) == 0)
            {
                // A valid record between the mutated ones.
                Fill(values, next);
                Encode(record, sequence - 1, info.Id, tag, 1000 + (long)next, next, values);
                router.OnRecord(record, sequence);
                expected.Add(values);
                next++;
                deliverable++;
                sequence++;
            }
            Fill(values, next);
            Encode(record, sequence - 1, info.Id, tag, 1000 + (long)next, next, values);
            var expectedSequence = sequence;
            var length = 128;
            switch (random.Next(9))
            {
                case 0:
                    // Random byte flips, checksum left as it was.
                    for (int f = 0, flips = random.Next(1, 9); f < flips; f++)
                    {
                        record[random.Next(128)] ^= (byte)random.Next(1, 256);
                    }
                    break;
                case 1:
                    // A checksummed record with NaN/Inf/out-of-range values: delivered with held values.
                    for (var c = 0; c < channels; c++)
                    {
                        if (random.Next(2) == 0)
                        {
                            values[c] = random.Next(4) switch { 0 => double.NaN, 1 => double.PositiveInfinity, 2 => double.NegativeInfinity, _ => 1e300 };
                        }
                    }
                    Encode(record, sequence - 1, info.Id, tag, 1000 + (long)next, next, values);
                    expected.Add(values);
                    next++;
                    deliverable++;
                    break;
                case 2:
                    Encode(record, sequence - 1, Guid.NewGuid(), tag, 0, next, values);
                    break;
                case 3:
                    Encode(record, sequence - 1, info.Id, tag ^ (ulong)random.NextInt64(1, long.MaxValue), 0, next, values);
                    break;
                case 4:
                    uint[] counts = [0, 9, 3, 8, uint.MaxValue, (uint)random.Next()];
                    Encode(record, sequence - 1, info.Id, tag, 0, next, values, counts[random.Next(counts.Length)]);
                    break;
                case 5:
                    expectedSequence = sequence + (ulong)random.Next(1, 1 << 20);
                    break;
                case 6:
                    length = random.Next(128);
                    break;
                case 7:
                    // A replay of an older sample counter.
                    Encode(record, sequence - 1, next == 0 ? Guid.NewGuid() : info.Id, tag, 0, next == 0 ? 0 : (ulong)random.NextInt64(0, (long)next), values);
                    break;
                default:
                    random.NextBytes(record);
                    break;
            }
            router.OnRecord(record.AsSpan(0, length), expectedSequence);
        }
        subscription.Flush();
        var after = GC.GetTotalMemory(forceFullCollection: true);

        Assert.Equal(deliverable, sink.Samples);
        Assert.Equal(expected.Hashes, sink.Hashes);
        Assert.True(deliverable > 100_000, $"{deliverable} deliverable records");
        Assert.InRange(after - before, long.MinValue, MemoryBound);
        var stats = counters.Snapshot();
        foreach (var kind in new[] { SharedMemoryFaults.Checksum, SharedMemoryFaults.Sequence, SharedMemoryFaults.Foreign, SharedMemoryFaults.User,
            SharedMemoryFaults.Channels, SharedMemoryFaults.Duplicate, SharedMemoryFaults.NonFinite })
        {
            Assert.True(stats[kind] > 10_000, $"{kind}: {stats[kind]}");
        }
        Assert.Equal(0, stats[SharedMemoryFaults.Gap]);
        Assert.Equal(deliverable, stats.Records);
    }

    [Fact(Timeout = 120_000)]
    public async Task MutatedHeadersAndIndicesNeverThrowAndTheRingRecoversAfterEachOne()
    {
        await Task.Yield();
        const int iterations = 200_000;
        const int capacity = 64;
        const int commandCapacity = 16;
        const ulong generation = 77;
        var size = TestRingProducer.FileSizeFor(capacity, commandCapacity);
        var memory = GC.AllocateArray<byte>((int)size, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(memory, 0);
        using var producer = TestRingProducer.OverMemory(address, capacity, commandCapacity, generation);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var tag = TestRingProducer.UserTag(info.OwnerId);
        var counters = new SharedMemoryCounters();
        var router = new RecordRouter(counters, new FakeTimeProvider(), TimeSpan.FromMilliseconds(5));
        var sink = new HashingSink(1);
        var subscription = router.CreateSubscription(info, sink);
        router.Add(subscription);
        var ring = new RingConsumer();
        Assert.Equal(HeaderStatus.Ok, ring.Attach(address, size, 0));
        var random = new Random(Seed);
        var values = new double[1];
        var recovered = 0;
        var notRecovered = new int[MutationKinds];
        var attachedToMutation = 0;
        long before = 0;

        for (var i = 0; i < iterations; i++)
        {
            if (i == 10_000)
            {
                before = GC.GetTotalMemory(forceFullCollection: true);
            }
            var mutation = Mutate(producer, random, capacity, size);
            // The consumer meets the mutated header: polls it, or (after a restart) attaches to it like the reader does.
            if (Step(ring, router, address, size, generation) && ring.Geometry.Generation != generation)
            {
                attachedToMutation++;
            }
            if (ring.IsAttached)
            {
                ring.TryWriteCommand(SharedMemoryCommandType.Start, info.Id, tag, 1, 1000, 1);
            }

            // A correct producer takes over again: within a few bounded polls the ring works again.
            producer.RestoreHeader();
            for (var attempt = 0; attempt < 6; attempt++)
            {
                if (!ring.IsAttached)
                {
                    ring.Attach(address, size, generation);
                    continue;
                }
                var result = ring.Poll(router, SharedMemoryReader.MaxBatch);
                if (result == PollResult.Idle)
                {
                    break;
                }
                if (result == PollResult.Restarted)
                {
                    ring.Detach();
                }
            }
            var samplesBefore = sink.Samples;
            values[0] = i;
            producer.Append(info.Id, tag, i, (ulong)i, values);
            Step(ring, router, address, size, generation);
            subscription.Flush();
            if (sink.Samples == samplesBefore + 1)
            {
                recovered++;
            }
            else
            {
                notRecovered[mutation]++;
            }
        }
        var after = GC.GetTotalMemory(forceFullCollection: true);

        Assert.True(iterations == recovered, "Not recovered after mutation kind: " + string.Join(", ", notRecovered.Select((n, k) => $"{k}={n}")));
        Assert.InRange(after - before, long.MinValue, MemoryBound);
        Assert.True(attachedToMutation > 0, "no mutation produced a header the consumer could attach to");
        var stats = counters.Snapshot();
        Assert.True(stats[SharedMemoryFaults.Overrun] > 1000, $"overrun: {stats[SharedMemoryFaults.Overrun]}");
        Assert.True(stats[SharedMemoryFaults.Index] > 1000, $"index: {stats[SharedMemoryFaults.Index]}");
    }

    [Fact(Timeout = 120_000)]
    public async Task AMillionMutatedHeadersAreEitherRejectedOrDescribeRingsInsideTheFile()
    {
        await Task.Yield();
        var valid = SharedMemoryLayoutTests.ValidHeader();
        var header = new byte[valid.Length];
        var random = new Random(Seed);
        var accepted = 0;
        for (var i = 0; i < 1_000_000; i++)
        {
            valid.CopyTo(header, 0);
            var fields = random.Next(1, 4);
            for (var f = 0; f < fields; f++)
            {
                var offset = random.Next(0, 64 / 4) * 4;
                if (random.Next(2) == 0)
                {
                    BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(offset), (uint)random.NextInt64(0, 1L << 32) >> random.Next(32));
                }
                else
                {
                    header[random.Next(header.Length)] ^= (byte)random.Next(1, 256);
                }
            }
            var length = random.Next(4) == 0 ? random.NextInt64(0, 1L << 41) : TestRingProducer.FileSizeFor(64, 16);

            if (SharedMemoryLayout.ValidateHeader(header, length, out var g) == HeaderStatus.Ok)
            {
                accepted++;
                Assert.InRange(g.MappedSize, 4096, length);
                Assert.InRange(g.DataOffset + (long)g.Capacity * 128, 4096, g.MappedSize);
                Assert.InRange(g.CommandOffset + (long)g.CommandCapacity * 64, 4096, g.MappedSize);
                Assert.True(g.DataOffset + (long)g.Capacity * 128 <= g.CommandOffset || g.CommandOffset + (long)g.CommandCapacity * 64 <= g.DataOffset);
            }
        }
        Assert.InRange(accepted, 1, 999_999);
    }

    private const int MutationKinds = 14;

    /// <summary>
    /// Polls when attached, else attaches. A restart detaches and attaches again at once (as the
    /// reader does). True when it attached.
    /// </summary>
    private static bool Step(RingConsumer ring, RecordRouter router, nint address, long size, ulong generation)
    {
        if (ring.IsAttached && ring.Poll(router, SharedMemoryReader.MaxBatch) != PollResult.Restarted)
        {
            return false;
        }
        ring.Detach();
        return ring.Attach(address, size, generation) == HeaderStatus.Ok;
    }

    private static int Mutate(TestRingProducer producer, Random random, int capacity, long size)
    {
        var header = producer.Bytes(0, 264);
        var w = producer.WriteIndex;
        var kind = random.Next(MutationKinds);
        switch (kind)
        {
            case 0:
                for (int f = 0, n = random.Next(1, 5); f < n; f++)
                {
                    header[random.Next(header.Length)] = (byte)random.Next(256);
                }
                break;
            case 1: BinaryPrimitives.WriteUInt64LittleEndian(header[64..], (ulong)random.NextInt64() * (ulong)random.Next(1, 4)); break;
            case 2: BinaryPrimitives.WriteUInt64LittleEndian(header[64..], w + (ulong)random.Next(1, 3 * capacity)); break;
            case 3: BinaryPrimitives.WriteUInt64LittleEndian(header[64..], w - Math.Min(w, (ulong)random.Next(1, 2 * capacity))); break;
            case 4: BinaryPrimitives.WriteUInt64LittleEndian(header[80..], (ulong)random.NextInt64()); break;
            case 5: BinaryPrimitives.WriteUInt32LittleEndian(header, random.Next(2) == 0 ? 0 : (uint)random.Next()); break;
            case 6: BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)random.Next(0, 4)); break;
            case 7:
                uint[] capacities = [0, 1, 3, 8, 15, 16, 32, 128, 1u << 25, uint.MaxValue, (uint)random.Next()];
                BinaryPrimitives.WriteUInt32LittleEndian(header[16..], capacities[random.Next(capacities.Length)]);
                break;
            case 8:
                ulong[] offsets = [0, 64, 4096, 4100, 4096 + 64, 8192, (ulong)size, (ulong)size - 64, ulong.MaxValue - 63, 1UL << 40];
                BinaryPrimitives.WriteUInt64LittleEndian(header[(random.Next(2) == 0 ? 24 : 40)..], offsets[random.Next(offsets.Length)]);
                break;
            case 9: BinaryPrimitives.WriteUInt64LittleEndian(header[48..], random.Next(2) == 0 ? (ulong)random.NextInt64() : (ulong)size + (ulong)random.Next(-100, 100)); break;
            case 10: BinaryPrimitives.WriteUInt64LittleEndian(header[56..], random.Next(3) == 0 ? 0 : (ulong)random.Next(1, 1000)); break;
            case 11: BinaryPrimitives.WriteUInt64LittleEndian(header[(random.Next(3) switch { 0 => 128, 1 => 192, _ => 256 })..], (ulong)random.NextInt64()); break;
            case 12:
                // Garbage in the data ring, then the write index points at it.
                random.NextBytes(producer.Bytes(4096 + random.Next(capacity) * 128, 128));
                BinaryPrimitives.WriteUInt64LittleEndian(header[64..], w + (ulong)random.Next(1, capacity));
                break;
            default:
                random.NextBytes(header);
                break;
        }
        return kind;
    }

    private static void Encode(byte[] record, ulong index, Guid id, ulong tag, long timestampNs, ulong counter, double[] values, uint? channelCount = null) =>
        TestRingProducer.EncodeRecord(record, index, id, tag, timestampNs, counter, values, channelCount, fastChecksum: true);

    private static void Fill(double[] values, ulong counter)
    {
        for (var c = 0; c < values.Length; c++)
        {
            values[c] = counter * 0.5 + c;
        }
    }

    /// <summary>What the consumer must deliver: float32 values, non-finite ones held at the last finite value.</summary>
    private sealed class ExpectedStream(int channels)
    {
        private readonly float[] _hold = new float[channels];

        public ulong[] Hashes { get; } = [.. Enumerable.Repeat(HashingSink.Offset, channels)];

        public void Add(double[] values)
        {
            for (var c = 0; c < channels; c++)
            {
                var v = (float)values[c];
                if (float.IsFinite(v))
                {
                    _hold[c] = v;
                }
                Hashes[c] = HashingSink.Mix(Hashes[c], _hold[c]);
            }
        }
    }

    /// <summary>Hashes every delivered value per channel in order (no copies, so memory stays flat).</summary>
    private sealed class HashingSink(int channels) : IBlockSink
    {
        public const ulong Offset = 14695981039346656037UL;

        public ulong[] Hashes { get; } = [.. Enumerable.Repeat(Offset, channels)];

        public long Samples { get; private set; }

        public static ulong Mix(ulong hash, float value) => unchecked((hash ^ BitConverter.SingleToUInt32Bits(value)) * 1099511628211UL);

        public bool Publish(SampleBlock block)
        {
            for (var c = 0; c < block.ChannelCount; c++)
            {
                foreach (var v in block.Channel(c))
                {
                    Hashes[c] = Mix(Hashes[c], v);
                }
            }
            Samples += block.Count;
            block.Release();
            return true;
        }

        public void Fault(string kind, string message)
        {
        }

        public void Fail(string message) => throw new InvalidOperationException("Bad input must never fail the measurement: " + message);
    }
}
