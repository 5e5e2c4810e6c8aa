using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Scpi;
using MeasureApp.ScpiSim;
using static MeasureApp.Tests.Acquisition.Scpi.ScpiTestKit;

namespace MeasureApp.Tests.Acquisition.Scpi;

/// <summary>
/// Polled mode against the simulated DMM over a real loopback socket, paced by a fake clock in lock
/// step: the test advances one period only after the simulator answered the previous tick, so every
/// timestamp is known exactly.
/// </summary>
public sealed class ScpiPolledTests
{
    private const double Rate = 100;
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);

    private static DeviceOptions Dmm(int port, string errorQuery = "SYST:ERR?", params string[] init) => new()
    {
        Id = "dmm",
        Driver = ScpiDriver.DriverKind,
        Host = "127.0.0.1",
        Port = port,
        TimeoutMilliseconds = 5000,
        Mode = ScpiMode.Polled,
        ErrorQuery = errorQuery,
        InitCommands = [.. init],
        Channels =
        [
            new() { Name = "v", Query = "MEAS:VOLT:DC?", Scale = 2, Offset = 0.5 },
            new() { Name = "i", Unit = "mA", Query = "MEAS:CURR:DC?", Scale = 1000 },
        ],
    };

    /// <summary>Commands the driver sends per tick: two channel queries and the error query.</summary>
    private const int CommandsPerTick = 3;

    private static async Task TickAsync(ScpiSimulator sim, long commandsBefore, int ticks, Microsoft.Extensions.Time.Testing.FakeTimeProvider clock)
    {
        for (var k = 1; k <= ticks; k++)
        {
            var target = commandsBefore + (k * CommandsPerTick);
            await WaitUntilAsync(() => sim.CommandsHandled >= target, $"tick {k} answered");
            clock.Advance(Period);
        }
    }

    [Fact]
    public async Task PolledReadingsArriveScaledAndOffsetWithTheirOwnTimestamps()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();
        var device = Dmm(sim.Port, init: ["*RST", "CONF:VOLT:DC 10"]);

        await using (var run = Driver(clock).Start(device, Measurement(2, Rate), sink))
        {
            // Init: *RST, CONF, SYST:ERR? = 3 commands; then 10 ticks of 5-reading blocks (50 ms at 100 Hz).
            await WaitUntilAsync(() => sim.CommandsHandled >= 3, "the init batch");
            await TickAsync(sim, 3, 10, clock);
            await WaitUntilAsync(() => sink.Samples >= 10, "two blocks");
        }

        var blocks = sink.Blocks;
        Assert.Equal([5, 5], blocks.Take(2).Select(b => b.Count));
        Assert.Equal(EpochNs, blocks[0].T0Ns);
        Assert.Equal(EpochNs + 50_000_000, blocks[1].T0Ns);
        var v = blocks.Take(2).SelectMany(b => b.Channels[0]).ToArray();
        var i = blocks.Take(2).SelectMany(b => b.Channels[1]).ToArray();
        for (var k = 0; k < 10; k++)
        {
            Assert.Equal((float)((ScpiSimulator.DmmVoltage(k) * 2) + 0.5), v[k], 5);
            Assert.Equal((float)(ScpiSimulator.DmmCurrent(k) * 1000), i[k], 5);
        }
        Assert.Empty(sink.Faults);
        Assert.False(sink.Failed.IsCompleted);
    }

    [Fact]
    public async Task AMissedTickEndsTheBlockAndTheNextStartsAtItsOwnReadingTime()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();

        await using (var run = Driver(clock).Start(Dmm(sim.Port), Measurement(2, Rate), sink))
        {
            await WaitUntilAsync(() => sim.CommandsHandled >= 1, "the init error check");
            // Ticks 0–6 answered (one full block of 5, two readings staged), the clock at tick 6's 60 ms…
            await TickAsync(sim, 1, 6, clock);
            await WaitUntilAsync(() => sim.CommandsHandled >= 1 + (7 * CommandsPerTick), "tick 6 answered");
            // …then the machine stalls for longer than a block interval (50 ms): the next reading happens
            // at 140 ms, ticks 7–13 are never taken.
            clock.Advance(8 * Period);
            await TickAsync(sim, 1 + (7 * CommandsPerTick), 5, clock);
            await WaitUntilAsync(() => sink.Samples >= 12, "three blocks");
        }

        var blocks = sink.Blocks;
        Assert.Equal([5, 2, 5], blocks.Take(3).Select(b => b.Count));
        Assert.Equal(EpochNs, blocks[0].T0Ns);
        Assert.Equal(EpochNs + 50_000_000, blocks[1].T0Ns);
        Assert.Equal(EpochNs + 140_000_000, blocks[2].T0Ns);
        // Readings stay in the instrument's order: the gap is in time, not in values.
        Assert.Equal((float)((ScpiSimulator.DmmVoltage(7) * 2) + 0.5), blocks[2].Channels[0][0], 5);
        var overrun = Assert.Single(sink.Faults);
        Assert.Equal(ScpiDriver.OverrunFault, overrun.Kind);
        Assert.Contains("7 reading(s) behind", overrun.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheInstrumentsErrorQueueReachesTheOwnerAsFaultsWithTheErrorText()
    {
        await using var sim = new ScpiSimulator(new ScpiSimulatorOptions { ErrorEveryReadings = 4 });
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();

        await using (var run = Driver(clock).Start(Dmm(sim.Port, init: ["*RST", "CONF:BOGUS 10"]), Measurement(2, Rate), sink))
        {
            // Init (2) + error query answered with the error (1) + the empty queue (1); then two ticks.
            await WaitUntilAsync(() => sim.CommandsHandled >= 4, "the init batch");
            await TickAsync(sim, 4, 2, clock);
            await WaitUntilAsync(() => sink.Faults.Count >= 2, "two instrument errors");
        }

        var faults = sink.Faults;
        Assert.All(faults, f => Assert.Equal(ScpiDriver.InstrumentErrorFault, f.Kind));
        Assert.Contains("-113,\"Undefined header\" after the init commands", faults[0].Message, StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{sim.Port}", faults[0].Message, StringComparison.Ordinal);
        // The fourth reading (tick 1, current channel) queued -230: reported after that tick's batch.
        Assert.Contains("-230,\"Data corrupt or stale\" after the readings", faults[1].Message, StringComparison.Ordinal);
        Assert.False(sink.Failed.IsCompleted);
    }

    [Fact]
    public async Task AnAnswerThatIsNotANumberIsAFaultAndTheNextTickGoesOn()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();

        await using (var run = Driver(clock, blockMilliseconds: 10).Start(Dmm(sim.Port, errorQuery: ""), Measurement(1, Rate), sink))
        {
            await WaitUntilAsync(() => sim.ReadingsServed >= 1, "tick 0");
            sim.InjectNext(ScpiSimFault.GarbageReading);
            clock.Advance(Period);
            await WaitUntilAsync(() => sink.Faults.Count >= 1, "the bad reading");
            clock.Advance(Period);
            await WaitUntilAsync(() => sink.Samples >= 2, "tick 2");
        }

        var fault = Assert.Single(sink.Faults);
        Assert.Equal(ScpiDriver.BadReadingFault, fault.Kind);
        Assert.Contains("OVLD-NOT-A-NUMBER", fault.Message, StringComparison.Ordinal);
        var blocks = sink.Blocks;
        Assert.Equal(EpochNs, blocks[0].T0Ns);
        Assert.Equal(EpochNs + 20_000_000, blocks[1].T0Ns);
        Assert.Equal((float)((ScpiSimulator.DmmVoltage(1) * 2) + 0.5), blocks[1].Channels[0][0], 5);
    }

    [Fact]
    public async Task ADroppedConnectionStopsTheRunWithAReasonNamingTheHost()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();

        await using var run = Driver(clock, blockMilliseconds: 10).Start(Dmm(sim.Port), Measurement(2, Rate), sink);
        await WaitUntilAsync(() => sink.Samples >= 1, "tick 0");
        sim.DropAll();
        clock.Advance(Period);
        var reason = await sink.Failed.WaitAsync(Guard);

        Assert.StartsWith($"Lost the connection to SCPI device 'dmm' at 127.0.0.1:{sim.Port}", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnInstrumentThatIsNotThereFailsTheRunNamingTheAddress()
    {
        var sink = new RecordingSink();
        int port;
        await using (var gone = new ScpiSimulator())
        {
            gone.Start();
            port = gone.Port;
        }

        await using var run = Driver(Clock()).Start(Dmm(port), Measurement(1, Rate), sink);
        var reason = await sink.Failed.WaitAsync(Guard);

        Assert.Contains($"could not connect to 127.0.0.1:{port}", reason, StringComparison.Ordinal);
    }
}
