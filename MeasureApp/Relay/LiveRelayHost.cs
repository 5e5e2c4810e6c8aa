using System.Collections.Concurrent;
using MeasureApp.Coordination;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MeasureApp.Relay;

/// <summary>
/// The acquiring side of the relay. It listens for watch requests; for a measurement running on
/// this instance it keeps one hub subscription per remote watcher, merges its frames and publishes
/// them at up to <see cref="RelayOptions.FramesPerSecond"/> on the watcher's channel. A watcher that
/// stops renewing its lease is dropped, so nothing is decimated or published while nobody remotely
/// watches. Publishing runs on this service's own loop (fire-and-forget): the sample path never
/// waits for Redis. It also announces which measurements run here (a key per measurement that
/// expires with the lease), so other instances list only measurements that are really running.
/// </summary>
public sealed class LiveRelayHost(IConnectionMultiplexer redis, LiveHub hub, MeasurementEngine engine, IOptions<RelayOptions> options, TimeProvider time, ILogger<LiveRelayHost> logger, RedisReachability reachability) : BackgroundService
{
    private const string NotConnected = "not connected";
    private readonly ConcurrentDictionary<Guid, Watch> _watches = new();
    private readonly RelayOptions _options = options.Value;
    private ChannelMessageQueue? _requests;
    private ChannelMessageQueue? _stops;
    private PeriodicTimer? _timer;

    /// <summary>Remote watchers served right now (monitoring, tests).</summary>
    public int ActiveWatches => _watches.Count;

    /// <summary>Raised after a remote watcher was added or dropped.</summary>
    public event Action? WatchesChanged;

    /// <summary>Listens for watch requests before the host goes on, and starts the publishing clock.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Created here, not when the thread pool gets round to ExecuteAsync: ticks are then due at fixed
        // times, which a fake clock in tests relies on.
        _timer ??= new PeriodicTimer(TimeSpan.FromSeconds(1.0 / _options.FramesPerSecond), time);
        await ListenAsync();
        await base.StartAsync(cancellationToken);
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _timer?.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var timer = _timer ?? throw new InvalidOperationException("StartAsync creates the timer.");
        var nextHousekeeping = time.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                PublishFrames();
                if (time.GetTimestamp() >= nextHousekeeping)
                {
                    // A third of the renew interval: a new measurement is announced (and listed elsewhere) soon after it starts.
                    nextHousekeeping = time.GetTimestamp() + (long)(_options.RenewInterval.TotalSeconds / 3 * time.TimestampFrequency);
                    DropExpired();
                    Announce();
                    if (_requests is null)
                    {
                        await ListenAsync();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down.
        }
        finally
        {
            foreach (var id in _watches.Keys)
            {
                Remove(id);
            }
            if (_requests is { } requests)
            {
                await Quietly(() => requests.UnsubscribeAsync());
            }
            if (_stops is { } stops)
            {
                await Quietly(() => stops.UnsubscribeAsync());
            }
        }
    }

    private async Task ListenAsync()
    {
        if (!reachability.IsReachable)
        {
            Failed(NotConnected);
            return;
        }
        try
        {
            var subscriber = redis.GetSubscriber();
            if (_stops is null)
            {
                var stops = await subscriber.SubscribeAsync(RedisChannel.Literal(_options.StopChannel));
                stops.OnMessage(m => OnStopRequest(m.Message));
                _stops = stops;
            }
            var queue = await subscriber.SubscribeAsync(RedisChannel.Literal(_options.WatchChannel));
            queue.OnMessage(m => OnRequest(m.Message));
            _requests = queue;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Retried at the next housekeeping tick; local live views are not affected.
            Failed(ex.Message);
        }
    }

    private void OnRequest(RedisValue message)
    {
        if (Decode(message, RelayCodec.DecodeWatch, "watch request") is not { } request)
        {
            return;
        }
        if (!request.Watching)
        {
            Remove(request.WatcherId);
            return;
        }
        if (_watches.TryGetValue(request.WatcherId, out var existing))
        {
            existing.Renew(request.View, time.GetTimestamp());
            return;
        }
        // The watcher's instance checked ownership against the database; here only "does it run here"
        // matters. The subscription is charged to the watching user, as a local one would be.
        var subscription = hub.SubscribeFor(request.UserId, request.MeasurementId, request.View);
        if (subscription is null)
        {
            return; // Not running on this instance (another one answers).
        }
        var watch = new Watch(subscription, RedisChannel.Literal(_options.FramesChannel(request.WatcherId)), time.GetTimestamp());
        if (!_watches.TryAdd(request.WatcherId, watch))
        {
            subscription.Dispose();
            return;
        }
        logger.LogDebug("Relaying measurement {Measurement} to remote watcher {Watcher}", request.MeasurementId, request.WatcherId);
        WatchesChanged?.Invoke();
    }

    // Only the instance running the measurement answers; the others stay silent. Ownership is checked
    // again here by the engine (another user's id = not found; an admin's stop has reason Admin).
    private void OnStopRequest(RedisValue message)
    {
        if (Decode(message, RelayCodec.DecodeStop, "stop request") is { } request && engine.IsRunningHere(request.MeasurementId))
        {
            _ = StopAndReplyAsync(request);
        }
    }

    private delegate T Decoder<out T>(ReadOnlySpan<byte> message);

    private T? Decode<T>(RedisValue message, Decoder<T> decode, string what)
        where T : class
    {
        try
        {
            return decode((byte[])message!);
        }
        catch (FormatException ex)
        {
            logger.LogWarning("Ignored a relay {What} that could not be read: {Reason}", what, ex.Message);
            return null;
        }
    }

    private async Task StopAndReplyAsync(StopRequest request)
    {
        bool stopped;
        try
        {
            stopped = await engine.StopAsync(request.MeasurementId, new Requester(request.UserId, request.UserName, request.IsAdmin), CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogError(ex, "Stopping measurement {Measurement} for a request from another instance failed", request.MeasurementId);
            return; // The requester reports that this instance did not answer.
        }
        if (stopped)
        {
            logger.LogInformation("Measurement {Measurement} stopped by {User} from another instance", request.MeasurementId, request.UserName);
        }
        try
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(_options.StopReplyChannel(request.RequestId)), RelayCodec.Encode(new StopReply(request.RequestId, stopped)));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex.Message);
        }
    }

    private void PublishFrames()
    {
        if (_watches.IsEmpty)
        {
            return;
        }
        if (!reachability.IsReachable)
        {
            // Frames keep merging in the subscriptions' bounded buffers (oldest dropped) until Redis is back.
            Failed(NotConnected);
            return;
        }
        var subscriber = redis.GetSubscriber();
        foreach (var (id, watch) in _watches)
        {
            var merged = watch.Drain();
            var ended = merged is null && watch.Subscription.Frames.Completion.IsCompleted;
            if (merged is null && !ended)
            {
                continue;
            }
            var message = RelayCodec.Encode(new RelayedFrame(merged, watch.Subscription.SamplesSeen, watch.Subscription.DroppedFrames));
            try
            {
                subscriber.Publish(watch.Channel, message, CommandFlags.FireAndForget);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Failed(ex.Message);
            }
            if (ended)
            {
                Remove(id);
            }
        }
    }

    private void DropExpired()
    {
        var oldest = time.GetTimestamp() - (long)(_options.Lease.TotalSeconds * time.TimestampFrequency);
        foreach (var (id, watch) in _watches)
        {
            if (watch.LastRenewed < oldest)
            {
                logger.LogDebug("Remote watcher {Watcher} did not renew its lease", id);
                Remove(id);
            }
        }
    }

    private void Announce()
    {
        var running = engine.RunningHere();
        if (running.Count == 0)
        {
            return;
        }
        if (!reachability.IsReachable)
        {
            Failed(NotConnected);
            return;
        }
        try
        {
            var db = redis.GetDatabase();
            foreach (var m in running)
            {
                db.StringSet(_options.RunningKey(m.Id), 1, _options.Lease, flags: CommandFlags.FireAndForget);
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex.Message);
        }
    }

    private void Remove(Guid watcherId)
    {
        if (_watches.TryRemove(watcherId, out var watch))
        {
            watch.Subscription.Dispose();
            WatchesChanged?.Invoke();
        }
    }

    // Logged once per outage, not once per frame.
    // One tracker for the instance: logged once per outage, and the liveness check reports the recovery.
    private void Failed(string reason) => reachability.ReportFailure(reason);

    private static async Task Quietly(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Shutting down with Redis away: nothing to clean up there.
        }
    }

    private sealed class Watch(LiveSubscription subscription, RedisChannel channel, long renewed)
    {
        private long _lastRenewed = renewed;

        public LiveSubscription Subscription { get; } = subscription;

        public RedisChannel Channel { get; } = channel;

        public long LastRenewed => Interlocked.Read(ref _lastRenewed);

        public void Renew(LiveView view, long now)
        {
            Interlocked.Exchange(ref _lastRenewed, now);
            if (view != Subscription.View)
            {
                Subscription.ChangeView(view);
            }
        }

        public LiveFrame? Drain()
        {
            LiveFrame? merged = null;
            while (Subscription.Frames.TryRead(out var frame))
            {
                if (merged is null)
                {
                    merged = frame;
                    continue;
                }
                merged.Append(frame);
            }
            return merged;
        }
    }
}
