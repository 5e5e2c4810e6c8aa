using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Tests.Acquisition.Network;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeasureApp.Tests.Acquisition.Timing;

/// <summary>
/// Lost frames, a late frame and a collector restart over a real TCP socket, through the engine, the
/// store writer and the CSV export: every exported time stamp is the collector's, value by value.
/// </summary>
public sealed class NetworkTimestampTests
{
    private const long T = 1_700_000_000_000_000_000;
    private const long Ms = 1_000_000;
    private static readonly DeviceOptions Remote = new() { Id = "remote", Driver = NetworkDriver.DriverKind, TcpPort = 0, UdpPort = -1 };

    [Fact]
    public async Task EveryExportedTimeEqualsTheCollectorsAcrossLostFramesALateFrameAndARestart()
    {
        var tokens = new InMemoryCollectorTokens();
        await using var driver = new NetworkDriver(tokens, TimeProvider.System, Options.Create(new AcquisitionOptions { Devices = [Remote] }), NullLoggerFactory.Instance);
        var observed = new ObservedDriver(driver);
        await using var h = await EngineHarness.StartNewAsync([Remote], [observed]);
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, EngineHarness.Request(channels: 1, rate: 1000) with { DeviceId = Remote.Id });
        var token = await tokens.IssueAsync(EngineHarness.Alice.UserId, default);
        await using var collector = await TestCollector.ConnectAsync(driver.ListenerFor(Remote).TcpEndPoint);
        await collector.HelloAsync(token.Secret);
        var expected = new List<(long Ns, float Value)>();

        async Task SendAsync(ulong sequence, long t0, bool restart = false)
        {
            const int samples = 50;
            var values = Enumerable.Range(0, samples).Select(k => (float)((int)sequence * 1000 + k + (restart ? 500_000 : 0))).ToArray();
            var frame = new byte[FrameEncoder.DataFrameLength(1, samples, false)];
            FrameEncoder.WriteData(frame, new DataFrameHeader(m.Id, sequence, t0, 1000, 1, samples, restart), values, null);
            await collector.SendAsync(frame);
            expected.AddRange(values.Select((v, k) => (t0 + k * Ms, v)));
        }

        await SendAsync(0, T);
        await SendAsync(1, T + 50 * Ms);
        // Frame 2 is lost on the way: frame 3 starts 50 ms after the end of frame 1.
        await SendAsync(3, T + 150 * Ms);
        // A late frame: the collector paused, its next frame is stamped 0.5 s later than the stream predicts.
        await SendAsync(4, T + 700 * Ms);
        // The collector restarts its sequence numbers and its clock.
        await SendAsync(0, T + 5_000 * Ms, restart: true);
        await SendAsync(1, T + 5_050 * Ms);
        await observed.WaitForSamplesAsync(m.Id, expected.Count);
        Assert.True(await h.Engine.StopAsync(m.Id, EngineHarness.Alice, default));

        var exported = await ShmTimestampTests.ExportCsvAsync(h.Store, h.Store.Measurement(m.Id)!);
        Assert.Equal(expected, exported);
        var chunkStarts = h.Store.Chunks(m.Id).Select(c => c.T0Ns).ToList();
        Assert.Contains(T + 150 * Ms, chunkStarts);
        Assert.Contains(T + 700 * Ms, chunkStarts);
        Assert.Contains(T + 5_000 * Ms, chunkStarts);
        var faults = h.Store.Measurement(m.Id)!.Faults;
        Assert.Equal(1, faults[NetworkFaultKinds.SequenceGap]);
        Assert.Equal(1, faults[NetworkFaultKinds.CollectorRestart]);
    }
}
