using MeasureApp.Acquisition.Devices.SharedMemory;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition.SharedMemory;

/// <summary>The driver end to end over a real memory-mapped file, fed by <see cref="TestRingProducer"/>.</summary>
public sealed class SharedMemoryDriverTests : IDisposable
{
    private const long T0 = 1_700_000_000_000_000_000;
    private readonly ShmFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task RecordsArriveInOrderAsBlocksWithTheirValues()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 1024);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 3, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);
        var tag = TestRingProducer.UserTag(info.OwnerId);

        const int n = 1000;
        for (var i = 0; i < n; i++)
        {
            producer.Append(info.Id, tag, T0 + i * 1_000_000L, (ulong)i, [i * 0.1, -i * 0.25, 1e6 + i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= n, "1000 samples");

        Assert.Equal(Enumerable.Range(0, n).Select(i => (float)(i * 0.1)), sink.Channel(0));
        Assert.Equal(Enumerable.Range(0, n).Select(i => (float)(-i * 0.25)), sink.Channel(1));
        Assert.Equal(Enumerable.Range(0, n).Select(i => (float)(1e6 + i)), sink.Channel(2));
        var blocks = sink.Blocks;
        Assert.Equal(n, blocks.Sum(b => b.Count));
        // Batched by time/size (5 ms at 1 kHz = 5 samples), each block starting at its first record's time.
        Assert.True(blocks.Count >= n / 5, $"{blocks.Count} blocks");
        Assert.All(blocks, b => Assert.InRange(b.Count, 1, 5));
        long index = 0;
        foreach (var b in blocks)
        {
            Assert.Equal(T0 + index * 1_000_000, b.T0Ns);
            Assert.Equal(1000, b.Rate);
            index += b.Count;
        }
        Assert.Equal(0, sink.FaultTotal);
        Assert.Equal(n, driver.GetStatistics(path)!.Records);
    }

    [Fact]
    public async Task RecordsOfOtherMeasurementsOrUsersAreCountedAndNeverDelivered()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 1024);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);
        var tag = TestRingProducer.UserTag(info.OwnerId);
        var otherMeasurement = Guid.NewGuid();
        var otherTag = TestRingProducer.UserTag("user-2");

        const int n = 300;
        for (var i = 0; i < n; i++)
        {
            producer.Append(otherMeasurement, tag, T0, (ulong)i, [-1.0]);
            if (i % 10 == 0)
            {
                // Right measurement id, wrong user: a routing mix-up that must not leak into this measurement.
                producer.Append(info.Id, otherTag, T0, (ulong)i, [-2.0]);
            }
            producer.Append(info.Id, tag, T0 + i * 1_000_000L, (ulong)i, [i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= n, "300 own samples");
        await ShmTest.EventuallyAsync(() => driver.GetStatistics(path)![SharedMemoryFaults.Foreign] == n, "the foreign records counted");

        Assert.Equal(Enumerable.Range(0, n).Select(i => (float)i), sink.Channel(0));
        Assert.Equal(n / 10, sink.Faults(SharedMemoryFaults.User));
        // Another measurement's records are the device's business, never reported to this measurement's owner.
        Assert.Equal(0, sink.Faults(SharedMemoryFaults.Foreign));
        var stats = driver.GetStatistics(path)!;
        Assert.Equal(n, stats[SharedMemoryFaults.Foreign]);
        Assert.Equal(n / 10, stats[SharedMemoryFaults.User]);
        Assert.Equal(n, stats.Records);
    }

    [Fact]
    public async Task StartAndStopCommandsAppearInTheCommandRing()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 2, rate: 2500, owner: "0b6c4a6e-5c1e-4a36-9d0e-3f1f1e1c2d3b");

        var run = driver.Start(device, info, new ShmSink());
        var start = Assert.Single(producer.ReadCommands());
        await run.DisposeAsync();
        var stop = Assert.Single(producer.ReadCommands());

        Assert.Equal(TestCommand.Start, start.Type);
        Assert.Equal(info.Id, start.MeasurementId);
        Assert.Equal(TestRingProducer.UserTag(info.OwnerId), start.UserTag);
        Assert.Equal(2u, start.Channels);
        Assert.Equal(2500, start.SampleRate);
        Assert.True(start.IssuedAtNs > 0);
        Assert.Equal(TestCommand.Stop, stop.Type);
        Assert.Equal(info.Id, stop.MeasurementId);
        Assert.Equal(start.UserTag, stop.UserTag);
        Assert.Null(driver.GetStatistics(path));
    }

    [Fact]
    public async Task AnOverrunIsCountedAndTheStreamResumes()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 64);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);
        var tag = TestRingProducer.UserTag(info.OwnerId);

        for (var i = 0; i < 50; i++)
        {
            producer.Append(info.Id, tag, T0 + i * 1_000_000L, (ulong)i, [i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= 50, "the first 50 samples");

        // A producer that ignores the read index runs three laps ahead in one go.
        producer.AppendLapping(info.Id, tag, T0, firstCounter: 50, records: 200, value: -1);
        await sink.WaitUntilAsync(s => s.Faults(SharedMemoryFaults.Overrun) >= 1, "the overrun");
        for (var i = 250; i < 300; i++)
        {
            producer.Append(info.Id, tag, T0 + i * 1_000_000L, (ulong)i, [i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= 100, "the samples after the overrun");

        // A correct producer that had to drop records says so in the overrun counter.
        producer.AddOverruns(7);
        producer.Append(info.Id, tag, T0 + 307 * 1_000_000L, 307, [307]);
        await sink.WaitUntilAsync(s => s.Samples >= 101 && s.Faults(SharedMemoryFaults.Overrun) >= 2, "the producer-reported overrun");

        Assert.Equal([.. Enumerable.Range(0, 50).Select(i => (float)i), .. Enumerable.Range(250, 50).Select(i => (float)i), 307f], sink.Channel(0));
        Assert.DoesNotContain(-1f, sink.Channel(0));
        Assert.Equal(2, sink.Faults(SharedMemoryFaults.Gap));
        var stats = driver.GetStatistics(path)!;
        Assert.Equal(2, stats[SharedMemoryFaults.Overrun]);
        Assert.Equal(200 + 7, stats.LostRecords);
        Assert.Equal(200 + 7, stats.MissingSamples);
    }

    [Fact]
    public async Task AProducerRestartResendsTheStartCommandAndTheStreamResynchronises()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 256);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 2, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);
        var tag = TestRingProducer.UserTag(info.OwnerId);
        Assert.Single(producer.ReadCommands());

        for (var i = 0; i < 20; i++)
        {
            producer.Append(info.Id, tag, T0 + i * 1_000_000L, (ulong)i, [i, 100 + i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= 20, "20 samples before the restart");

        var oldGeneration = producer.Generation;
        producer.Initialise(oldGeneration + 1);
        var commands = new List<TestCommand>();
        await ShmTest.EventuallyAsync(() =>
        {
            commands.AddRange(producer.ReadCommands());
            return commands.Count > 0;
        }, "the start command in the new generation's ring");
        for (var i = 0; i < 20; i++)
        {
            // The restarted producer counts from 0 again for the measurement it was told about.
            producer.Append(info.Id, tag, T0 + (1000 + i) * 1_000_000L, (ulong)i, [1000 + i, 2000 + i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= 40, "20 samples after the restart");

        var start = Assert.Single(commands);
        Assert.Equal(TestCommand.Start, start.Type);
        Assert.Equal(info.Id, start.MeasurementId);
        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => (float)i), .. Enumerable.Range(1000, 20).Select(i => (float)i)], sink.Channel(0));
        Assert.Equal([.. Enumerable.Range(100, 20).Select(i => (float)i), .. Enumerable.Range(2000, 20).Select(i => (float)i)], sink.Channel(1));
        Assert.True(sink.Faults(SharedMemoryFaults.Restart) >= 1, sink.Describe());
        Assert.Equal(0, sink.Faults(SharedMemoryFaults.Duplicate));
        Assert.Equal(T0 + 1000 * 1_000_000L, sink.Blocks.First(b => b.T0Ns >= T0 + 1000 * 1_000_000L).T0Ns);
    }

    [Fact]
    public async Task AReplacedFileIsNoticedAndTheStreamContinuesInTheNewOne()
    {
        var path = _files.NewPath();
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var sink = new ShmSink();
        var tag = TestRingProducer.UserTag(info.OwnerId);
        await using var run = driver.Start(device, info, sink);
        Assert.Equal(1, sink.Faults(SharedMemoryFaults.Missing));

        using (var first = TestRingProducer.CreateFile(path, capacity: 64))
        {
            await ShmTest.EventuallyAsync(() => first.ReadCommands().Count > 0, "the start command in the first file");
            first.Append(info.Id, tag, T0, 0, [1]);
            await sink.WaitUntilAsync(s => s.Samples >= 1, "the first file's sample");
            // Unlink and create: the mapping still shows the old inode, only the path tells.
            File.Delete(path);
        }
        using var second = TestRingProducer.CreateFile(path, capacity: 128);
        await ShmTest.EventuallyAsync(() => second.ReadCommands().Count > 0, "the start command in the replacing file");
        second.Append(info.Id, tag, T0 + 5_000_000, 0, [2]);
        await sink.WaitUntilAsync(s => s.Samples >= 2, "the replacing file's sample");

        Assert.Equal([1f, 2f], sink.Channel(0));
        Assert.True(sink.Faults(SharedMemoryFaults.Restart) + sink.Faults(SharedMemoryFaults.Missing) >= 2, sink.Describe());
    }

    [Fact]
    public async Task AMissingFileIsReportedAndTheDriverAttachesOnceTheProducerCreatesIt()
    {
        var path = _files.NewPath();
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 500);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);

        Assert.Equal(1, sink.Faults(SharedMemoryFaults.Missing));
        using var producer = TestRingProducer.CreateFile(path, capacity: 64);
        var commands = new List<TestCommand>();
        await ShmTest.EventuallyAsync(() =>
        {
            commands.AddRange(producer.ReadCommands());
            return commands.Count > 0;
        }, "the start command once the file exists");
        producer.Append(info.Id, TestRingProducer.UserTag(info.OwnerId), T0, 0, [42]);
        await sink.WaitUntilAsync(s => s.Samples >= 1, "the sample");

        Assert.Equal(info.Id, Assert.Single(commands).MeasurementId);
        Assert.Equal([42f], sink.Channel(0));
        Assert.Null(sink.Failure);
    }

    [Fact]
    public async Task ATruncatedFileIsReportedWithoutBeingMappedAndTheDriverAttachesOnceItIsComplete()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 1024);
        using (var shrink = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            shrink.SetLength(6000);
        }
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);

        Assert.Equal(1, sink.Faults(SharedMemoryFaults.Truncated));
        using (var grow = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            grow.SetLength(producer.Length);
        }
        await ShmTest.EventuallyAsync(() => producer.ReadCommands().Count > 0, "the start command once the file is complete");
        producer.Append(info.Id, TestRingProducer.UserTag(info.OwnerId), T0, 0, [7]);
        await sink.WaitUntilAsync(s => s.Samples >= 1, "the sample");

        Assert.Equal([7f], sink.Channel(0));
    }

    [Fact]
    public async Task AWrongMagicOrVersionIsReportedAndTheDriverAttachesOnceTheHeaderIsValid()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 64);
        producer.SetMagic(0xDEADBEEF);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);

        Assert.Equal(1, sink.Faults(SharedMemoryFaults.Header));
        producer.SetVersion(2);
        producer.SetMagic(0x4D48534D);
        await sink.WaitUntilAsync(s => s.Faults(SharedMemoryFaults.Header) >= 2, "the version to be reported");
        producer.SetVersion(1);
        await ShmTest.EventuallyAsync(() => producer.ReadCommands().Count > 0, "the start command once the header is valid");
        producer.Append(info.Id, TestRingProducer.UserTag(info.OwnerId), T0, 0, [3]);
        await sink.WaitUntilAsync(s => s.Samples >= 1, "the sample");

        Assert.Equal([3f], sink.Channel(0));
        Assert.Equal(2, sink.Faults(SharedMemoryFaults.Header));
    }

    [Fact]
    public async Task NonFiniteValuesAreReplacedByTheLastFiniteValueAndCounted()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 64);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 2, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);
        var tag = TestRingProducer.UserTag(info.OwnerId);

        double[] ch0 = [double.NaN, 1, double.NaN, 3, double.PositiveInfinity, double.NegativeInfinity, 6, 1e300, 8];
        for (var i = 0; i < ch0.Length; i++)
        {
            producer.Append(info.Id, tag, T0 + i * 1_000_000L, (ulong)i, [ch0[i], 10 + i]);
        }
        await sink.WaitUntilAsync(s => s.Samples >= ch0.Length, "all samples");

        // Before any finite value the hold value is 0; 1e300 does not fit float32 and counts as infinite.
        Assert.Equal([0f, 1, 1, 3, 3, 3, 6, 6, 8], sink.Channel(0));
        Assert.Equal(Enumerable.Range(10, ch0.Length).Select(i => (float)i), sink.Channel(1));
        Assert.Equal(5, sink.Faults(SharedMemoryFaults.NonFinite));
    }

    [Fact]
    public async Task CorruptRecordsInTheRingAreSkippedAndCountedAndTheStreamGoesOn()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 64);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var info = ShmTest.Info(channels: 1, rate: 1000);
        var sink = new ShmSink();
        await using var run = driver.Start(device, info, sink);
        var tag = TestRingProducer.UserTag(info.OwnerId);

        for (var i = 0; i < 10; i++)
        {
            var ts = T0 + i * 1_000_000L;
            switch (i)
            {
                case 3:
                    producer.Append(info.Id, tag, ts, (ulong)i, [i], corruptChecksum: true);
                    break;
                case 5:
                    producer.Append(info.Id, tag, ts, (ulong)i, [i], channelCount: 9);
                    break;
                case 7:
                    producer.Append(info.Id, tag, ts, (ulong)i, [i, i]);
                    break;
                default:
                    producer.Append(info.Id, tag, ts, (ulong)i, [i]);
                    break;
            }
        }
        await sink.WaitUntilAsync(s => s.Samples >= 7, "the 7 good samples");

        Assert.Equal([0f, 1, 2, 4, 6, 8, 9], sink.Channel(0));
        Assert.Equal(1, sink.Faults(SharedMemoryFaults.Checksum));
        Assert.Equal(2, sink.Faults(SharedMemoryFaults.Channels));
        Assert.Equal(3, sink.Faults(SharedMemoryFaults.Gap));
        // After a gap a new block starts at the time of the record after it.
        Assert.Contains(sink.Blocks, b => b.T0Ns == T0 + 4 * 1_000_000L);
    }

    [Fact]
    public async Task AStalledProducerIsReported()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 64);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var device = ShmTest.Device(path, heartbeatTimeoutMilliseconds: 2000);
        var driver = ShmTest.CreateDriver(device, time);
        var sink = new ShmSink();
        await using var run = driver.Start(device, ShmTest.Info(channels: 1, rate: 1000), sink);

        time.Advance(TimeSpan.FromMilliseconds(device.HeartbeatTimeoutMilliseconds + 1));
        await sink.WaitUntilAsync(s => s.Faults(SharedMemoryFaults.Stalled) >= 1, "the stall");

        Assert.Equal(1, sink.Faults(SharedMemoryFaults.Stalled));
    }

    [Fact]
    public async Task TwoMeasurementsOnOneRingEachReceiveOnlyTheirOwnRecords()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 1024);
        var device = ShmTest.Device(path);
        var driver = ShmTest.CreateDriver(device);
        var a = ShmTest.Info(channels: 1, rate: 1000, owner: "alice");
        var b = ShmTest.Info(channels: 2, rate: 2000, owner: "bob");
        var sinkA = new ShmSink();
        var sinkB = new ShmSink();
        await using var runA = driver.Start(device, a, sinkA);
        await using var runB = driver.Start(device, b, sinkB);

        Assert.Equal([a.Id, b.Id], producer.ReadCommands().Select(c => c.MeasurementId));
        for (var i = 0; i < 200; i++)
        {
            producer.Append(a.Id, TestRingProducer.UserTag("alice"), T0, (ulong)i, [i]);
            producer.Append(b.Id, TestRingProducer.UserTag("bob"), T0, (ulong)i, [-i, 1000 + i]);
        }
        await sinkA.WaitUntilAsync(s => s.Samples >= 200, "alice's samples");
        await sinkB.WaitUntilAsync(s => s.Samples >= 200, "bob's samples");

        Assert.Equal(Enumerable.Range(0, 200).Select(i => (float)i), sinkA.Channel(0));
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (float)-i), sinkB.Channel(0));
        Assert.Equal(Enumerable.Range(1000, 200).Select(i => (float)i), sinkB.Channel(1));
        Assert.Equal(0, sinkA.FaultTotal + sinkB.FaultTotal);

        await runA.DisposeAsync();
        Assert.Equal(TestCommand.Stop, Assert.Single(producer.ReadCommands()).Type);
        Assert.NotNull(driver.GetStatistics(path));
    }

    [Fact]
    public void AMeasurementOnADeviceWithoutAPathFailsWithAMessageNamingTheSetting()
    {
        var device = ShmTest.Device(path: "");
        var sink = new ShmSink();

        var run = ShmTest.CreateDriver(device).Start(device, ShmTest.Info(channels: 1, rate: 1000), sink);

        Assert.NotNull(run);
        Assert.Contains("Acquisition:Devices:N:Path", sink.Failure, StringComparison.Ordinal);
    }
}
