using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition;

public sealed class SimulatedDriverTests
{
    private static readonly DeviceOptions Device = new()
    {
        Id = "sim",
        Seed = 11,
        SpikeProbability = 0.001,
        Channels =
        [
            new SimulatedChannelOptions { Waveform = Waveform.Sine, Frequency = 5 },
            new SimulatedChannelOptions { Waveform = Waveform.Square, Frequency = 3, Noise = 0.1 },
        ],
    };

    [Fact]
    public async Task OneSecondAtOneKilohertzGivesExactlyOneThousandContiguousSamplesPerChannel()
    {
        var time = new FakeTimeProvider();
        var startNs = (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
        var sink = new RecordingSink(expectedSamples: 1000);
        var run = CreateDriver(time).Start(Device, Info(channels: 3, rate: 1000), sink);

        time.Advance(TimeSpan.FromSeconds(1));
        await sink.Arrived.WaitAsync(TestTimeouts.HangGuard);
        await run.DisposeAsync();

        var blocks = sink.Blocks;
        Assert.Equal(1000, blocks.Sum(b => b.Count));
        long expectedIndex = 0;
        foreach (var b in blocks)
        {
            Assert.Equal(expectedIndex, b.FirstSampleIndex);
            Assert.Equal(3, b.ChannelCount);
            Assert.Equal(1000, b.SampleRate);
            // 1 kHz: one sample per millisecond, so t0 moves with the index exactly.
            Assert.Equal(startNs + b.FirstSampleIndex * 1_000_000, b.T0Ns);
            expectedIndex += b.Count;
        }
        for (var c = 0; c < 3; c++)
        {
            var expected = new float[1000];
            SignalGenerator.Fill(expected, 0, 1000, Device.Channels[c % 2], Device.Seed, c, Device.SpikeProbability);
            Assert.Equal(expected, blocks.SelectMany(b => b.Values[c]).ToArray());
        }
    }

    [Fact]
    public async Task TimeAdvancedInUnevenStepsStillGivesEverySampleOnceInOrder()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink(expectedSamples: 2500);
        var run = CreateDriver(time).Start(Device, Info(channels: 1, rate: 2500), sink);

        var advanced = TimeSpan.Zero;
        var random = new Random(3);
        while (advanced < TimeSpan.FromSeconds(1))
        {
            var step = TimeSpan.FromMilliseconds(Math.Min(random.Next(1, 40), (TimeSpan.FromSeconds(1) - advanced).TotalMilliseconds));
            time.Advance(step);
            advanced += step;
        }
        await sink.Arrived.WaitAsync(TestTimeouts.HangGuard);
        await run.DisposeAsync();

        var blocks = sink.Blocks;
        Assert.Equal(2500, blocks.Sum(b => b.Count));
        Assert.Equal(blocks.Select(b => b.FirstSampleIndex), blocks.Select(b => b.FirstSampleIndex).Order());
        for (var i = 1; i < blocks.Count; i++)
        {
            Assert.Equal(blocks[i - 1].FirstSampleIndex + blocks[i - 1].Count, blocks[i].FirstSampleIndex);
            Assert.True(blocks[i].T0Ns > blocks[i - 1].T0Ns);
            Assert.Equal(blocks[i - 1].T0Ns + (long)(blocks[i - 1].Count * 1e9 / 2500), blocks[i].T0Ns, tolerance: 1);
        }
    }

    [Fact]
    public async Task SpikesOfTheDeviceArriveAsEventsWithTheirValues()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink(expectedSamples: 10_000);
        var run = CreateDriver(time).Start(Device, Info(channels: 2, rate: 10_000), sink);

        time.Advance(TimeSpan.FromSeconds(1));
        await sink.Arrived.WaitAsync(TestTimeouts.HangGuard);
        await run.DisposeAsync();

        var events = sink.Blocks.SelectMany(b => b.Events).ToList();
        var expected = new List<long>();
        for (var c = 0; c < 2; c++)
        {
            var spikes = SignalGenerator.Fill(new float[10_000], 0, 10_000, Device.Channels[c], Device.Seed, c, Device.SpikeProbability) ?? [];
            Assert.NotEmpty(spikes);
            Assert.Equal(spikes.Select(i => (long)i), events.Where(e => e.Channel == c).Select(e => e.SampleIndex));
        }
        Assert.All(events, e => Assert.Equal("spike", e.Kind));
        Assert.All(events, e => Assert.Equal(sink.ValueAt(e.Channel, e.SampleIndex), e.Value));
    }

    [Fact]
    public async Task DisposingTheRunEndsProduction()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink(expectedSamples: 500);
        var run = CreateDriver(time).Start(Device, Info(channels: 1, rate: 1000), sink);
        time.Advance(TimeSpan.FromMilliseconds(500));
        await sink.Arrived.WaitAsync(TestTimeouts.HangGuard);

        await run.DisposeAsync();
        var produced = sink.Blocks.Sum(b => b.Count);
        time.Advance(TimeSpan.FromSeconds(5));
        await run.DisposeAsync();

        Assert.Equal(500, produced);
        Assert.Equal(500, sink.Blocks.Sum(b => b.Count));
    }

    [Fact]
    public async Task ProductionEndsWhenTheSinkRefusesABlock()
    {
        var time = new FakeTimeProvider();
        var sink = new RecordingSink(expectedSamples: 1) { AcceptBlocks = 1 };
        var run = CreateDriver(time).Start(Device, Info(channels: 1, rate: 1000), sink);

        time.Advance(TimeSpan.FromMilliseconds(5));
        await sink.Arrived.WaitAsync(TestTimeouts.HangGuard);
        time.Advance(TimeSpan.FromMilliseconds(5));
        await sink.Refused.WaitAsync(TestTimeouts.HangGuard);
        time.Advance(TimeSpan.FromMilliseconds(50));
        await run.DisposeAsync();

        // The first block was accepted, the second refused; after the refusal nothing more is offered.
        Assert.Equal(2, sink.Offered);
    }

    [Fact]
    public void CreateBlockCarriesItsPositionInTheStream()
    {
        var block = SimulatedDriver.CreateBlock(Device, channels: 2, sampleRate: 1000, firstIndex: 4000, count: 100, t0Ns: 77);
        try
        {
            Assert.Equal(4000, block.FirstSampleIndex);
            Assert.Equal(77, block.T0Ns);
            Assert.Equal(1000, block.SampleRate);
            var expected = new float[100];
            SignalGenerator.Fill(expected, 4000, 1000, Device.Channels[1], Device.Seed, 1, Device.SpikeProbability);
            Assert.Equal(expected, block.Channel(1).ToArray());
        }
        finally
        {
            block.Release();
        }
    }

    private static SimulatedDriver CreateDriver(TimeProvider time) =>
        new(time, Options.Create(new AcquisitionOptions { Devices = [Device], BlockMilliseconds = 5 }), NullLogger<SimulatedDriver>.Instance);

    private static MeasurementInfo Info(int channels, double rate) => new()
    {
        Id = Guid.NewGuid(),
        OwnerId = "u1",
        OwnerName = "u1@example.com",
        Name = "test",
        DeviceId = Device.Id,
        Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i + 1}", "V"))],
        SampleRate = rate,
        State = MeasurementState.Starting,
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    /// <summary>A copy of a block's data that outlives the pooled buffer.</summary>
    private sealed record BlockCopy(long FirstSampleIndex, long T0Ns, double SampleRate, int ChannelCount, int Count, float[][] Values, IReadOnlyList<SampleEvent> Events);

    /// <summary>Keeps what the driver delivers and signals once the expected number of samples is there.</summary>
    private sealed class RecordingSink(long expectedSamples) : IBlockSink
    {
        private readonly Lock _gate = new();
        private readonly List<BlockCopy> _blocks = [];
        private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _refused = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _samples;

        public int AcceptBlocks { get; init; } = int.MaxValue;

        public int Offered { get; private set; }

        public Task Arrived => _arrived.Task;

        public Task Refused => _refused.Task;

        public List<BlockCopy> Blocks
        {
            get
            {
                lock (_gate)
                {
                    return [.. _blocks];
                }
            }
        }

        public float ValueAt(int channel, long index)
        {
            var block = Blocks.Single(b => b.FirstSampleIndex <= index && index < b.FirstSampleIndex + b.Count);
            return block.Values[channel][index - block.FirstSampleIndex];
        }

        public bool Publish(SampleBlock block)
        {
            try
            {
                lock (_gate)
                {
                    Offered++;
                    if (Offered > AcceptBlocks)
                    {
                        _refused.TrySetResult();
                        return false;
                    }
                    var values = Enumerable.Range(0, block.ChannelCount).Select(c => block.Channel(c).ToArray()).ToArray();
                    _blocks.Add(new BlockCopy(block.FirstSampleIndex, block.T0Ns, block.SampleRate, block.ChannelCount, block.Count, values, [.. block.Events]));
                    _samples += block.Count;
                    if (_samples >= expectedSamples)
                    {
                        _arrived.TrySetResult();
                    }
                    return true;
                }
            }
            finally
            {
                block.Release();
            }
        }

        public void Fault(string kind, string message)
        {
        }

        public void Fail(string message) => _arrived.TrySetException(new InvalidOperationException(message));
    }
}
