using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Bench.Load;

/// <summary>Settings of <see cref="EngineFanoutScenario"/>; defaults are the SPEC §9 load.</summary>
public sealed record FanoutSettings
{
    /// <summary>Running measurements.</summary>
    public int Measurements { get; init; } = 200;
    /// <summary>Distinct owners; measurements and subscriptions are dealt round-robin over them.</summary>
    public int Users { get; init; } = 50;
    /// <summary>Live subscriptions (circuits × charts), each on a measurement its user owns.</summary>
    public int Subscriptions { get; init; } = 500;
    /// <summary>Samples per second per channel.</summary>
    public double SampleRate { get; init; } = 100_000;
    /// <summary>Smallest channel count; measurement i has MinChannels + i mod (MaxChannels − MinChannels + 1).</summary>
    public int MinChannels { get; init; } = 1;
    /// <summary>Largest channel count.</summary>
    public int MaxChannels { get; init; } = 4;
    /// <summary>Block length in milliseconds of samples (the devices' default hand-over period).</summary>
    public double BlockMilliseconds { get; init; } = 5;
    /// <summary>Chart width in pixels of every subscription.</summary>
    public int PixelWidth { get; init; } = 1000;
    /// <summary>Visible window of every subscription.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Wall-clock length of the run (ignored when <see cref="BlocksPerMeasurement"/> is set).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>When set, publish exactly this many blocks per measurement flat-out and stop (deterministic runs).</summary>
    public int? BlocksPerMeasurement { get; init; }
    /// <summary>True: publish blocks when real time makes them due; false: flat-out (capacity).</summary>
    public bool Paced { get; init; } = true;
    /// <summary>Producer threads; measurements are split over them (a measurement always publishes from one thread).</summary>
    public int Producers { get; init; } = Environment.ProcessorCount;
    /// <summary>Frame buffer capacity of each subscription.</summary>
    public int Capacity { get; init; } = 64;
    /// <summary>Distinct pre-generated blocks per measurement, cycled through.</summary>
    public int BlocksInRing { get; init; } = 4;

    /// <summary>Samples per channel in one block.</summary>
    public int BlockSamples => Math.Max(1, (int)Math.Round(SampleRate * BlockMilliseconds / 1000));
}

/// <summary>What one fan-out run measured.</summary>
public sealed record FanoutResult
{
    /// <summary>Settings used.</summary>
    public required FanoutSettings Settings { get; init; }
    /// <summary>Wall-clock time from the first publish to the last.</summary>
    public required TimeSpan Elapsed { get; init; }
    /// <summary>Process CPU time spent during the run (all threads).</summary>
    public required TimeSpan CpuTime { get; init; }
    /// <summary>Blocks handed to the hub.</summary>
    public required long BlocksPublished { get; init; }
    /// <summary>Samples per channel published, summed over measurements.</summary>
    public required long SamplesPublished { get; init; }
    /// <summary>float32 values published (samples × channels), summed over measurements.</summary>
    public required long ValuesPublished { get; init; }
    /// <summary>float32 values decimated into subscription buffers (each subscription counts its own).</summary>
    public required long ValuesIntoBuffers { get; init; }
    /// <summary>Samples per channel each subscription saw, as reported by the subscriptions.</summary>
    public required IReadOnlyList<long> SamplesSeenPerSubscription { get; init; }
    /// <summary>Subscriptions the hub refused (should be 0: every subscriber owns its measurement).</summary>
    public required int RefusedSubscriptions { get; init; }
    /// <summary>Frames the consumers read.</summary>
    public required long FramesRead { get; init; }
    /// <summary>Points (x, y pairs) in the frames read.</summary>
    public required long PointsRead { get; init; }
    /// <summary>Frames dropped because a buffer was full.</summary>
    public required long FramesDropped { get; init; }
    /// <summary>Frames read by a consumer whose subscription belongs to another user (must be 0).</summary>
    public required long ForeignFrames { get; init; }
    /// <summary>Duration of hub.Publish per block: block handed over → decimated into every subscriber's buffer.</summary>
    public required LatencySummary PublishLatency { get; init; }
    /// <summary>Paced runs: time from the moment a block's last sample was due to the end of its publish.</summary>
    public required LatencySummary DueToBufferLatency { get; init; }
    /// <summary>Paced runs: values per second real time asks for.</summary>
    public required double TargetValuesPerSecond { get; init; }
    /// <summary>Paced runs: largest gap at the end between samples due and samples published, over all measurements.</summary>
    public required TimeSpan Backlog { get; init; }
    /// <summary>Bytes allocated by the process during the run.</summary>
    public required long AllocatedBytes { get; init; }
    /// <summary>Gen0/1/2 collections during the run.</summary>
    public required (int Gen0, int Gen1, int Gen2) Collections { get; init; }

    /// <summary>Published values per second.</summary>
    public double ValuesPublishedPerSecond => ValuesPublished / Elapsed.TotalSeconds;

    /// <summary>Values decimated into buffers per second.</summary>
    public double ValuesIntoBuffersPerSecond => ValuesIntoBuffers / Elapsed.TotalSeconds;
}

/// <summary>
/// SPEC §9 engine load: 200 measurements at 100 kHz × 1–4 channels on a <see cref="LiveHub"/>,
/// fanned out to 500 live subscriptions whose consumers drain their frame buffers. Measures
/// values/s decimated into buffers and the per-block publish latency. Storage is not involved.
/// </summary>
public sealed class EngineFanoutScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "engine-fanout";

    /// <inheritdoc />
    public string Description => "LiveHub fan-out: 200 measurements × 100 kHz → 500 subscriptions (SPEC §9, goal ≥ 20 M samples/s, p99 ≤ 1 ms)";

    /// <inheritdoc />
    public string Usage => """
        --seconds N        run length (default 10)
        --mode paced|flat  paced = real-time rate (default), flat = as fast as possible
        --measurements N   (200)   --users N (50)   --subscriptions N (500)
        --rate HZ          per channel (100k)   --min-channels N (1)   --max-channels N (4)
        --block-ms MS      block length (5)     --pixels N (1000)      --window-s S (10)
        --producers N      producer threads (cores)   --capacity N  frame buffer (64)
        --blocks N         publish exactly N blocks per measurement flat-out, then stop
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var mode = options.GetString("mode", "paced");
        if (mode is not ("paced" or "flat"))
        {
            throw new ArgumentException("--mode must be paced or flat.", nameof(options));
        }
        var blocks = options.Has("blocks") ? options.GetInt("blocks", 1) : (int?)null;
        var settings = new FanoutSettings
        {
            Measurements = options.GetInt("measurements", 200),
            Users = options.GetInt("users", 50),
            Subscriptions = options.GetInt("subscriptions", 500),
            SampleRate = options.GetDouble("rate", 100_000),
            MinChannels = options.GetInt("min-channels", 1),
            MaxChannels = options.GetInt("max-channels", 4),
            BlockMilliseconds = options.GetDouble("block-ms", 5),
            PixelWidth = options.GetInt("pixels", 1000),
            Window = TimeSpan.FromSeconds(options.GetDouble("window-s", 10)),
            Duration = TimeSpan.FromSeconds(options.GetDouble("seconds", 10)),
            BlocksPerMeasurement = blocks,
            Paced = mode == "paced" && blocks is null,
            Producers = options.GetInt("producers", Environment.ProcessorCount),
            Capacity = options.GetInt("capacity", 64),
        };
        progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"engine-fanout: {settings.Measurements} measurements × {settings.SampleRate:F0} Hz × {settings.MinChannels}–{settings.MaxChannels} ch, {settings.Subscriptions} subscriptions, {(settings.Paced ? "paced" : "flat-out")}, {(blocks is null ? $"{settings.Duration.TotalSeconds:F0} s" : $"{blocks} blocks each")}, {settings.Producers} producers"));
        var result = await RunAsync(settings, cancellationToken);
        return ToReport(result);
    }

    /// <summary>Runs the fan-out with explicit settings (used by the command line and the smoke test).</summary>
    public static async Task<FanoutResult> RunAsync(FanoutSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Measurements, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Users, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Producers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.MaxChannels, settings.MinChannels);
        // A block-counted run is always flat-out (its doc says so); normalise once so every reader agrees.
        settings = settings with { Paced = settings.Paced && settings.BlocksPerMeasurement is null };

        var hub = new LiveHub();
        var startedAt = DateTimeOffset.UtcNow;
        var startNs = startedAt.ToUnixTimeMilliseconds() * 1_000_000;
        var device = new DeviceOptions { Id = "bench", Seed = 7 };
        var blockSamples = settings.BlockSamples;

        // Measurements, dealt round-robin over users (50 users × 4 = 200 matches the 4-per-user limit).
        var feeds = new Feed[settings.Measurements];
        for (var i = 0; i < feeds.Length; i++)
        {
            var channels = settings.MinChannels + (i % (settings.MaxChannels - settings.MinChannels + 1));
            var owner = UserId(i % settings.Users);
            var info = new MeasurementInfo
            {
                Id = Guid.NewGuid(),
                OwnerId = owner,
                OwnerName = owner + "@bench",
                Name = $"m{i}",
                DeviceId = device.Id,
                Channels = [.. Enumerable.Range(0, channels).Select(c => new ChannelInfo($"ch{c}", "V"))],
                SampleRate = settings.SampleRate,
                State = MeasurementState.Running,
                StartedAt = startedAt,
            };
            hub.Open(info);
            var ring = new SampleBlock[Math.Max(1, settings.BlocksInRing)];
            for (var r = 0; r < ring.Length; r++)
            {
                ring[r] = SimulatedDriver.CreateBlock(device, channels, settings.SampleRate, (long)r * blockSamples, blockSamples, startNs);
                ring[r].MeasurementId = info.Id;
            }
            feeds[i] = new Feed(info, ring);
        }

        // Subscriptions: subscriber s belongs to user s mod Users and watches one of that user's measurements.
        var byOwner = feeds.GroupBy(f => f.Info.OwnerId, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);
        var view = new LiveView(settings.PixelWidth, settings.Window);
        var subscriptions = new List<LiveSubscription>(settings.Subscriptions);
        var refused = 0;
        for (var s = 0; s < settings.Subscriptions; s++)
        {
            var user = UserId(s % settings.Users);
            if (!byOwner.TryGetValue(user, out var owned))
            {
                refused++;
                continue;
            }
            var target = owned[s / settings.Users % owned.Length];
            var subscription = hub.Subscribe(target.Info.Id, new Requester(user, user + "@bench", IsAdmin: false), view, settings.Capacity);
            if (subscription is null)
            {
                refused++;
                continue;
            }
            subscriptions.Add(subscription);
        }

        var consumers = subscriptions.Select(s => Task.Run(() => ConsumeAsync(s, cancellationToken), CancellationToken.None)).ToArray();

        // Producers on dedicated threads: a measurement always publishes from the same thread, as a device does.
        var producerCount = Math.Min(settings.Producers, feeds.Length);
        var expectedBlocks = settings.BlocksPerMeasurement ?? (int)(settings.Duration.TotalSeconds * 1000 / settings.BlockMilliseconds);
        var producers = new Producer[producerCount];
        for (var p = 0; p < producerCount; p++)
        {
            var mine = feeds.Where((_, i) => i % producerCount == p).ToArray();
            // Flat-out publishes ~10× real time; size the recorders up front so their growth does not count as engine allocation.
            var perFeed = (long)(expectedBlocks + 16) * (settings.Paced || settings.BlocksPerMeasurement is not null ? 1 : 16);
            producers[p] = new Producer(hub, mine, settings, (int)Math.Clamp(mine.Length * perFeed, 16, 1 << 25));
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var startTicks = Stopwatch.GetTimestamp();
        var threads = producers.Select((producer, p) => new Thread(() => producer.Run(startTicks, cancellationToken))
        {
            IsBackground = true,
            Name = $"bench-producer-{p}",
            Priority = ThreadPriority.AboveNormal,
        }).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }
        foreach (var thread in threads)
        {
            thread.Join();
        }
        var elapsed = Stopwatch.GetElapsedTime(startTicks);
        var cpuTime = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var collections = (GC.CollectionCount(0) - gcBefore.Item1, GC.CollectionCount(1) - gcBefore.Item2, GC.CollectionCount(2) - gcBefore.Item3);

        var samplesSeen = subscriptions.Select(s => s.SamplesSeen).ToArray();
        var valuesIntoBuffers = subscriptions.Sum(s => s.SamplesSeen * s.Info.Channels.Count);
        var dropped = subscriptions.Sum(s => s.DroppedFrames);
        foreach (var feed in feeds)
        {
            hub.Close(feed.Info.Id);
        }
        var consumed = await Task.WhenAll(consumers);
        foreach (var subscription in subscriptions)
        {
            subscription.Dispose();
        }
        foreach (var block in feeds.SelectMany(f => f.Ring))
        {
            block.Release();
        }

        var valuesPerSecondTarget = feeds.Sum(f => f.Info.Channels.Count * settings.SampleRate);
        return new FanoutResult
        {
            Settings = settings,
            Elapsed = elapsed,
            CpuTime = cpuTime,
            BlocksPublished = feeds.Sum(f => f.Sequence),
            SamplesPublished = feeds.Sum(f => f.Produced),
            ValuesPublished = feeds.Sum(f => f.Produced * f.Info.Channels.Count),
            ValuesIntoBuffers = valuesIntoBuffers,
            SamplesSeenPerSubscription = samplesSeen,
            RefusedSubscriptions = refused,
            FramesRead = consumed.Sum(c => c.Frames),
            PointsRead = consumed.Sum(c => c.Points),
            FramesDropped = dropped,
            ForeignFrames = consumed.Sum(c => c.Foreign),
            PublishLatency = LatencySummary.From(producers.Select(p => p.PublishLatency)),
            DueToBufferLatency = LatencySummary.From(producers.Select(p => p.DueLatency)),
            TargetValuesPerSecond = settings.Paced ? valuesPerSecondTarget : 0,
            Backlog = TimeSpan.FromSeconds(producers.Max(p => p.BacklogSamples) / settings.SampleRate),
            AllocatedBytes = allocated,
            Collections = collections,
        };
    }

    private static string UserId(int user) => $"user-{user:D3}";

    private static async Task<(long Frames, long Points, long Foreign)> ConsumeAsync(LiveSubscription subscription, CancellationToken cancellationToken)
    {
        long frames = 0, points = 0, foreign = 0;
        try
        {
            await foreach (var frame in subscription.Frames.ReadAllAsync(cancellationToken))
            {
                frames++;
                points += frame.PointCount;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: report what was read.
        }
        if (!string.Equals(subscription.Info.OwnerId, subscription.UserId, StringComparison.Ordinal))
        {
            foreign += frames;
        }
        return (frames, points, foreign);
    }

    private static LoadReport ToReport(FanoutResult r)
    {
        var s = r.Settings;
        var mode = s.Paced ? "paced" : "flat";
        var report = new LoadReport("engine-fanout", $"engine-fanout:{mode}", $"Engine fan-out ({(s.Paced ? "paced at real time" : "flat-out")})");
        var goalRate = 20e6;
        var intoBuffers = r.ValuesIntoBuffersPerSecond;
        var samplesPerSecond = r.SamplesPublished / r.Elapsed.TotalSeconds;
        if (s.Paced)
        {
            // Paced runs offer exactly real time, so the rate cannot exceed it; the question is whether it kept up.
            var keptUp = r.Backlog.TotalSeconds * s.SampleRate <= 2 * s.BlockSamples;
            report.Add("acquired samples/s (per channel, all measurements)", samplesPerSecond, "samples/s",
                string.Create(CultureInfo.InvariantCulture, $"offered {s.Measurements * s.SampleRate / 1e6:F1} M; goal ≥ 20 M"),
                keptUp ? "kept up with real time" : string.Create(CultureInfo.InvariantCulture, $"FELL BEHIND by {r.Backlog.TotalMilliseconds:F0} ms"));
            report.Add("backlog at end (largest per measurement)", r.Backlog.TotalMilliseconds, "ms", $"≤ 2 blocks ({2 * s.BlockMilliseconds} ms)");
        }
        else
        {
            report.Add("acquired samples/s (per channel, all measurements)", samplesPerSecond, "samples/s", "goal ≥ 20 M", Verdict(samplesPerSecond, goalRate, higherIsBetter: true));
        }
        report.Add("acquired values/s (samples × channels)", r.ValuesPublishedPerSecond, "values/s",
            s.Paced ? $"real-time target {r.TargetValuesPerSecond / 1e6:F1} M" : "",
            s.Paced ? Ratio(r.ValuesPublishedPerSecond, r.TargetValuesPerSecond) + " of target" : "");
        report.Add("values decimated into session buffers/s", intoBuffers, "values/s", "goal ≥ 20 M", Verdict(intoBuffers, goalRate, higherIsBetter: true));
        var p99 = r.PublishLatency.PercentileNs(0.99) / 1e3;
        report.Add("block→buffer p50 (hub.Publish)", r.PublishLatency.PercentileNs(0.50) / 1e3, "µs");
        report.Add("block→buffer p99 (hub.Publish)", p99, "µs", "goal ≤ 1000 µs", Verdict(p99, 1000, higherIsBetter: false));
        report.Add("block→buffer p99.9 (hub.Publish)", r.PublishLatency.PercentileNs(0.999) / 1e3, "µs");
        report.Add("block→buffer max (hub.Publish)", r.PublishLatency.MaxNs / 1e3, "µs");
        if (s.Paced)
        {
            var dueP99 = r.DueToBufferLatency.PercentileNs(0.99) / 1e3;
            report.Add("sample due→buffer p50 (incl. producer wake-up)", r.DueToBufferLatency.PercentileNs(0.50) / 1e3, "µs");
            report.Add("sample due→buffer p99 (incl. producer wake-up)", dueP99, "µs", "info: bench sleeps 1 ms between due checks");
        }
        var cores = r.CpuTime.TotalSeconds / r.Elapsed.TotalSeconds;
        report.Add("CPU used", cores, "cores", $"of {Environment.ProcessorCount}");
        report.Add("values into buffers per CPU-second", r.ValuesIntoBuffers / Math.Max(1e-9, r.CpuTime.TotalSeconds), "values/s/core");
        report.Add("blocks published", r.BlocksPublished, "blocks");
        report.Add("frames read / dropped", r.FramesRead, "frames", "", $"{r.FramesDropped} dropped");
        report.Add("allocated per block", r.AllocatedBytes / (double)Math.Max(1, r.BlocksPublished), "bytes", "", $"GC {r.Collections.Gen0}/{r.Collections.Gen1}/{r.Collections.Gen2}");
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{s.Measurements} measurements × {s.SampleRate:F0} Hz × {s.MinChannels}–{s.MaxChannels} channels over {s.Users} users; {s.Subscriptions - r.RefusedSubscriptions} subscriptions ({s.PixelWidth} px, {s.Window.TotalSeconds:F0} s window, {s.Window.TotalSeconds * s.SampleRate / s.PixelWidth:F0} samples/column); {s.BlockSamples}-sample blocks ({s.BlockMilliseconds} ms); {s.Producers} producer threads; {r.Elapsed.TotalSeconds:F1} s."));
        if (File.Exists("/proc/loadavg"))
        {
            // The machine is shared: the load average says how much else was running.
            report.Notes.Add("Load average at the end (1/5/15 min): " + string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) + ".");
        }
        report.Notes.Add("\"Samples\" are per channel (200 × 100 kHz = 20 M/s); \"values\" count each channel's float32 sample; \"into buffers\" counts each subscription's copy (SamplesSeen × channels).");
        report.Notes.Add("block→buffer = Stopwatch around LiveHub.Publish of one pre-generated block: M4 decimation for every subscriber of the measurement plus the bounded-channel write.");
        if (r.RefusedSubscriptions > 0 || r.ForeignFrames > 0)
        {
            report.Notes.Add($"WARNING: {r.RefusedSubscriptions} subscriptions refused, {r.ForeignFrames} foreign frames.");
        }
        report.Notes.Add("Latency histogram (hub.Publish, µs upper bound: count): " + string.Join(", ",
            r.PublishLatency.Histogram().Select(b => string.Create(CultureInfo.InvariantCulture, $"≤{b.UpperMicroseconds:G}: {b.Count}"))));
        return report;
    }

    private static string Ratio(double value, double reference) =>
        reference <= 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"{value / reference:P0}");

    private static string Verdict(double value, double goal, bool higherIsBetter)
    {
        var met = higherIsBetter ? value >= goal : value <= goal;
        if (met)
        {
            return string.Create(CultureInfo.InvariantCulture, $"met ({value / goal:F2}× goal)");
        }
        var missedBy = higherIsBetter ? 1 - (value / goal) : (value / goal) - 1;
        return string.Create(CultureInfo.InvariantCulture, $"MISSED by {missedBy:P0}");
    }

    /// <summary>One measurement's stream: its pre-generated blocks and how far it has published.</summary>
    private sealed class Feed(MeasurementInfo info, SampleBlock[] ring)
    {
        public MeasurementInfo Info { get; } = info;
        public SampleBlock[] Ring { get; } = ring;
        public long Sequence { get; set; }
        public long Produced { get; set; }
    }

    /// <summary>Publishes the blocks of its measurements, paced or flat-out, timing every publish.</summary>
    private sealed class Producer(LiveHub hub, Feed[] feeds, FanoutSettings settings, int capacity)
    {
        public LatencyRecorder PublishLatency { get; } = new(capacity);
        public LatencyRecorder DueLatency { get; } = new(settings.Paced ? capacity : 16);

        /// <summary>Paced: samples due but not yet published when the run ended (largest over this producer's measurements).</summary>
        public long BacklogSamples { get; private set; }

        public void Run(long startTicks, CancellationToken cancellationToken)
        {
            var blockSamples = settings.BlockSamples;
            var durationTicks = (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);
            var nsPerTick = 1e9 / Stopwatch.Frequency;
            var limit = settings.BlocksPerMeasurement;
            while (!cancellationToken.IsCancellationRequested)
            {
                var now = Stopwatch.GetTimestamp();
                if (limit is null && now - startTicks >= durationTicks)
                {
                    if (settings.Paced)
                    {
                        var due = (long)(settings.Duration.TotalSeconds * settings.SampleRate);
                        BacklogSamples = feeds.Max(f => Math.Max(0, due - f.Produced));
                    }
                    return;
                }
                var dueSamples = settings.Paced ? (long)((now - startTicks) / (double)Stopwatch.Frequency * settings.SampleRate) : long.MaxValue;
                var published = false;
                foreach (var feed in feeds)
                {
                    while (feed.Produced + blockSamples <= dueSamples && (limit is null || feed.Sequence < limit))
                    {
                        var block = feed.Ring[feed.Sequence % feed.Ring.Length];
                        block.Sequence = feed.Sequence;
                        block.FirstSampleIndex = feed.Produced;
                        var before = Stopwatch.GetTimestamp();
                        hub.Publish(block);
                        var after = Stopwatch.GetTimestamp();
                        PublishLatency.Record((long)((after - before) * nsPerTick));
                        if (settings.Paced)
                        {
                            // When the block's last sample became available to a real device.
                            var dueTicks = startTicks + (long)((feed.Produced + blockSamples) / settings.SampleRate * Stopwatch.Frequency);
                            DueLatency.Record((long)((after - dueTicks) * nsPerTick));
                        }
                        feed.Sequence++;
                        feed.Produced += blockSamples;
                        published = true;
                        if (!settings.Paced)
                        {
                            break; // Flat-out: round-robin one block per measurement so all progress evenly.
                        }
                    }
                }
                if (limit is not null && !published)
                {
                    return;
                }
                if (settings.Paced && !published)
                {
                    // Nothing due: wait for the next block boundary (≥ 1 ms granularity, as a device timer would).
                    Thread.Sleep(1);
                }
            }
        }
    }
}
