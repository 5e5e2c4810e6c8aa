using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Acquisition.Devices.Sigrok;

/// <summary>
/// Acquires through <c>sigrok-cli</c> run as a child process (GPL, so never linked): one process per
/// measurement, <c>--continuous -O wav</c>, whose float32 frames become sample blocks. The process is
/// killed with its measurement; if it dies first the measurement stops with its stderr as the reason.
/// </summary>
public sealed class SigrokDriver(TimeProvider time, ILogger<SigrokDriver> logger, TimeSpan? resyncAfter = null) : IDeviceDriver, IDeviceProbe
{
    /// <summary>Largest block in samples per channel.</summary>
    public const int MaxBlockSamples = 16_384;

    /// <summary>
    /// Samples that arrive this much later than their nominal time (start + index/rate) restart the
    /// time base at their arrival: the device delivered fewer samples than its rate says (a multimeter
    /// that reads twice a second, a USB hiccup), and timestamps must not fall behind the wall clock.
    /// </summary>
    public static readonly TimeSpan ResyncAfter = TimeSpan.FromSeconds(1);

    // This instance's threshold (tests that check exact times on a loaded machine raise it; the default is ResyncAfter).
    private readonly long _resyncAfterNs = (resyncAfter ?? ResyncAfter).Ticks * 100;

    /// <summary>Fault kinds this driver reports.</summary>
    public static class FaultKinds
    {
        /// <summary>Samples arrived later than their rate allows; a new block starts at their arrival time.</summary>
        public const string Gap = "sigrok-gap";
        /// <summary>NaN/±Inf values, replaced by the channel's last finite value.</summary>
        public const string NonFinite = "sigrok-nonfinite";
        /// <summary>The stream's rate differs from the measurement's.</summary>
        public const string RateMismatch = "sigrok-rate";
    }

    /// <inheritdoc />
    public string Kind => "Sigrok";

    /// <summary>Why <paramref name="device"/> cannot run under this driver, or null; names the field.</summary>
    public static string? Validate(DeviceOptions device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (string.IsNullOrWhiteSpace(device.SigrokDriver))
        {
            return "SigrokDriver is required for a Sigrok device (e.g. demo).";
        }
        if (device.Channels.Count == 0 || device.Channels.Any(c => string.IsNullOrWhiteSpace(c.Name)))
        {
            return "Channels must name the sigrok channels to record (e.g. A0, A1).";
        }
        return device.Channels.Select(c => c.Name).Distinct(StringComparer.Ordinal).Count() != device.Channels.Count
            ? "Channels must not name a sigrok channel twice."
            : null;
    }

    /// <summary>The sigrok-cli arguments of a continuous acquisition of <paramref name="channels"/> at <paramref name="sampleRate"/>.</summary>
    public static IReadOnlyList<string> AcquisitionArguments(DeviceOptions device, IReadOnlyList<string> channels, double sampleRate)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(channels);
        var config = device.Config ?? "";
        if (!config.Split(':').Any(kv => kv.StartsWith("samplerate=", StringComparison.Ordinal)))
        {
            var rate = ((long)Math.Round(sampleRate)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            config = config.Length == 0 ? $"samplerate={rate}" : $"{config}:samplerate={rate}";
        }
        return ["--driver", device.SigrokDriver!, "--channels", string.Join(',', channels), "--config", config, "--continuous", "-O", "wav"];
    }

    /// <inheritdoc />
    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(measurement);
        if (Validate(device) is { } error)
        {
            throw new InvalidOperationException(error);
        }
        if (measurement.Channels.Count > device.Channels.Count)
        {
            throw new InvalidOperationException($"Device '{device.Id}' names {device.Channels.Count} sigrok channel(s); the measurement asks for {measurement.Channels.Count}.");
        }
        var run = new Run(time, logger, device, measurement, sink, _resyncAfterNs);
        run.Begin();
        return run;
    }

    /// <inheritdoc />
    public async Task<DeviceProbeResult> ProbeAsync(DeviceOptions device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Validate(device) is { } error)
        {
            return new DeviceProbeResult(false, null, error);
        }
        var (devices, scanError) = await SigrokCli.ScanAsync(device.SigrokDriver, cancellationToken);
        if (devices.Count == 0)
        {
            return new DeviceProbeResult(false, null, scanError ?? $"sigrok found no device for driver '{device.SigrokDriver}'.");
        }
        var found = devices[0];
        var missing = device.Channels.Select(c => c.Name!).Where(n => !found.Channels.Contains(n, StringComparer.Ordinal)).ToList();
        if (missing.Count > 0)
        {
            return new DeviceProbeResult(false, found.Line, $"The device has no channel {string.Join(", ", missing)} (it has {string.Join(' ', found.Channels)}).");
        }
        if (SigrokCli.LogicRefusal(device.Channels.Select(c => c.Name!), await SigrokCli.LogicChannelsAsync(device.SigrokDriver!, cancellationToken)) is { } logic)
        {
            return new DeviceProbeResult(false, found.Line, logic);
        }
        return new DeviceProbeResult(true, found.Line, $"sigrok found the device with channels {string.Join(' ', found.Channels)}.");
    }

    private sealed class Run(TimeProvider time, ILogger logger, DeviceOptions device, MeasurementInfo measurement, IBlockSink sink, long resyncAfterNs) : IAsyncDisposable
    {
        private const int StderrKeep = 4096;
        private readonly CancellationTokenSource _stop = new();
        private readonly StringBuilder _stderr = new();
        private Process? _process;
        private Task _loop = Task.CompletedTask;
        private int _disposed;

        public void Begin() => _loop = Task.Run(() => RunAsync(_stop.Token));

        private async Task RunAsync(CancellationToken ct)
        {
            try
            {
                var wanted = device.Channels.Take(measurement.Channels.Count).Select(c => c.Name!).ToList();
                var columns = await ColumnOrderAsync(wanted, ct);
                if (columns is null)
                {
                    return;
                }
                StartProcess(wanted);
                await PumpAsync(columns, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Stopped by the measurement.
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                if (!ct.IsCancellationRequested)
                {
                    logger.LogError(ex, "Sigrok device {Device} failed for measurement {Measurement}", device.Id, measurement.Id);
                    sink.Fail($"sigrok device '{device.SigrokDriver}': {ex.Message}");
                }
            }
        }

        // sigrok writes the enabled channels in the device's order, whatever order --channels names
        // them in; the scan line lists that order. Column i of the stream is measurement channel map[i].
        private async Task<int[]?> ColumnOrderAsync(List<string> wanted, CancellationToken ct)
        {
            var (devices, error) = await SigrokCli.ScanAsync(device.SigrokDriver, ct);
            if (devices.Count == 0)
            {
                sink.Fail($"sigrok found no device for '{device.SigrokDriver}': {error ?? "the scan listed nothing"}");
                return null;
            }
            var order = devices[0].Channels;
            var missing = wanted.Where(n => !order.Contains(n, StringComparer.Ordinal)).ToList();
            if (missing.Count > 0)
            {
                sink.Fail($"sigrok device '{device.SigrokDriver}' has no channel {string.Join(", ", missing)} (it has {string.Join(' ', order)}).");
                return null;
            }
            if (SigrokCli.LogicRefusal(wanted, await SigrokCli.LogicChannelsAsync(device.SigrokDriver!, ct)) is { } logic)
            {
                sink.Fail($"sigrok device '{device.SigrokDriver}': {logic}");
                return null;
            }
            return [.. wanted.OrderBy(n => IndexOf(order, n)).Select(n => wanted.IndexOf(n))];
        }

        private static int IndexOf(IReadOnlyList<string> list, string name)
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (string.Equals(list[i], name, StringComparison.Ordinal))
                {
                    return i;
                }
            }
            return -1;
        }

        private void StartProcess(List<string> channels)
        {
            var psi = new ProcessStartInfo(SigrokCli.Executable)
            {
                // stdin stays open and unused: in --continuous mode sigrok-cli stops at the first byte
                // (or EOF) on stdin ("Press any key"), so /dev/null would end it at once.
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in AcquisitionArguments(device, channels, measurement.SampleRate))
            {
                psi.ArgumentList.Add(a);
            }
            var process = new Process { StartInfo = psi };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    lock (_stderr)
                    {
                        _stderr.AppendLine(line);
                        if (_stderr.Length > StderrKeep)
                        {
                            _stderr.Remove(0, _stderr.Length - StderrKeep);
                        }
                    }
                }
            };
            try
            {
                process.Start();
            }
            catch (Win32Exception ex)
            {
                process.Dispose();
                throw new InvalidOperationException($"sigrok-cli could not be started ({ex.Message}); install it (Debian: apt-get install sigrok-cli).", ex);
            }
            process.BeginErrorReadLine();
            Volatile.Write(ref _process, process);
            logger.LogInformation("sigrok-cli (pid {Pid}) acquires {Driver} for measurement {Measurement}", process.Id, device.SigrokDriver, measurement.Id);
        }

        private async Task PumpAsync(int[] columns, CancellationToken ct)
        {
            var process = _process!;
            var stdout = process.StandardOutput.BaseStream;
            var parser = new WavStreamParser();
            var rate = measurement.SampleRate;
            var channels = columns.Length;
            var lastFinite = new float[channels];
            var scratch = new float[channels * MaxBlockSamples];
            long t0Ns = 0;
            long index = 0;
            var started = false;
            while (true)
            {
                var read = await stdout.ReadAsync(parser.GetWriteBuffer(), ct);
                if (read == 0)
                {
                    break;
                }
                parser.Advance(read);
                if (!parser.HeaderRead)
                {
                    continue;
                }
                if (!started)
                {
                    if (parser.Channels != channels)
                    {
                        throw new InvalidDataException($"sigrok-cli streams {parser.Channels} channel(s); {channels} were asked for.");
                    }
                    if (parser.SampleRate > 0 && Math.Abs(parser.SampleRate - rate) > 0.5)
                    {
                        sink.Fault(FaultKinds.RateMismatch, $"The device samples at {parser.SampleRate} Hz; the measurement is stamped at {rate} Hz.");
                    }
                }
                var nowNs = NowNs();
                var frames = parser.FramesAvailable;
                if (frames == 0)
                {
                    continue;
                }
                // The first sample of what just arrived was taken about frames/rate before now.
                var arrivedT0 = nowNs - (long)Math.Round(frames * 1e9 / rate);
                if (!started)
                {
                    (t0Ns, index, started) = (arrivedT0, 0, true);
                }
                else if (arrivedT0 - (t0Ns + (long)Math.Round(index * 1e9 / rate)) > resyncAfterNs)
                {
                    sink.Fault(FaultKinds.Gap, $"Samples arrived {(arrivedT0 - t0Ns - (index * 1e9 / rate)) / 1e9:0.###} s late; a new block starts at their arrival.");
                    (t0Ns, index) = (arrivedT0, 0);
                }
                while (parser.FramesAvailable > 0)
                {
                    var (count, replaced) = parser.Take(scratch, MaxBlockSamples, lastFinite);
                    if (replaced > 0)
                    {
                        sink.Fault(FaultKinds.NonFinite, $"{replaced} NaN/infinite value(s) replaced by the channel's last finite value.");
                    }
                    var block = SampleBlock.Rent(channels, count);
                    block.T0Ns = t0Ns + (long)Math.Round(index * 1e9 / rate);
                    block.FirstSampleIndex = index;
                    for (var col = 0; col < channels; col++)
                    {
                        scratch.AsSpan(col * count, count).CopyTo(block.WritableChannel(columns[col]));
                    }
                    index += count;
                    if (!sink.Publish(block))
                    {
                        return;
                    }
                }
            }
            // End of stream: sigrok-cli exited (or was killed) while the measurement still wanted data.
            await process.WaitForExitAsync(ct);
            string tail;
            lock (_stderr)
            {
                tail = SigrokCli.Tail(_stderr.ToString(), 400);
            }
            var code = process.ExitCode;
            var how = code > 128 ? $"exit code {code}, signal {code - 128}" : $"exit code {code}";
            sink.Fail($"sigrok-cli ended ({how}): {(tail.Length > 0 ? tail : "no message on stderr")}");
        }

        private long NowNs() => (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await _stop.CancelAsync();
                Kill();
                await _loop;
                Kill();
                if (_process is { } p)
                {
                    await p.WaitForExitAsync(CancellationToken.None);
                    p.Dispose();
                }
                _stop.Dispose();
                return;
            }
            await _loop;
        }

        // The loop may still be starting the process when the stop comes: kill whatever runs, then again
        // once the loop ended (it cannot start one after the cancellation, but it may have just done so).
        private void Kill()
        {
            if (Volatile.Read(ref _process) is { } p)
            {
                try
                {
                    p.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // Already exited.
                }
            }
        }
    }
}
