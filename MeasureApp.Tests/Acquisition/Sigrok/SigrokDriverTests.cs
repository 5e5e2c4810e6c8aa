using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Sigrok;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Tests.Acquisition.Sigrok;

/// <summary>
/// The Sigrok driver against the real sigrok-cli and its <c>demo</c> device (scripts/test.sh installs
/// it): stored values equal what sigrok-cli itself prints for the same settings, and the child's death
/// stops the measurement with its reason. Fails, never skips, when sigrok-cli is missing.
/// </summary>
public sealed class SigrokDriverTests
{
    private const string DeviceId = "sigrok-demo";

    // A2 (triangle) before A1 (sine) on purpose: sigrok streams channels in the device's order, and the
    // driver must put them back in the configured order.
    private static DeviceOptions Demo(string id = DeviceId) => new()
    {
        Id = id,
        Driver = "Sigrok",
        SigrokDriver = "demo",
        Channels = [new() { Name = "A2", Unit = "V" }, new() { Name = "A1", Unit = "V" }],
    };

    [Fact]
    public async Task ATwoChannelDemoMeasurementStoresExactlyWhatSigrokCliPrintsForTheSameSettings()
    {
        // Exact times across chunks need delivery without a stall: on a loaded machine this process can miss
        // sigrok-cli's output for seconds, which the default 1 s threshold reads as a device gap (a CI run under
        // load re-based chunk 1 by 4.5 s). The resync has its own test below.
        var observed = new ObservedDriver(new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance, resyncAfter: TimeSpan.FromHours(1)));
        await using var h = await EngineHarness.StartNewAsync([Demo()], [observed]);
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, new StartRequest { DeviceId = DeviceId, Name = "demo", Channels = 2, SampleRate = 1000 });
        Assert.Equal(["A2", "A1"], m.Channels.Select(c => c.Name));

        await observed.WaitForSamplesAsync(m.Id, 600);
        Assert.True(await h.Engine.StopAsync(m.Id, EngineHarness.Alice, CancellationToken.None));

        var chunks = h.Store.Chunks(m.Id).OrderBy(c => c.FirstSampleIndex).ToList();
        var a2 = chunks.SelectMany(c => c.Channel(0).ToArray()).ToArray();
        var a1 = chunks.SelectMany(c => c.Channel(1).ToArray()).ToArray();
        Assert.True(a2.Length >= 600, $"stored {a2.Length} samples");

        var reference = await SigrokReferenceAsync(["--driver", "demo", "--channels", "A1,A2", "--config", "samplerate=1000", "--samples", a2.Length.ToString(CultureInfo.InvariantCulture), "-O", "wav"]);
        Assert.Equal(2, reference.Channels);
        Assert.Equal(a2.Length, reference.Frames.Length / 2);
        Assert.Equal(reference.Frames.Where((_, i) => i % 2 == 1), a2); // device order: A1, A2
        Assert.Equal(reference.Frames.Where((_, i) => i % 2 == 0), a1);
        Assert.Contains(a1, v => v > 1); // a sine, not zeros
        Assert.Contains(a2, v => v != a2[0]);

        // Times are start + index/rate, rounded to the ns, across chunks.
        var t0 = chunks[0].T0Ns;
        Assert.All(chunks, c => Assert.Equal(t0 + (long)Math.Round(c.FirstSampleIndex * 1e9 / 1000), c.T0Ns));
    }

    [Fact]
    public async Task SamplesArrivingLaterThanTheResyncThresholdStartANewTimeBaseAndTheGapIsCounted()
    {
        // The driver's clock is fake: until it moves, every arrival is on time; then it jumps 60 s, so what
        // arrives next is about a minute later than start + index/rate (a device that delivered nothing for a minute).
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var observed = new ObservedDriver(new SigrokDriver(time, NullLogger<SigrokDriver>.Instance));
        await using var h = await EngineHarness.StartNewAsync([Demo()], [observed], time: time, writerTime: TimeProvider.System);
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, new StartRequest { DeviceId = DeviceId, Name = "gap", Channels = 2, SampleRate = 1000 });
        await observed.WaitForSamplesAsync(m.Id, 300);

        time.Advance(TimeSpan.FromSeconds(60));
        var before = h.Engine.Find(m.Id, EngineHarness.Alice)!.SampleCount;
        await observed.WaitForSamplesAsync(m.Id, before + 300);
        var info = h.Engine.Find(m.Id, EngineHarness.Alice)!;
        Assert.True(await h.Engine.StopAsync(m.Id, EngineHarness.Alice, CancellationToken.None));

        Assert.Equal(1, info.Faults[SigrokDriver.FaultKinds.Gap]);
        var chunks = h.Store.Chunks(m.Id).OrderBy(c => c.FirstSampleIndex).ToList();
        var t0 = chunks[0].T0Ns;
        var jump = chunks.FindIndex(c => c.T0Ns != t0 + (long)Math.Round(c.FirstSampleIndex * 1e9 / 1000));
        Assert.True(jump > 0, "the chunks before the jump keep start + index/rate");
        // The new base is the arrival minus what arrived (at most the samples read in real time meanwhile).
        var late = chunks[jump].T0Ns - (t0 + (long)Math.Round(chunks[jump].FirstSampleIndex * 1e9 / 1000));
        Assert.InRange(late, 30_000_000_000L, 60_000_000_000L);
        var t1 = chunks[jump].T0Ns;
        Assert.All(chunks.Skip(jump), c => Assert.Equal(t1 + (long)Math.Round((c.FirstSampleIndex - chunks[jump].FirstSampleIndex) * 1e9 / 1000), c.T0Ns));
    }

    [Fact]
    public async Task KillingTheSigrokCliChildStopsTheMeasurementWithReasonDeviceErrorAndTheExitReason()
    {
        var observed = new ObservedDriver(new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance));
        await using var h = await EngineHarness.StartNewAsync([Demo()], [observed]);
        // An unusual rate marks this test's child among other sigrok-cli processes on the machine.
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, new StartRequest { DeviceId = DeviceId, Name = "doomed", Channels = 1, SampleRate = 1237 });
        await observed.WaitForSamplesAsync(m.Id, 100);
        var stopped = h.WhenStopped(EngineHarness.Alice.UserId, m.Id);

        var child = ChildSigrok("samplerate=1237");
        Assert.NotNull(child);
        child.Kill();

        var info = await stopped;
        Assert.Equal(StopReason.DeviceError, info.StopReason);
        Assert.Contains("sigrok-cli ended", info.StopDetail, StringComparison.Ordinal);
        Assert.Contains("signal 9", info.StopDetail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoppingTheMeasurementEndsTheSigrokCliChild()
    {
        var observed = new ObservedDriver(new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance));
        await using var h = await EngineHarness.StartNewAsync([Demo()], [observed]);
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, new StartRequest { DeviceId = DeviceId, Name = "short", Channels = 2, SampleRate = 1239 });
        await observed.WaitForSamplesAsync(m.Id, 50);
        var child = ChildSigrok("samplerate=1239");
        Assert.NotNull(child);

        Assert.True(await h.Engine.StopAsync(m.Id, EngineHarness.Alice, CancellationToken.None));

        // The driver waits for the child's exit before the stop returns.
        Assert.True(child.HasExited);
        Assert.Null(ChildSigrok("samplerate=1239"));
    }

    [Fact]
    public async Task ADeviceWithAMissingChannelIsRefusedNamingTheChannelsItHas()
    {
        var driver = new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance);
        var device = new DeviceOptions { Id = "x", Driver = "Sigrok", SigrokDriver = "demo", Channels = [new() { Name = "A9" }] };

        var probe = await driver.ProbeAsync(device, CancellationToken.None);

        Assert.False(probe.Ok);
        Assert.Contains("no channel A9", probe.Message, StringComparison.Ordinal);
        Assert.Contains("A0 A1 A2 A3 A4", probe.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LogicChannelsAreRefusedByTheTestAndAtStartWithAClearMessageInsteadOfShiftingTheColumns()
    {
        var device = new DeviceOptions { Id = "logic", Driver = "Sigrok", SigrokDriver = "demo", Channels = [new() { Name = "A0" }, new() { Name = "D3" }] };
        var driver = new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance);

        var probe = await driver.ProbeAsync(device, CancellationToken.None);

        Assert.False(probe.Ok);
        Assert.Equal("D3 is a logic channel; MeasureApp records sigrok analog channels only (logic channels are not supported yet). Choose analog channels.", probe.Message);

        await using var h = await EngineHarness.StartNewAsync([device], [driver]);
        // Watched before the start: the refusal may stop the measurement before the start returns.
        var stopped = new TaskCompletionSource<MeasurementInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = h.Engine.Watch(EngineHarness.Alice.UserId, i =>
        {
            if (i.Name == "logic" && i.State == MeasurementState.Stopped)
            {
                stopped.TrySetResult(i);
            }
        });
        var m = await h.StartMeasurementAsync(EngineHarness.Alice, new StartRequest { DeviceId = "logic", Name = "logic", Channels = 2, SampleRate = 1000 });
        var info = await stopped.Task.WaitAsync(TestTimeouts.HangGuard);
        Assert.Equal(m.Id, info.Id);
        Assert.Equal(StopReason.DeviceError, info.StopReason);
        Assert.Contains("D3 is a logic channel", info.StopDetail, StringComparison.Ordinal);
    }

    [Fact]
    public void TheLogicGroupOfShowOutputNamesTheLogicChannels()
    {
        var logic = SigrokCli.ParseLogicChannels("Channel groups:\n    Logic: channels D0 D1 D2\n    Analog: channels A0 A1\n    A0: channel A0\n");

        Assert.Equal(["D0", "D1", "D2"], logic.Order());
        Assert.Null(SigrokCli.LogicRefusal(["A0", "A1"], logic));
        Assert.StartsWith("D0, D2 are logic channels;", SigrokCli.LogicRefusal(["D0", "A1", "D2"], logic), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheProbeOfTheDemoDeviceReturnsItsScanLineAsIdentity()
    {
        var driver = new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance);

        var probe = await driver.ProbeAsync(Demo(), CancellationToken.None);

        Assert.True(probe.Ok, probe.Message);
        Assert.StartsWith("demo - Demo device with 13 channels", probe.Identity, StringComparison.Ordinal);
    }

    [Fact]
    public void AScanLineGivesDriverDescriptionAndChannelsInDeviceOrder()
    {
        var devices = SigrokCli.ParseScan("The following devices were found:\ndemo - Demo device with 13 channels: D0 D1 D2 D3 D4 D5 D6 D7 A0 A1 A2 A3 A4\nuni-t-ut61e:conn=1a86.e008 - UNI-T UT61E with 1 channel: P1\n");

        Assert.Equal(2, devices.Count);
        Assert.Equal("demo", devices[0].Driver);
        Assert.Equal("A4", devices[0].Channels[^1]);
        Assert.Equal("uni-t-ut61e:conn=1a86.e008", devices[1].Driver);
        Assert.Equal(["P1"], devices[1].Channels);
    }

    [Fact]
    public void TheAcquisitionUsesTheMeasurementRateUnlessTheConfigSetsOne()
    {
        var args = SigrokDriver.AcquisitionArguments(Demo(), ["A2", "A1"], 2000);
        Assert.Equal(["--driver", "demo", "--channels", "A2,A1", "--config", "samplerate=2000", "--continuous", "-O", "wav"], args);

        var own = SigrokDriver.AcquisitionArguments(new DeviceOptions { Id = "d", SigrokDriver = "demo", Config = "samplerate=50000" }, ["A0"], 2000);
        Assert.Contains("samplerate=50000", own);
        Assert.DoesNotContain("samplerate=2000", own);
    }

    private static async Task<(int Channels, float[] Frames)> SigrokReferenceAsync(string[] args)
    {
        var psi = new ProcessStartInfo(SigrokCli.Executable) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        using var output = new MemoryStream();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.BaseStream.CopyToAsync(output).WaitAsync(TestTimeouts.HangGuard);
        await process.WaitForExitAsync().WaitAsync(TestTimeouts.HangGuard);
        Assert.True(process.ExitCode == 0, await stderr);
        // Read the WAV here independently of the driver's parser: 'fmt ' gives channels, 'data' the floats.
        var bytes = output.ToArray();
        var fmt = IndexOf(bytes, "fmt "u8);
        var data = IndexOf(bytes, "data"u8);
        Assert.True(fmt > 0 && data > fmt, "sigrok-cli printed no WAV");
        var channels = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(fmt + 10));
        var payload = bytes.AsSpan(data + 8);
        var frames = new float[payload.Length / 4];
        for (var i = 0; i < frames.Length; i++)
        {
            frames[i] = BinaryPrimitives.ReadSingleLittleEndian(payload[(i * 4)..]);
        }
        return (channels, frames);
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    // The sigrok-cli child of this test process whose command line holds the marker.
    private static Process? ChildSigrok(string marker)
    {
        var me = Environment.ProcessId;
        foreach (var p in Process.GetProcessesByName("sigrok-cli"))
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{p.Id}/stat");
                var ppid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                var cmdline = File.ReadAllText($"/proc/{p.Id}/cmdline");
                if (ppid == me && cmdline.Contains(marker, StringComparison.Ordinal) && !p.HasExited)
                {
                    return p;
                }
            }
            catch (IOException)
            {
                // Ended meanwhile.
            }
        }
        return null;
    }
}
