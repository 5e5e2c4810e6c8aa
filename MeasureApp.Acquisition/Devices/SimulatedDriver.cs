using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices;

/// <summary>
/// Signal generator paced in real time by <see cref="TimeProvider"/>: every few milliseconds it
/// produces exactly the samples that are due, so the stream has no gaps even when a tick is late.
/// </summary>
public sealed class SimulatedDriver(TimeProvider time, IOptions<AcquisitionOptions> options, ILogger<SimulatedDriver> logger) : IDeviceDriver
{
    /// <summary>Largest block in samples per channel (keeps latency and buffer sizes bounded after a stall).</summary>
    public const int MaxBlockSamples = 16_384;

    private const long NanosecondsPerTick = 100;

    private static readonly SimulatedChannelOptions DefaultChannel = new();

    /// <inheritdoc />
    public string Kind => "Simulated";

    /// <inheritdoc />
    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
    {
        var run = new Run(time, TimeSpan.FromMilliseconds(options.Value.BlockMilliseconds), logger, device, measurement, sink);
        run.Begin();
        return run;
    }

    /// <summary>Fills one block of the simulated device at the given position (pure, used by tests too).</summary>
    public static SampleBlock CreateBlock(DeviceOptions device, int channels, double sampleRate, long firstIndex, int count, long t0Ns)
    {
        var block = SampleBlock.Rent(channels, count);
        // The measurement re-stamps the index; setting it here lets any sink check the stream for gaps.
        block.FirstSampleIndex = firstIndex;
        block.T0Ns = t0Ns;
        block.SampleRate = sampleRate;
        List<SampleEvent>? events = null;
        for (var c = 0; c < channels; c++)
        {
            var ch = device.Channels.Count == 0 ? DefaultChannel : device.Channels[c % device.Channels.Count];
            var spikes = SignalGenerator.Fill(block.WritableChannel(c), firstIndex, sampleRate, ch, device.Seed, c, device.SpikeProbability);
            if (spikes is not null)
            {
                events ??= [];
                foreach (var i in spikes)
                {
                    events.Add(new SampleEvent(firstIndex + i, c, "spike", block.Channel(c)[i]));
                }
            }
        }
        block.Events = events ?? (IReadOnlyList<SampleEvent>)[];
        return block;
    }

    private sealed class Run(TimeProvider time, TimeSpan interval, ILogger logger, DeviceOptions device, MeasurementInfo measurement, IBlockSink sink) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;
        private int _disposed;

        public void Begin()
        {
            // The clock and the timer start here, on the caller's thread, not when the thread pool gets
            // round to the loop: otherwise time that passes in between (or a test's fake clock advanced
            // right after Start) would be lost and the first samples would start late.
            var startTicks = time.GetTimestamp();
            var startNs = (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * NanosecondsPerTick;
            var timer = new PeriodicTimer(interval, time);
            _loop = Task.Run(() => LoopAsync(timer, startTicks, startNs, _stop.Token));
        }

        private async Task LoopAsync(PeriodicTimer timer, long startTicks, long startNs, CancellationToken ct)
        {
            var rate = measurement.SampleRate;
            long produced = 0;
            using var _ = timer;
            try
            {
                while (await timer.WaitForNextTickAsync(ct))
                {
                    var due = (long)(time.GetElapsedTime(startTicks).TotalSeconds * rate);
                    while (produced < due)
                    {
                        var count = (int)Math.Min(due - produced, MaxBlockSamples);
                        var t0 = startNs + SampleTime.OffsetNs(produced, rate);
                        var block = CreateBlock(device, measurement.Channels.Count, rate, produced, count, t0);
                        produced += count;
                        if (!sink.Publish(block))
                        {
                            return;
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Stopped by the measurement.
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                logger.LogError(ex, "Simulated device {Device} failed for measurement {Measurement}", device.Id, measurement.Id);
                sink.Fail(ex.Message);
            }
        }

        public async ValueTask DisposeAsync()
        {
            // Every caller (the engine may stop a measurement from two paths) returns only once the loop
            // has ended, so no block is published after that.
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await _stop.CancelAsync();
                await _loop;
                _stop.Dispose();
                return;
            }
            await _loop;
        }
    }
}
