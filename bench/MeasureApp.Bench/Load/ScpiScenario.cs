using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Scpi;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.ScpiSim;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Readings per second the Scpi driver reaches against the in-process simulator (scripts/scpi-sim) on
/// loopback, per mode, beside a raw socket round trip (a bare line echo) measured in the same run:
/// polled DMM (one query per reading, with and without the error query), and block scope (int16 and
/// ASCII waveforms read back to back).
/// </summary>
public sealed class ScpiScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "scpi";

    /// <inheritdoc />
    public string Description => "SCPI driver vs simulator on loopback: polled DMM and block scope readings/s beside a raw socket round trip";

    /// <inheritdoc />
    public string Usage => """
        --seconds S   length of each of the 6 phases (default 5; the whole run is about 6·S)
        --rate HZ     polled rate asked for in the paced phase (default 1000)
        --points N    scope points per block (default 10000)
        --write       update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var phase = TimeSpan.FromSeconds(options.GetDouble("seconds", 5));
        var rate = options.GetDouble("rate", 1000);
        var points = options.GetInt("points", 10_000);
        var report = new LoadReport(Name, "scpi", "SCPI driver against the simulator (loopback)");

        var baseline = await EchoRoundTripsPerSecondAsync(phase, cancellationToken);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"raw socket round trips: {baseline:F0}/s"));
        report.Add("raw socket round trip (line echo)", baseline, "round trips/s", "baseline");

        await using var sim = new ScpiSimulator();
        sim.Start();
        var driver = new ScpiDriver(TimeProvider.System, Options.Create(new AcquisitionOptions { Devices = [], BlockMilliseconds = 5 }), NullLogger<ScpiDriver>.Instance);

        var withErrors = Dmm(sim.Port, "SYST:ERR?");
        var withoutErrors = Dmm(sim.Port, "");
        var flatWith = await RunAsync(driver, withErrors, 100_000, phase, cancellationToken);
        var flatWithout = await RunAsync(driver, withoutErrors, 100_000, phase, cancellationToken);
        var paced = await RunAsync(driver, withErrors, rate, phase, cancellationToken);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"polled: {flatWith.PerSecond:F0}/s with SYST:ERR?, {flatWithout.PerSecond:F0}/s without, {paced.PerSecond:F0}/s paced at {rate:F0} Hz"));
        report.Add("polled DMM flat out, SYST:ERR? after each", flatWith.PerSecond, "readings/s", "vs baseline", Ratio(flatWith.PerSecond, baseline));
        report.Add("polled DMM flat out, no error query", flatWithout.PerSecond, "readings/s", "vs baseline", Ratio(flatWithout.PerSecond, baseline));
        report.Add(string.Create(CultureInfo.InvariantCulture, $"polled DMM paced at {rate:F0} Hz"), paced.PerSecond, "readings/s",
            string.Create(CultureInfo.InvariantCulture, $"asked {rate:F0}"), string.Create(CultureInfo.InvariantCulture, $"{paced.Faults} overrun faults"));

        var int16 = await RunAsync(driver, Scope(sim.Port, "WORD", ScpiDataFormat.Int16LittleEndian, points), 1e9, phase, cancellationToken);
        var ascii = await RunAsync(driver, Scope(sim.Port, "ASC", ScpiDataFormat.Ascii, points), 1e9, phase, cancellationToken);
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"block: {int16.PerSecond:F0} samples/s int16, {ascii.PerSecond:F0} samples/s ASCII"));
        report.Add(string.Create(CultureInfo.InvariantCulture, $"block scope int16, {points} points/block"), int16.PerSecond, "samples/s", "vs baseline",
            string.Create(CultureInfo.InvariantCulture, $"{int16.PerSecond / baseline:F0}× the round trips; {int16.Blocks / phase.TotalSeconds:F0} blocks/s"));
        report.Add(string.Create(CultureInfo.InvariantCulture, $"block scope ASCII, {points} points/block"), ascii.PerSecond, "samples/s", "vs baseline",
            string.Create(CultureInfo.InvariantCulture, $"{ascii.PerSecond / baseline:F0}× the round trips; {ascii.Blocks / phase.TotalSeconds:F0} blocks/s"));
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{phase.TotalSeconds:F0} s per phase; simulator, driver and echo server share this process and its {Environment.ProcessorCount} cores. Polled: one channel, MEAS:VOLT:DC? per reading; block: one channel, :WAV:DATA? back to back."));
        report.Notes.Add("Real instruments are far slower than the simulator: DMMs sustain 5–1,000 readings/s polled (integration time), scopes a few blocks/s (see docs/instruments.md).");
        return report;
    }

    private static string Ratio(double value, double baseline) =>
        string.Create(CultureInfo.InvariantCulture, $"{value / baseline * 100:F0} % of the round trips");

    private static DeviceOptions Dmm(int port, string errorQuery) => new()
    {
        Id = "dmm",
        Driver = ScpiDriver.DriverKind,
        Host = "127.0.0.1",
        Port = port,
        ErrorQuery = errorQuery,
        InitCommands = ["*RST", "CONF:VOLT:DC 10"],
        Channels = [new() { Name = "v", Query = "MEAS:VOLT:DC?" }],
    };

    private static DeviceOptions Scope(int port, string form, ScpiDataFormat format, int points) => new()
    {
        Id = "scope",
        Driver = ScpiDriver.DriverKind,
        Host = "127.0.0.1",
        Port = port,
        Mode = ScpiMode.Block,
        DataFormat = format,
        InitCommands = ["*RST", $":WAV:FORM {form}", ":WAV:BYT LSBF", string.Create(CultureInfo.InvariantCulture, $":WAV:POIN {points}")],
        Channels = [new() { Name = "ch1", Query = ":WAV:SOUR CHAN1;:WAV:DATA?" }],
    };

    private static async Task<(double PerSecond, long Blocks, long Faults)> RunAsync(ScpiDriver driver, DeviceOptions device, double rate, TimeSpan length, CancellationToken cancellationToken)
    {
        var measurement = new MeasurementInfo
        {
            Id = Guid.NewGuid(),
            OwnerId = "bench",
            OwnerName = "bench",
            Name = "scpi",
            DeviceId = device.Id,
            Channels = [new ChannelInfo("ch1", "V")],
            SampleRate = rate,
            State = MeasurementState.Running,
            StartedAt = DateTimeOffset.UtcNow,
        };
        var sink = new CountingSink();
        var started = Stopwatch.GetTimestamp();
        await using (driver.Start(device, measurement, sink))
        {
            await Task.Delay(length, cancellationToken);
        }
        var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (sink.Failure is { } failure)
        {
            throw new InvalidOperationException($"The SCPI run failed: {failure}");
        }
        return (Interlocked.Read(ref sink.Samples) / elapsed, Interlocked.Read(ref sink.Blocks), Interlocked.Read(ref sink.Faults));
    }

    /// <summary>Round trips per second of one line query and answer against a bare echo server: the socket's own cost.</summary>
    private static async Task<double> EchoRoundTripsPerSecondAsync(TimeSpan length, CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var server = Task.Run(async () =>
        {
            using var peer = await listener.AcceptAsync(cts.Token);
            peer.NoDelay = true;
            var buffer = new byte[4096];
            while (true)
            {
                var n = await peer.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return;
                }
                await peer.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, cts.Token);
            }
        }, cts.Token);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        var query = Encoding.ASCII.GetBytes("MEAS:VOLT:DC?\n");
        var answer = new byte[4096];
        long trips = 0;
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < length)
        {
            await client.SendAsync(query, SocketFlags.None, cancellationToken);
            var got = 0;
            while (got < query.Length)
            {
                got += await client.ReceiveAsync(answer.AsMemory(got), SocketFlags.None, cancellationToken);
            }
            trips++;
        }
        var perSecond = trips / Stopwatch.GetElapsedTime(started).TotalSeconds;
        client.Shutdown(SocketShutdown.Both);
        await cts.CancelAsync();
        try
        {
            await server;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        return perSecond;
    }

    private sealed class CountingSink : IBlockSink
    {
        public long Samples;
        public long Blocks;
        public long Faults;

        public string? Failure { get; private set; }

        public bool Publish(SampleBlock block)
        {
            Interlocked.Add(ref Samples, block.Count);
            Interlocked.Increment(ref Blocks);
            block.Release();
            return true;
        }

        public void Fault(string kind, string message) => Interlocked.Increment(ref Faults);

        public void Fail(string message) => Failure = message;
    }
}
