using System.Diagnostics;
using System.Text.RegularExpressions;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Scpi;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.ScpiSim;
using static MeasureApp.Tests.Acquisition.EngineHarness;
using static MeasureApp.Tests.Acquisition.Scpi.ScpiTestKit;

namespace MeasureApp.Tests.Acquisition.Scpi;

/// <summary>
/// The Scpi driver as the app uses it: the Devices page's probe, the engine's start check, a whole
/// measurement through the <see cref="MeasurementEngine"/> into the store, and the simulator as a
/// real child process.
/// </summary>
public sealed partial class ScpiStartTests
{
    private static DeviceOptions Dmm(int port, double scale = 1, double offset = 0) => new()
    {
        Id = "dmm",
        Driver = ScpiDriver.DriverKind,
        Host = "127.0.0.1",
        Port = port,
        TimeoutMilliseconds = 5000,
        InitCommands = ["*RST", "CONF:VOLT:DC 10"],
        Channels = [new() { Name = "volts", Unit = "V", Query = "MEAS:VOLT:DC?", Scale = scale, Offset = offset }],
    };

    [Fact]
    public async Task TheProbeReturnsTheIdnString()
    {
        await using var sim = new ScpiSimulator(new ScpiSimulatorOptions { Identity = "Keysight Technologies,34461A,MY00000001,A.03.01" });
        sim.Start();

        var result = await Driver(TimeProvider.System).ProbeAsync(Dmm(sim.Port), CancellationToken.None);

        Assert.True(result.Ok, result.Message);
        Assert.Equal("Keysight Technologies,34461A,MY00000001,A.03.01", result.Identity);
        Assert.StartsWith($"Connected to 127.0.0.1:{sim.Port}", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheProbeOfAnAddressWhereNothingListensSaysSo()
    {
        int port;
        await using (var gone = new ScpiSimulator())
        {
            gone.Start();
            port = gone.Port;
        }

        var result = await Driver(TimeProvider.System).ProbeAsync(Dmm(port), CancellationToken.None);

        Assert.False(result.Ok);
        Assert.Null(result.Identity);
        Assert.StartsWith($"Could not connect to 127.0.0.1:{port}", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStartAboveTheRateTheInstrumentSustainsIsRefusedWithTheNumbers()
    {
        // An integrating DMM: 50 readings/s at most, whatever the socket could do.
        await using var sim = new ScpiSimulator(new ScpiSimulatorOptions { MaxReadingsPerSecond = 50 });
        sim.Start();
        await using var h = await StartNewAsync([Dmm(sim.Port)], [Driver(TimeProvider.System)]);

        var result = await h.Engine.StartAsync(Alice, new UserLimits(), new StartRequest { DeviceId = "dmm", Name = "too fast", SampleRate = 1000 }, CancellationToken.None);

        Assert.False(result.Succeeded);
        var match = SustainsPattern().Match(result.Error!);
        Assert.True(match.Success, result.Error);
        var sustained = double.Parse(match.Groups[1].Value.Replace(",", "", StringComparison.Ordinal), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(sustained, 1, 60);
        // Refused before anything was recorded or counted against the user's limit.
        Assert.Empty(h.Store.Measurements);
        Assert.Empty(h.Engine.GetRunning(Alice));
    }

    [Fact]
    public async Task AStartOnAnInstrumentThatIsNotThereIsRefusedNamingTheAddress()
    {
        int port;
        await using (var gone = new ScpiSimulator())
        {
            gone.Start();
            port = gone.Port;
        }
        await using var h = await StartNewAsync([Dmm(port)], [Driver(TimeProvider.System)]);

        var result = await h.Engine.StartAsync(Alice, new UserLimits(), new StartRequest { DeviceId = "dmm", Name = "nothing there", SampleRate = 100 }, CancellationToken.None);

        Assert.False(result.Succeeded);
        Assert.Contains($"could not connect to 127.0.0.1:{port}", result.Error, StringComparison.Ordinal);
        Assert.Empty(h.Store.Measurements);
    }

    [Fact]
    public async Task AMeasurementOnAScpiDeviceStoresTheInstrumentsReadingsThroughTheEngine()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var driver = new ObservedDriver(Driver(TimeProvider.System, blockMilliseconds: 20));
        await using var h = await StartNewAsync([Dmm(sim.Port, scale: 1000, offset: 1)], [driver]);

        var m = await h.StartMeasurementAsync(Alice, new StartRequest { DeviceId = "dmm", Name = "dmm run", SampleRate = 100 });
        await driver.WaitForSamplesAsync(m.Id, 10);
        Assert.True(await h.Engine.StopAsync(m.Id, Alice, CancellationToken.None));

        var stored = h.Store.Measurement(m.Id)!;
        Assert.Equal(MeasurementState.Stopped, stored.State);
        Assert.Equal(StopReason.User, stored.StopReason);
        Assert.Equal([new ChannelInfo("volts", "V")], stored.Channels);
        var chunks = h.Store.Chunks(m.Id);
        var values = chunks.SelectMany(c => c.Channel(0).ToArray()).ToArray();
        Assert.Equal(stored.SampleCount, values.Length);
        Assert.True(values.Length >= 10);
        // Reading k of the run's own connection, whatever gaps the loaded machine caused in time.
        for (var k = 0; k < values.Length; k++)
        {
            Assert.Equal((float)((ScpiSimulator.DmmVoltage(k) * 1000) + 1), values[k], 3);
        }
        Assert.All(chunks.Zip(chunks.Skip(1)), pair => Assert.True(pair.Second.T0Ns > pair.First.T0Ns));
    }

    [Fact]
    public async Task ADroppedConnectionStopsTheMeasurementWithReasonDeviceErrorNamingTheHost()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var driver = new ObservedDriver(Driver(TimeProvider.System, blockMilliseconds: 10));
        await using var h = await StartNewAsync([Dmm(sim.Port)], [driver]);
        var m = await h.StartMeasurementAsync(Alice, new StartRequest { DeviceId = "dmm", Name = "pulled cable", SampleRate = 100 });
        var stopped = h.WhenStopped(Alice.UserId, m.Id);
        await driver.WaitForSamplesAsync(m.Id, 3);

        sim.DropAll();
        var info = await stopped;

        Assert.Equal(StopReason.DeviceError, info.StopReason);
        Assert.StartsWith($"Lost the connection to SCPI device 'dmm' at 127.0.0.1:{sim.Port}", info.StopDetail, StringComparison.Ordinal);
        Assert.Equal(StopReason.DeviceError, h.Store.Measurement(m.Id)!.StopReason);
    }

    [Fact]
    public async Task TheSimulatorRunsAsAChildProcessThatTheProbeIdentifies()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "MeasureApp.ScpiSim.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: the test project references scripts/scpi-sim.");
        using var process = Process.Start(new ProcessStartInfo("dotnet", [dll, "--port", "0", "--identity", "Rigol Technologies,DM3058,DM3S000001,01.01.00.01.11.00"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        try
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Guard);
            var port = int.Parse(PortPattern().Match(line ?? "").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

            var result = await Driver(TimeProvider.System).ProbeAsync(Dmm(port), CancellationToken.None);

            Assert.True(result.Ok, result.Message);
            Assert.Equal("Rigol Technologies,DM3058,DM3S000001,01.01.00.01.11.00", result.Identity);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(Guard);
        }
    }

    [Fact]
    public void AScpiDeviceWithoutHostOrQueryFailsValidationNamingTheKey()
    {
        var validator = new ScpiSettingsValidator();
        var options = new AcquisitionOptions
        {
            Devices =
            [
                new DeviceOptions { Id = "sim" },
                new DeviceOptions { Id = "dmm", Driver = "Scpi", Channels = [new() { Query = "MEAS:VOLT:DC?" }] },
                new DeviceOptions { Id = "dmm2", Driver = "Scpi", Host = "10.0.0.5", Channels = [new() { Name = "v" }] },
            ],
        };

        var result = validator.Validate(null, options);

        Assert.True(result.Failed);
        Assert.Equal(
            ["Acquisition:Devices:1:Host is required for a Scpi device (the instrument's address, e.g. 192.168.1.50).",
             "Acquisition:Devices:2:Channels:0:Query is required for a Scpi device (e.g. MEAS:VOLT:DC?)."],
            result.Failures);
    }

    [GeneratedRegex(@"sustains ([\d,]+) readings/s; you asked for 1,000 Hz")]
    private static partial Regex SustainsPattern();

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex PortPattern();
}
