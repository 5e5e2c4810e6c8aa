using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Scpi;
using MeasureApp.ScpiSim;
using static MeasureApp.Tests.Acquisition.Scpi.ScpiTestKit;

namespace MeasureApp.Tests.Acquisition.Scpi;

/// <summary>
/// Block mode against the simulated scope over a real loopback socket: every data format and byte
/// order, timestamps t0 + i/rate from the fake clock, and malformed blocks as faults, never crashes.
/// </summary>
public sealed class ScpiBlockTests
{
    private const int Points = 100;
    private const double Rate = 10_000;
    private static readonly TimeSpan BlockSpan = TimeSpan.FromMilliseconds(10);

    private static DeviceOptions Scope(int port, ScpiDataFormat format, string simFormat, string byteOrder, int channels, double scale, double offset, int timeoutMs = 5000) => new()
    {
        Id = "scope",
        Driver = ScpiDriver.DriverKind,
        Host = "127.0.0.1",
        Port = port,
        TimeoutMilliseconds = timeoutMs,
        Mode = ScpiMode.Block,
        DataFormat = format,
        SampleIntervalSeconds = 1 / Rate,
        InitCommands = ["*RST", $":WAV:FORM {simFormat}", $":WAV:BYT {byteOrder}", $":WAV:POIN {Points}"],
        Channels = [.. Enumerable.Range(1, channels).Select(c => new SimulatedChannelOptions { Name = $"ch{c}", Query = $":WAV:SOUR CHAN{c};:WAV:DATA?", Scale = scale, Offset = offset })],
    };

    public static TheoryData<ScpiDataFormat, string, string, ScpiSimWaveFormat> Formats => new()
    {
        { ScpiDataFormat.Int8, "BYTE", "LSBF", ScpiSimWaveFormat.Byte },
        { ScpiDataFormat.UInt8, "UBYT", "LSBF", ScpiSimWaveFormat.UnsignedByte },
        { ScpiDataFormat.Int16LittleEndian, "WORD", "LSBF", ScpiSimWaveFormat.Word },
        { ScpiDataFormat.Int16BigEndian, "WORD", "MSBF", ScpiSimWaveFormat.Word },
        { ScpiDataFormat.Float32LittleEndian, "FLO", "LSBF", ScpiSimWaveFormat.FloatingPoint },
        { ScpiDataFormat.Float32BigEndian, "FLO", "MSBF", ScpiSimWaveFormat.FloatingPoint },
        { ScpiDataFormat.Ascii, "ASC", "LSBF", ScpiSimWaveFormat.Ascii },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task BlocksDecodeToScaledValuesStampedAtT0PlusIndexOverRate(ScpiDataFormat format, string simFormat, string byteOrder, ScpiSimWaveFormat expected)
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();
        const double scale = 0.5, offset = -0.25;

        await using (var run = Driver(clock, blockMilliseconds: 5).Start(Scope(sim.Port, format, simFormat, byteOrder, 2, scale, offset), Measurement(2, Rate), sink))
        {
            for (var k = 1; k <= 3; k++)
            {
                var blocks = k;
                await WaitUntilAsync(() => sink.Blocks.Count >= blocks, $"block {k}");
                clock.Advance(BlockSpan);
            }
        }

        var received = sink.Blocks;
        Assert.Empty(sink.Faults);
        for (var b = 0; b < 3; b++)
        {
            Assert.Equal(Points, received[b].Count);
            // The next query is due when the previous block's span has passed: blocks sit end to end.
            Assert.Equal(EpochNs + (b * 10_000_000L), received[b].T0Ns);
            for (var c = 0; c < 2; c++)
            {
                for (var i = 0; i < Points; i++)
                {
                    var raw = ScpiSimulator.ScopeRaw(expected, c, (b * Points) + i);
                    Assert.Equal((float)((raw * scale) + offset), received[b].Channels[c][i]);
                }
            }
        }
    }

    public static TheoryData<ScpiSimFault, int, string> Malformed => new()
    {
        { ScpiSimFault.BadHeader, Points, "does not start with a block header" },
        { ScpiSimFault.ShortBlock, 2 * Points, "only 100 arrived" },
        { ScpiSimFault.OversizedBlock, Points, "announces a block of 500,000,000 bytes, more than MaxBlockBytes" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task AMalformedBlockIsAFaultAndTheStreamGoesOn(ScpiSimFault fault, int nextIndex, string message)
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var clock = Clock();
        var sink = new RecordingSink();
        // A short block is only noticed when the rest never comes: the timeout is that wait (long enough for a loaded machine).
        var device = Scope(sim.Port, ScpiDataFormat.Int16LittleEndian, "WORD", "LSBF", 1, 1, 0, timeoutMs: 3000);

        await using (var run = Driver(clock, blockMilliseconds: 5).Start(device, Measurement(1, Rate), sink))
        {
            await WaitUntilAsync(() => sink.Blocks.Count >= 1, "block 0");
            sim.InjectNext(fault);
            clock.Advance(BlockSpan);
            // The bad answer is dropped and the query asked again at once: no clock step needed.
            await WaitUntilAsync(() => sink.Blocks.Count >= 2, "the block after the malformed one");
        }

        var f = Assert.Single(sink.Faults);
        Assert.Equal(ScpiDriver.MalformedBlockFault, f.Kind);
        Assert.Contains(message, f.Message, StringComparison.Ordinal);
        var next = sink.Blocks[1];
        Assert.Equal(EpochNs + 10_000_000, next.T0Ns);
        Assert.Equal((float)ScpiSimulator.ScopeRaw(ScpiSimWaveFormat.Word, 0, nextIndex), next.Channels[0][0]);
        Assert.False(sink.Failed.IsCompleted);
    }

    [Fact]
    public async Task AStartAtAnotherRateThanTheSamplesOwnSpacingIsRefusedWithBothNumbers()
    {
        var driver = Driver(Clock());
        var device = Scope(1, ScpiDataFormat.Int8, "BYTE", "LSBF", 1, 1, 0);

        var refused = await driver.CheckStartAsync(device, 1, 1000, CancellationToken.None);

        Assert.Equal("SCPI device 'scope' delivers a sample every 0.0001 s (10,000 Hz); start the measurement at that rate, not 1,000 Hz.", refused);
    }

    [Theory]
    [InlineData(ScpiDataFormat.Int16LittleEndian, 7)]
    [InlineData(ScpiDataFormat.Float32BigEndian, 10)]
    public void APayloadThatIsNotAWholeNumberOfSamplesIsMalformed(ScpiDataFormat format, int bytes)
    {
        var ex = Assert.Throws<ScpiMalformedException>(() => ScpiDecoder.CountSamples(new byte[bytes], format));

        Assert.Contains("short length", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnAsciiFieldThatIsNotANumberIsMalformed()
    {
        var payload = "1.5,2.5,abc"u8.ToArray();
        var values = new float[ScpiDecoder.CountSamples(payload, ScpiDataFormat.Ascii)];

        var ex = Assert.Throws<ScpiMalformedException>(() => ScpiDecoder.Decode(payload, ScpiDataFormat.Ascii, 1, 0, values));

        Assert.Contains("field 3", ex.Message, StringComparison.Ordinal);
    }
}
