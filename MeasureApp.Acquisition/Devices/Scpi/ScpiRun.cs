using System.Buffers;
using System.Globalization;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Acquisition.Devices.Scpi;

/// <summary>
/// One measurement on one SCPI connection. Polled: tick k is due at start + k/rate on the
/// <see cref="TimeProvider"/>; a block holds readings of consecutive ticks and starts at its first
/// reading's own time, so a missed tick (the instrument fell behind) starts a new block. Block: each
/// answer is a block at the time its query was sent, with the samples' own spacing; the next query is
/// due when that block's time span has passed, so blocks never overlap.
/// </summary>
internal sealed class ScpiRun(TimeProvider time, TimeSpan blockInterval, ILogger logger, DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
    : IAsyncDisposable
{
    /// <summary>A run that never started (its start already failed through the sink).</summary>
    public static readonly IAsyncDisposable Nothing = new NothingToStop();

    private const long NanosecondsPerTick = 100;
    private readonly CancellationTokenSource _stop = new();
    private readonly string _name = $"SCPI device '{device.Id}' at {device.Host}:{device.Port.ToString(CultureInfo.InvariantCulture)}";
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public void Begin() => _loop = Task.Run(RunAsync);

    public async ValueTask DisposeAsync()
    {
        // Every caller returns only once the loop has ended, so nothing is published after that.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
            return;
        }
        await _loop;
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        try
        {
            await using var connection = await ScpiConnection.ConnectAsync(device.Host!, device.Port, TimeSpan.FromMilliseconds(device.TimeoutMilliseconds), ct);
            foreach (var command in device.InitCommands)
            {
                await connection.SendAsync(command);
            }
            await CheckErrorsAsync(connection, "the init commands");
            if (device.Mode == ScpiMode.Block)
            {
                await BlockLoopAsync(connection, ct);
            }
            else
            {
                await PolledLoopAsync(connection, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopped by the measurement.
        }
        catch (ScpiConnectionLostException ex) when (!ct.IsCancellationRequested)
        {
            logger.LogWarning("{Device}: {Reason}; measurement {Measurement} stops", _name, ex.Message, measurement.Id);
            sink.Fail(ex.Message.StartsWith("could not connect", StringComparison.Ordinal)
                ? $"{_name}: {ex.Message}."
                : $"Lost the connection to {_name}: {ex.Message}.");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && !ct.IsCancellationRequested)
        {
            logger.LogError(ex, "{Device} failed for measurement {Measurement}", _name, measurement.Id);
            sink.Fail($"{_name} failed: {ex.Message}");
        }
    }

    private async Task CheckErrorsAsync(ScpiConnection connection, string after)
    {
        if (!string.IsNullOrWhiteSpace(device.ErrorQuery))
        {
            await ScpiDriver.ReadErrorQueueAsync(connection, device.ErrorQuery,
                error => sink.Fault(ScpiDriver.InstrumentErrorFault, $"{_name} reported {error} after {after}."));
        }
    }

    private long NowNs() => (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * NanosecondsPerTick;

    private async Task PolledLoopAsync(ScpiConnection connection, CancellationToken ct)
    {
        var channels = measurement.Channels.Count;
        var rate = measurement.SampleRate;
        var perBlock = Math.Max(1, (int)Math.Round(rate * blockInterval.TotalSeconds));
        var staged = new float[channels * perBlock];
        var reading = new double[channels];
        var count = 0;
        long blockT0 = 0;
        var period = TimeSpan.FromTicks(Math.Max(1, (long)Math.Round(TimeSpan.TicksPerSecond / rate)));
        // A periodic timer keeps its schedule while a tick's queries run, so no due tick is lost (a
        // one-shot delay computed from "now" would be late if the clock moved in between). It cannot tick
        // faster than 1 ms, and a loaded machine wakes it late: due ticks are then read back to back, and
        // a tick counts as missed (a gap) only once it is later than one block interval.
        var timerPeriod = period < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : period;
        var slack = Math.Max(timerPeriod.Ticks, blockInterval.Ticks);
        using var timer = new PeriodicTimer(timerPeriod, time);
        var start = time.GetTimestamp();
        long tick = 0;
        while (true)
        {
            while (time.GetElapsedTime(start).Ticks < tick * period.Ticks)
            {
                await timer.WaitForNextTickAsync(ct);
            }
            var late = time.GetElapsedTime(start).Ticks - (tick * period.Ticks);
            var behind = late >= slack ? late / period.Ticks : 0;
            if (behind >= 1)
            {
                // The instrument (or this machine) could not keep up: those ticks have no reading, so the
                // block ends here and the next one starts at its own first reading.
                if (!Flush(staged, perBlock, ref count, blockT0))
                {
                    return;
                }
                sink.Fault(ScpiDriver.OverrunFault, string.Create(CultureInfo.InvariantCulture,
                    $"{_name} fell {behind} reading(s) behind {rate:N0} Hz; a new block starts after the gap."));
                tick += behind;
            }
            var t = NowNs();
            var ok = true;
            for (var c = 0; c < channels; c++)
            {
                var query = device.Channels[c].Query!;
                string answer;
                try
                {
                    answer = await connection.QueryAsync(query);
                }
                catch (ScpiMalformedException ex)
                {
                    sink.Fault(ScpiDriver.BadReadingFault, $"{_name}: {ex.Message}.");
                    await connection.DrainAsync(QuietAfterMalformed());
                    ok = false;
                    break;
                }
                if (!ScpiDecoder.TryParseReading(answer, out reading[c]))
                {
                    sink.Fault(ScpiDriver.BadReadingFault, $"{_name} answered '{query}' with '{ScpiDriver.Shorten(answer)}', not a number.");
                    ok = false;
                }
            }
            await CheckErrorsAsync(connection, "the readings");
            if (!ok)
            {
                // No value for this tick: the block ends before it, like any other gap.
                if (!Flush(staged, perBlock, ref count, blockT0))
                {
                    return;
                }
                tick++;
                continue;
            }
            if (count == 0)
            {
                blockT0 = t;
            }
            for (var c = 0; c < channels; c++)
            {
                var ch = device.Channels[c];
                staged[(c * perBlock) + count] = (float)((reading[c] * ch.Scale) + ch.Offset);
            }
            count++;
            tick++;
            if (count == perBlock && !Flush(staged, perBlock, ref count, blockT0))
            {
                return;
            }
        }
    }

    /// <summary>Publishes the staged readings as one block; false when the measurement no longer takes data.</summary>
    private bool Flush(float[] staged, int perBlock, ref int count, long t0)
    {
        if (count == 0)
        {
            return true;
        }
        var channels = measurement.Channels.Count;
        var block = SampleBlock.Rent(channels, count);
        block.T0Ns = t0;
        block.SampleRate = measurement.SampleRate;
        for (var c = 0; c < channels; c++)
        {
            staged.AsSpan(c * perBlock, count).CopyTo(block.WritableChannel(c));
        }
        count = 0;
        return sink.Publish(block);
    }

    private TimeSpan QuietAfterMalformed() => TimeSpan.FromMilliseconds(Math.Min(100, device.TimeoutMilliseconds));

    private async Task BlockLoopAsync(ScpiConnection connection, CancellationToken ct)
    {
        var channels = measurement.Channels.Count;
        var rate = measurement.SampleRate;
        var decoded = new float[channels][];
        // Checked every block interval: a periodic timer cannot miss a due time the way a one-shot delay
        // computed from "now" can when the clock moves in between; a few ms late only moves the next t0.
        using var pacer = new PeriodicTimer(blockInterval, time);
        var start = time.GetTimestamp();
        var due = TimeSpan.Zero;
        try
        {
            while (true)
            {
                while (time.GetElapsedTime(start) < due)
                {
                    await pacer.WaitForNextTickAsync(ct);
                }
                var sentAt = time.GetElapsedTime(start);
                var t0 = NowNs();
                var count = int.MaxValue;
                var counts = new int[channels];
                var ok = true;
                for (var c = 0; c < channels && ok; c++)
                {
                    var ch = device.Channels[c];
                    await connection.SendAsync(ch.Query!);
                    byte[]? payload = null;
                    try
                    {
                        (payload, var length, _) = await connection.ReadBlockAsync(ch.Query!, device.MaxBlockBytes, device.DataFormat == ScpiDataFormat.Ascii);
                        var bytes = payload.AsSpan(0, length);
                        var n = ScpiDecoder.CountSamples(bytes, device.DataFormat);
                        if (decoded[c] is null || decoded[c].Length < n)
                        {
                            if (decoded[c] is { } old)
                            {
                                ArrayPool<float>.Shared.Return(old);
                            }
                            decoded[c] = ArrayPool<float>.Shared.Rent(Math.Max(1, n));
                        }
                        ScpiDecoder.Decode(bytes, device.DataFormat, ch.Scale, ch.Offset, decoded[c].AsSpan(0, n));
                        counts[c] = n;
                        count = Math.Min(count, n);
                    }
                    catch (ScpiMalformedException ex)
                    {
                        sink.Fault(ScpiDriver.MalformedBlockFault, $"{_name}: {ex.Message}; the block was dropped.");
                        await connection.DrainAsync(QuietAfterMalformed());
                        ok = false;
                    }
                    finally
                    {
                        if (payload is not null)
                        {
                            ArrayPool<byte>.Shared.Return(payload);
                        }
                    }
                }
                await CheckErrorsAsync(connection, "the block queries");
                if (!ok || count == 0)
                {
                    if (ok)
                    {
                        sink.Fault(ScpiDriver.MalformedBlockFault, $"{_name} answered with an empty block.");
                    }
                    // Nothing to publish; ask again at once (a malformed answer is not a reason to wait).
                    due = sentAt;
                    continue;
                }
                if (counts.Any(n => n != count))
                {
                    sink.Fault(ScpiDriver.MalformedBlockFault, string.Create(CultureInfo.InvariantCulture,
                        $"{_name} returned blocks of {string.Join(", ", counts)} samples for the {channels} channels; the first {count} of each are kept."));
                }
                var block = SampleBlock.Rent(channels, count);
                block.T0Ns = t0;
                block.SampleRate = rate;
                for (var c = 0; c < channels; c++)
                {
                    decoded[c].AsSpan(0, count).CopyTo(block.WritableChannel(c));
                }
                if (!sink.Publish(block))
                {
                    return;
                }
                due = sentAt + TimeSpan.FromSeconds(count / rate);
            }
        }
        finally
        {
            foreach (var d in decoded)
            {
                if (d is not null)
                {
                    ArrayPool<float>.Shared.Return(d);
                }
            }
        }
    }

    private sealed class NothingToStop : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
