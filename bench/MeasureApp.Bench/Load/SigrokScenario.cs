using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Sigrok;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Samples/s reached through the Sigrok driver (sigrok-cli child → WAV parse → sample blocks) with the
/// <c>demo</c> device, beside the baseline of the same sigrok-cli writing the same stream to /dev/null.
/// </summary>
public sealed class SigrokScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "sigrok";

    /// <inheritdoc />
    public string Description => "sigrok demo: samples/s through the Sigrok driver vs sigrok-cli -o /dev/null (same settings, same run)";

    /// <inheritdoc />
    public string Usage => "--rate <Hz asked of the demo device, default 5000000> --channels <1-5 analog, default 2> --seconds <default 10>";

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var rate = options.GetDouble("rate", 5_000_000);
        var channels = Math.Clamp(options.GetInt("channels", 2), 1, 5);
        var seconds = options.GetDouble("seconds", 10);
        var names = Enumerable.Range(0, channels).Select(i => $"A{i}").ToList();
        var device = new DeviceOptions { Id = "bench-sigrok", Driver = "Sigrok", SigrokDriver = "demo", Channels = [.. names.Select(n => new SimulatedChannelOptions { Name = n })] };

        // Baseline: sigrok-cli alone, writing the same WAV stream to /dev/null for the same time.
        await progress.WriteLineAsync($"baseline: sigrok-cli demo {channels} ch at {rate:0} Hz asked, -o /dev/null, {seconds} s");
        var samples = (long)(rate * seconds);
        var sw = Stopwatch.StartNew();
        var baseline = await SigrokCli.RunAsync(
            ["--driver", "demo", "--channels", string.Join(',', names), "--config", $"samplerate={rate.ToString("0", CultureInfo.InvariantCulture)}", "--samples", samples.ToString(CultureInfo.InvariantCulture), "-O", "wav", "-o", "/dev/null"],
            TimeSpan.FromSeconds(seconds * 20), cancellationToken);
        var baselineRate = samples / sw.Elapsed.TotalSeconds;
        if (baseline.ExitCode != 0)
        {
            throw new InvalidOperationException($"sigrok-cli baseline failed: {SigrokCli.ErrorText(baseline)}");
        }

        // Through the driver: the same device and rate, blocks counted (and released) by the sink.
        await progress.WriteLineAsync($"driver: SigrokDriver, same settings, {seconds} s");
        var driver = new SigrokDriver(TimeProvider.System, NullLogger<SigrokDriver>.Instance);
        var sink = new CountingSink();
        var info = new MeasurementInfo
        {
            Id = Guid.NewGuid(), OwnerId = "bench", OwnerName = "bench", Name = "bench", DeviceId = device.Id,
            Channels = [.. names.Select(n => new ChannelInfo(n, "V"))], SampleRate = rate, State = MeasurementState.Running, StartedAt = DateTimeOffset.UtcNow,
        };
        var run = driver.Start(device, info, sink);
        await sink.First.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        var startSamples = Interlocked.Read(ref sink.Samples);
        sw.Restart();
        await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken);
        var driverSamples = Interlocked.Read(ref sink.Samples) - startSamples;
        var elapsed = sw.Elapsed.TotalSeconds;
        await run.DisposeAsync();
        var driverRate = driverSamples / elapsed;

        var report = new LoadReport(Name, "sigrok", "Sigrok driver (sigrok-cli demo)");
        report.Add("through SigrokDriver", driverRate, "samples/s per channel", $"{channels} ch", sink.Failure is null ? "" : "failed: " + sink.Failure);
        report.Add("sigrok-cli -o /dev/null", baselineRate, "samples/s per channel", "baseline, same run");
        report.Add("ratio", driverRate / baselineRate, "×", "driver / baseline");
        report.Notes.Add($"demo device, channels {string.Join(',', names)}, samplerate asked {rate:0} Hz (the demo generates as fast as it can when the rate is above what it sustains), {seconds} s each, {Environment.ProcessorCount} cores.");
        report.Notes.Add($"driver blocks: {sink.Blocks}, faults: {sink.Faults}.");
        return report;
    }

    private sealed class CountingSink : IBlockSink
    {
        public long Samples;
        public long Blocks;
        public long Faults;
        public string? Failure;
        public TaskCompletionSource First { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Publish(SampleBlock block)
        {
            Interlocked.Add(ref Samples, block.Count);
            Interlocked.Increment(ref Blocks);
            block.Release();
            First.TrySetResult();
            return true;
        }

        public void Fault(string kind, string message) => Interlocked.Increment(ref Faults);

        public void Fail(string message)
        {
            Failure = message;
            First.TrySetException(new InvalidOperationException(message));
        }
    }
}
