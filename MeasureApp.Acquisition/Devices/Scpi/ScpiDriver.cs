using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices.Scpi;

/// <summary>
/// Bench instruments over a raw SCPI socket (port 5025 by convention, no VISA): a DMM or PSU polled
/// with one query per channel per sample, or a scope / buffered DMM read one block per query
/// (IEEE 488.2 definite-length binary block or a comma-separated list). Each measurement has its own
/// connection. The instrument's error queue is read after each command batch and reported as faults;
/// a lost connection stops the measurement naming the host. See docs/instruments.md.
/// </summary>
public sealed class ScpiDriver(TimeProvider time, IOptions<AcquisitionOptions> options, ILogger<ScpiDriver> logger)
    : IDeviceDriver, IDeviceProbe, IDeviceStartCheck
{
    /// <summary>The <see cref="DeviceOptions.Driver"/> value of SCPI devices.</summary>
    public const string DriverKind = "Scpi";

    /// <summary>Fault kind of an error read from the instrument's error queue.</summary>
    public const string InstrumentErrorFault = "instrument-error";

    /// <summary>Fault kind of a block answer that breaks the IEEE 488.2 block rules or the data format.</summary>
    public const string MalformedBlockFault = "malformed-block";

    /// <summary>Fault kind of a polled answer that is not a number.</summary>
    public const string BadReadingFault = "bad-reading";

    /// <summary>Fault kind of polled ticks the instrument could not keep up with (a new block starts after them).</summary>
    public const string OverrunFault = "overrun";

    // Enough rounds to average out a scheduler hiccup, short enough that a start answers at once.
    private const int RateProbeMaxRounds = 200;
    private static readonly TimeSpan RateProbeDuration = TimeSpan.FromMilliseconds(300);
    private const int MaxErrorsPerBatch = 32;

    /// <inheritdoc />
    public string Kind => DriverKind;

    /// <summary>
    /// What is wrong with a SCPI device's settings, naming the key, or null. Checked at start-up, by
    /// the start check and by the Devices page before it saves a device.
    /// </summary>
    public static string? CheckSettings(DeviceOptions device, int index = -1)
    {
        ArgumentNullException.ThrowIfNull(device);
        var key = index >= 0 ? string.Create(CultureInfo.InvariantCulture, $"Acquisition:Devices:{index}") : "Acquisition:Devices:N";
        if (string.IsNullOrWhiteSpace(device.Host))
        {
            return $"{key}:Host is required for a Scpi device (the instrument's address, e.g. 192.168.1.50).";
        }
        if (device.Channels.Count == 0)
        {
            return $"{key}:Channels must list at least one channel with a Query for a Scpi device.";
        }
        for (var i = 0; i < device.Channels.Count; i++)
        {
            var ch = device.Channels[i];
            if (string.IsNullOrWhiteSpace(ch.Query))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{key}:Channels:{i}:Query is required for a Scpi device (e.g. MEAS:VOLT:DC?).");
            }
            if (!double.IsFinite(ch.Scale) || ch.Scale == 0 || !double.IsFinite(ch.Offset))
            {
                return string.Create(CultureInfo.InvariantCulture, $"{key}:Channels:{i}:Scale must be a finite non-zero number and Offset finite.");
            }
        }
        if (device.InitCommands.Any(string.IsNullOrWhiteSpace) || device.InitCommands.Concat(device.Channels.Select(c => c.Query!)).Any(c => c.Contains('\n', StringComparison.Ordinal)))
        {
            return $"{key}:InitCommands and Channels:N:Query hold one non-empty command each, without line breaks.";
        }
        return null;
    }

    /// <inheritdoc />
    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(measurement);
        ArgumentNullException.ThrowIfNull(sink);
        var error = CheckSettings(device) ?? CheckRequest(device, measurement.Channels.Count, measurement.SampleRate);
        if (error is not null)
        {
            sink.Fail(error);
            return ScpiRun.Nothing;
        }
        var run = new ScpiRun(time, TimeSpan.FromMilliseconds(options.Value.BlockMilliseconds), logger, device, measurement, sink);
        run.Begin();
        return run;
    }

    /// <inheritdoc />
    public async Task<DeviceProbeResult> ProbeAsync(DeviceOptions device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (string.IsNullOrWhiteSpace(device.Host))
        {
            return new DeviceProbeResult(false, null, "Host is not set.");
        }
        var started = Stopwatch.GetTimestamp();
        try
        {
            await using var connection = await ScpiConnection.ConnectAsync(device.Host, device.Port, TimeSpan.FromMilliseconds(device.TimeoutMilliseconds), cancellationToken);
            var identity = (await connection.QueryAsync("*IDN?")).Trim();
            var errors = new List<string>();
            if (!string.IsNullOrWhiteSpace(device.ErrorQuery))
            {
                await ReadErrorQueueAsync(connection, device.ErrorQuery, errors.Add);
            }
            var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var message = string.Create(CultureInfo.InvariantCulture, $"Connected to {connection.Endpoint}; *IDN? answered in {ms:0} ms.");
            if (errors.Count > 0)
            {
                message += $" Error queue: {string.Join("; ", errors)}";
            }
            return new DeviceProbeResult(identity.Length > 0, identity.Length > 0 ? identity : null,
                identity.Length > 0 ? message : $"{connection.Endpoint} answered *IDN? with an empty line.");
        }
        catch (ScpiConnectionLostException ex)
        {
            return new DeviceProbeResult(false, null, $"{Capitalize(ex.Message)}.");
        }
        catch (ScpiMalformedException ex)
        {
            return new DeviceProbeResult(false, null, $"{Capitalize(ex.Message)}.");
        }
    }

    /// <summary>
    /// Connects, sends the init commands and reads each channel once. Polled: measures how many
    /// readings per second the instrument sustains (with the error query after each round, as the run
    /// does) and refuses a faster rate with both numbers. Block: checks the rate against the samples' spacing.
    /// </summary>
    public async Task<string?> CheckStartAsync(DeviceOptions device, int channels, double sampleRate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        var error = CheckSettings(device) ?? CheckRequest(device, channels, sampleRate);
        if (error is not null)
        {
            return error;
        }
        var name = $"SCPI device '{device.Id}' at {device.Host}:{device.Port.ToString(CultureInfo.InvariantCulture)}";
        try
        {
            await using var connection = await ScpiConnection.ConnectAsync(device.Host!, device.Port, TimeSpan.FromMilliseconds(device.TimeoutMilliseconds), cancellationToken);
            foreach (var command in device.InitCommands)
            {
                await connection.SendAsync(command);
            }
            var errorQuery = string.IsNullOrWhiteSpace(device.ErrorQuery) ? null : device.ErrorQuery;
            if (errorQuery is not null)
            {
                // Init errors are reported by the run (as faults the owner sees); here they only must not linger.
                await ReadErrorQueueAsync(connection, errorQuery, _ => { });
            }
            if (device.Mode == ScpiMode.Block)
            {
                for (var c = 0; c < channels; c++)
                {
                    var query = device.Channels[c].Query!;
                    await connection.SendAsync(query);
                    var (buffer, length, _) = await connection.ReadBlockAsync(query, device.MaxBlockBytes, device.DataFormat == ScpiDataFormat.Ascii);
                    try
                    {
                        if (ScpiDecoder.CountSamples(buffer.AsSpan(0, length), device.DataFormat) == 0)
                        {
                            return $"{name} answered '{query}' with an empty block.";
                        }
                    }
                    finally
                    {
                        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                    }
                }
                return null;
            }

            var started = Stopwatch.GetTimestamp();
            var rounds = 0;
            while (rounds < RateProbeMaxRounds && (rounds < 3 || Stopwatch.GetElapsedTime(started) < RateProbeDuration))
            {
                for (var c = 0; c < channels; c++)
                {
                    var query = device.Channels[c].Query!;
                    var answer = await connection.QueryAsync(query);
                    if (!ScpiDecoder.TryParseReading(answer, out _))
                    {
                        return $"{name} answered '{query}' with '{Shorten(answer)}', not a number.";
                    }
                }
                if (errorQuery is not null)
                {
                    await ReadErrorQueueAsync(connection, errorQuery, _ => { });
                }
                rounds++;
            }
            var sustained = rounds / Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (sampleRate > sustained)
            {
                var per = channels == 1 ? "" : string.Create(CultureInfo.InvariantCulture, $" per channel with {channels} channels");
                var withErrors = errorQuery is null ? "" : $", measured with {errorQuery} after each round as the measurement does";
                return string.Create(CultureInfo.InvariantCulture,
                    $"{name} sustains {sustained:N0} readings/s{per}; you asked for {sampleRate:N0} Hz{withErrors}.");
            }
            return null;
        }
        catch (ScpiConnectionLostException ex)
        {
            return $"{name}: {ex.Message}.";
        }
        catch (ScpiMalformedException ex)
        {
            return $"{name}: {ex.Message}.";
        }
    }

    /// <summary>Reads the error queue until it reports 0 (bounded); each error goes to <paramref name="report"/>.</summary>
    internal static async Task ReadErrorQueueAsync(ScpiConnection connection, string errorQuery, Action<string> report)
    {
        for (var i = 0; i < MaxErrorsPerBatch; i++)
        {
            var answer = (await connection.QueryAsync(errorQuery)).Trim();
            var comma = answer.IndexOf(',', StringComparison.Ordinal);
            var code = comma < 0 ? answer : answer[..comma];
            if (int.TryParse(code, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n == 0)
            {
                return;
            }
            report(answer);
            if (!int.TryParse(code, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
            {
                // Not an error-queue answer at all: asking again would not empty anything.
                return;
            }
        }
    }

    private static string? CheckRequest(DeviceOptions device, int channels, double sampleRate)
    {
        var withQuery = device.Channels.TakeWhile(c => !string.IsNullOrWhiteSpace(c.Query)).Count();
        if (channels > withQuery)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"SCPI device '{device.Id}' has a Query for {withQuery} channel(s); you asked for {channels}.");
        }
        if (device.Mode == ScpiMode.Block && device.SampleIntervalSeconds > 0)
        {
            var own = 1 / device.SampleIntervalSeconds;
            if (Math.Abs(own - sampleRate) > own * 1e-6)
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"SCPI device '{device.Id}' delivers a sample every {device.SampleIntervalSeconds:G6} s ({own:N0} Hz); start the measurement at that rate, not {sampleRate:N0} Hz.");
            }
        }
        return null;
    }

    internal static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
