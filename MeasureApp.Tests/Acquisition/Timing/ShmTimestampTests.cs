using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.SharedMemory;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Export;
using MeasureApp.Tests.Acquisition.SharedMemory;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition.Timing;

/// <summary>
/// Gaps, skipped records, overruns and a producer restart through the real mapped file, the engine,
/// the store writer and the CSV export: every exported time stamp is the producer's, value by value.
/// </summary>
public sealed class ShmTimestampTests : IDisposable
{
    private const long T0 = 1_700_000_000_000_000_000;
    private const long Ms = 1_000_000;
    private readonly ShmFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task EveryExportedTimeEqualsTheProducersAcrossGapsSkippedRecordsOverrunsAndARestart()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 1024);
        var device = ShmTest.Device(path);
        var (h, shm, faults) = await StartEngineAsync(device);
        await using var _ = h;
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, new StartRequest { DeviceId = device.Id, Name = "shm", Channels = 1, SampleRate = 1000 });
        var tag = TestRingProducer.UserTag(m.OwnerId);
        var expected = new List<(long Ns, float Value)>();

        void Write(long t0, int from, int to, int valueOffset = 0)
        {
            for (var c = from; c < to; c++)
            {
                producer.Append(m.Id, tag, t0 + c * Ms, (ulong)c, [c + valueOffset]);
                expected.Add((t0 + c * Ms, c + valueOffset));
            }
        }

        Write(T0, 0, 100);
        // Counter gap: 100–109 never written.
        Write(T0, 110, 200);
        // A record with a bad checksum is skipped; the next one follows a gap of one.
        producer.Append(m.Id, tag, T0 + 200 * Ms, 200, [-1], corruptChecksum: true);
        Write(T0, 201, 250);
        // The producer had to drop 5 records (ring full) and says so.
        producer.AddOverruns(5);
        Write(T0, 255, 300);
        await shm.WaitForSamplesAsync(m.Id, expected.Count - 5);

        // The producer restarts: new generation, counters from 0, its clock 10 s later.
        producer.Initialise(producer.Generation + 1);
        await ShmTest.EventuallyAsync(() => producer.ReadCommands().Any(c => c.Type == TestCommand.Start && c.MeasurementId == m.Id), "the start command after the restart");
        Write(T0 + 10_000 * Ms, 0, 50, valueOffset: 5000);

        // The stop drains the ring: the last records are stored although no block was full yet.
        Assert.True(await h.Engine.StopAsync(m.Id, EngineHarness.Alice, CancellationToken.None));

        var exported = await ExportCsvAsync(h.Store, h.Store.Measurement(m.Id)!);
        Assert.Equal(expected.Count, exported.Count);
        Assert.Equal(expected, exported);

        // Each discontinuity started a stored chunk at its own time.
        var chunkStarts = h.Store.Chunks(m.Id).Select(c => c.T0Ns).ToList();
        Assert.Contains(T0 + 110 * Ms, chunkStarts);
        Assert.Contains(T0 + 201 * Ms, chunkStarts);
        Assert.Contains(T0 + 255 * Ms, chunkStarts);
        Assert.Contains(T0 + 10_000 * Ms, chunkStarts);

        // The owner sees each kind with its count; the device counted them too.
        var info = h.Store.Measurement(m.Id)!;
        Assert.Equal(1, info.Faults[SharedMemoryFaults.Checksum]);
        Assert.Equal(5, info.Faults[SharedMemoryFaults.Overrun]);
        Assert.True(info.Faults[SharedMemoryFaults.Restart] >= 1);
        Assert.Equal(3, info.Faults[SharedMemoryFaults.Gap]);
        Assert.Equal(5, faults.Of(device.Id)[SharedMemoryFaults.Overrun]);
        Assert.Equal(3, faults.Of(device.Id)[SharedMemoryFaults.Gap]);
    }

    [Fact]
    public async Task RecordsOfAStoppedMeasurementCountOnTheDeviceNotOnTheMeasurementsStillRunning()
    {
        var path = _files.NewPath();
        using var producer = TestRingProducer.CreateFile(path, capacity: 1024);
        var device = ShmTest.Device(path);
        var (h, shm, faults) = await StartEngineAsync(device);
        await using var _ = h;
        var request = new StartRequest { DeviceId = device.Id, Name = "shm", Channels = 1, SampleRate = 1000 };
        var alice = await h.StartMeasurementAsync(EngineHarness.Alice, request);
        var bob = await h.StartMeasurementAsync(EngineHarness.Bob, request);

        // Alice's producer wrote 40 records before her stop command: all stored.
        for (var c = 0; c < 40; c++)
        {
            producer.Append(alice.Id, TestRingProducer.UserTag(alice.OwnerId), T0 + c * Ms, (ulong)c, [c]);
        }
        Assert.True(await h.Engine.StopAsync(alice.Id, EngineHarness.Alice, CancellationToken.None));
        Assert.Equal(40, h.Store.Measurement(alice.Id)!.SampleCount);
        Assert.Equal(40, h.Store.Chunks(alice.Id).Sum(c => c.SampleCount));

        // 7 more arrive after it (the producer had not read the stop yet), then Bob's data.
        for (var c = 40; c < 47; c++)
        {
            producer.Append(alice.Id, TestRingProducer.UserTag(alice.OwnerId), T0 + c * Ms, (ulong)c, [c]);
        }
        for (var c = 0; c < 20; c++)
        {
            producer.Append(bob.Id, TestRingProducer.UserTag(bob.OwnerId), T0 + c * Ms, (ulong)c, [c]);
        }
        await shm.WaitForSamplesAsync(bob.Id, 20);
        h.Time.Advance(TimeSpan.FromSeconds(2));
        await ShmTest.EventuallyAsync(() => faults.Of(device.Id).GetValueOrDefault(SharedMemoryFaults.Foreign) == 7, "the 7 late records on the device");

        Assert.Empty(h.Engine.Find(bob.Id, EngineHarness.Bob)!.Faults);
        Assert.Equal(40, h.Store.Measurement(alice.Id)!.SampleCount);
    }

    /// <summary>The engine with the real shared-memory driver; engine and driver share the device fault counts.</summary>
    private static async Task<(EngineHarness Harness, ObservedDriver Shm, DeviceFaults Faults)> StartEngineAsync(DeviceOptions device)
    {
        var time = new FakeTimeProvider();
        var faults = new DeviceFaults(time, NullLogger<DeviceFaults>.Instance);
        var shm = new ObservedDriver(new SharedMemoryDriver(time, Microsoft.Extensions.Options.Options.Create(new AcquisitionOptions { Devices = [device], BlockMilliseconds = 5 }),
            NullLogger<SharedMemoryDriver>.Instance, faults));
        return (await EngineHarness.StartNewAsync([device], [shm], faults, time), shm, faults);
    }

    /// <summary>The CSV export of a whole measurement (seconds since the epoch), parsed back to exact nanoseconds.</summary>
    internal static async Task<List<(long Ns, float Value)>> ExportCsvAsync(ISampleStore store, MeasurementInfo info)
    {
        var record = MeasureApp.Data.MeasurementMapping.ToRecord(info);
        var plan = new ExportPlan
        {
            Measurement = record,
            AllChannels = info.Channels,
            Channels = [0],
            FromIndex = 0,
            ToIndex = info.SampleCount,
            StartNs = 0,
            Format = ExportFormat.Csv,
            Time = ExportTimeStyle.Seconds,
        };
        var pipe = new Pipe();
        var write = Task.Run(async () =>
        {
            await CsvExportWriter.WriteAsync(pipe.Writer, plan, store.ReadRawAsync(info.Id, 0, info.SampleCount, [0], CancellationToken.None), CancellationToken.None);
            await pipe.Writer.CompleteAsync();
        });
        using var text = new StreamReader(pipe.Reader.AsStream(), Encoding.UTF8);
        var csv = await text.ReadToEndAsync();
        await write;
        var rows = new List<(long, float)>();
        foreach (var line in csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            var parts = line.Split(',');
            var seconds = parts[0].Split('.');
            var ns = long.Parse(seconds[0], CultureInfo.InvariantCulture) * 1_000_000_000 + long.Parse(seconds[1], CultureInfo.InvariantCulture);
            rows.Add((ns, float.Parse(parts[1], CultureInfo.InvariantCulture)));
        }
        return rows;
    }
}
