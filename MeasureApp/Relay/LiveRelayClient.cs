using MeasureApp.Coordination;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace MeasureApp.Relay;

/// <summary>
/// The watching side of the relay: which of a user's measurements run on other instances, and a
/// live feed of one of them. Ownership is checked here against the database row (another user's
/// id is "not found"), before anything is asked of the acquiring instance.
/// <para>
/// Other instances' measurements are found by polling the database for rows in state Running
/// (every <see cref="RelayOptions.RenewInterval"/>, one query per instance, only while a Live page
/// watches) and keeping those whose instance announces them in Redis. A poll rather than a
/// "started/stopped" message: the engine offers no instance-wide start hook, the database row is
/// the truth for owner and channels anyway, and a missed message could never leave a stale card.
/// The Redis announcement keeps rows of a crashed instance (still Running) off the page.
/// </para>
/// </summary>
public sealed class LiveRelayClient(IConnectionMultiplexer redis, IDbContextFactory<AppDbContext> contexts, MeasurementEngine engine, IOptions<RelayOptions> options, TimeProvider time, ILogger<LiveRelayClient> logger, RedisReachability reachability) : IDisposable
{
    private const string NotConnected = "not connected";
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private IReadOnlyDictionary<Guid, MeasurementInfo> _remote = new Dictionary<Guid, MeasurementInfo>();
    private long _refreshedAt = -1;
    private (Requester Requester, Action<MeasurementInfo> OnChange)[] _watchers = [];
    private CancellationTokenSource? _poll;

    internal RelayOptions Options { get; } = options.Value;

    internal TimeProvider Time => time;

    internal ISubscriber Subscriber => redis.GetSubscriber();

    /// <summary>
    /// A live feed of a measurement running on another instance, or null when it is not running
    /// anywhere else or not the requester's. <paramref name="accessChecked"/>: the caller already asked the
    /// catalog (a reader the owner shared it with), so the owner/admin rule is not applied again.
    /// </summary>
    public async Task<ILiveFeed?> WatchAsync(Requester requester, Guid measurementId, LiveView view, CancellationToken cancellationToken, bool accessChecked = false)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(view);
        var info = await FindRunningAsync(measurementId, cancellationToken);
        if (info is null || (!accessChecked && !requester.MayAccess(info.OwnerId)) || !await IsAnnouncedAsync(measurementId))
        {
            return null;
        }
        var feed = new RemoteFeed(this, info, requester.UserId, view, Options.BufferFrames);
        await feed.StartAsync();
        return feed;
    }

    /// <summary>
    /// Stops a measurement running on another instance: checks ownership against the database row,
    /// asks on the stop channel, and waits up to <see cref="RelayOptions.StopTimeout"/> for the
    /// running instance to stop it (it checks ownership again). Never throws for Redis or a silent instance.
    /// </summary>
    public async Task<StopOutcome> StopAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var info = await FindRunningAsync(measurementId, cancellationToken);
        if (info is null || !requester.MayAccess(info.OwnerId))
        {
            return StopOutcome.NotFound;
        }
        if (!reachability.IsReachable)
        {
            Failed(NotConnected);
            return StopOutcome.NoAnswer;
        }
        var request = new StopRequest(Guid.NewGuid(), measurementId, requester.UserId, requester.UserName, requester.IsAdmin);
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        ChannelMessageQueue? replies = null;
        try
        {
            var subscriber = redis.GetSubscriber();
            // Listening before asking: the answer cannot overtake the subscription.
            replies = await subscriber.SubscribeAsync(RedisChannel.Literal(Options.StopReplyChannel(request.RequestId)));
            replies.OnMessage(m => OnStopReply(m.Message, request.RequestId, answer));
            await subscriber.PublishAsync(RedisChannel.Literal(Options.StopChannel), RelayCodec.Encode(request));
            return await answer.Task.WaitAsync(Options.StopTimeout, time, cancellationToken) ? StopOutcome.Stopped : StopOutcome.NotFound;
        }
        catch (TimeoutException)
        {
            logger.LogWarning("The instance running measurement {Measurement} did not answer a stop request within {Timeout}", measurementId, Options.StopTimeout);
            return StopOutcome.NoAnswer;
        }
        catch (RedisException ex)
        {
            Failed(ex.Message);
            return StopOutcome.NoAnswer;
        }
        finally
        {
            if (replies is not null)
            {
                await UnsubscribeQuietlyAsync(replies);
            }
        }
    }

    private void OnStopReply(RedisValue message, Guid requestId, TaskCompletionSource<bool> answer)
    {
        try
        {
            var reply = RelayCodec.DecodeStopReply((byte[])message!);
            if (reply.RequestId == requestId)
            {
                answer.TrySetResult(reply.Stopped);
            }
        }
        catch (FormatException ex)
        {
            logger.LogWarning("Ignored a stop reply that could not be read: {Reason}", ex.Message);
        }
    }

    /// <summary>The requester's measurements running on other instances (admins: everyone's).</summary>
    public async Task<IReadOnlyList<MeasurementInfo>> ListRunningAsync(Requester requester, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!RefreshedWithin(Options.RenewInterval))
        {
            await RefreshAsync(cancellationToken);
        }
        return [.. Volatile.Read(ref _remote).Values.Where(m => requester.MayAccess(m.OwnerId)).OrderBy(m => m.StartedAt)];
    }

    /// <summary>Calls <paramref name="onChange"/> when a measurement on another instance the requester may see starts or stops.</summary>
    public IDisposable WatchRunning(Requester requester, Action<MeasurementInfo> onChange)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(onChange);
        var entry = (requester, onChange);
        lock (_gate)
        {
            _watchers = [.. _watchers, entry];
            if (_poll is null)
            {
                _poll = new CancellationTokenSource();
                _ = PollLoopAsync(_poll.Token);
            }
        }
        return new Unwatch(this, entry);
    }

    internal async Task<bool> IsStillRunningAsync(Guid measurementId, CancellationToken cancellationToken)
    {
        try
        {
            return await FindRunningAsync(measurementId, cancellationToken) is not null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // The database being away says nothing about the measurement: keep watching.
            logger.LogDebug(ex, "Could not check measurement {Measurement}", measurementId);
            return true;
        }
    }

    internal void Request(WatchRequest request)
    {
        if (!reachability.IsReachable)
        {
            Failed(NotConnected);
            return;
        }
        try
        {
            redis.GetSubscriber().Publish(RedisChannel.Literal(Options.WatchChannel), RelayCodec.Encode(request), CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex.Message);
        }
    }

    internal async Task UnsubscribeQuietlyAsync(ChannelMessageQueue queue)
    {
        try
        {
            await queue.UnsubscribeAsync();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex.Message);
        }
    }

    internal void Ignored(FormatException ex) => logger.LogWarning("Ignored a relayed frame that could not be read: {Reason}", ex.Message);

    // One tracker for the instance: logged once per outage, and the liveness check reports the recovery.
    internal void Failed(string reason) => reachability.ReportFailure(reason);

    private async Task<MeasurementInfo?> FindRunningAsync(Guid measurementId, CancellationToken cancellationToken)
    {
        if (engine.IsRunningHere(measurementId))
        {
            return null; // Runs here: the local hub serves it.
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Measurements.AsNoTracking()
            .FirstOrDefaultAsync(m => m.Id == measurementId && m.State == MeasurementState.Running, cancellationToken);
        return row?.ToInfo();
    }

    private async Task<bool> IsAnnouncedAsync(Guid measurementId)
    {
        // Never wait for a timeout in a page's request: without Redis nothing can be relayed anyway.
        if (!reachability.IsReachable)
        {
            Failed(NotConnected);
            return false;
        }
        try
        {
            var announced = await redis.GetDatabase().KeyExistsAsync(Options.RunningKey(measurementId));
            return announced;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Failed(ex.Message);
            return false;
        }
    }

    private bool RefreshedWithin(TimeSpan span)
    {
        var at = Interlocked.Read(ref _refreshedAt);
        return at >= 0 && time.GetElapsedTime(at) < span;
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            if (RefreshedWithin(Options.RenewInterval / 2))
            {
                return; // Someone else just refreshed.
            }
            List<MeasurementRecord> rows;
            await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
            {
                rows = await db.Measurements.AsNoTracking().Where(m => m.State == MeasurementState.Running).ToListAsync(cancellationToken);
            }
            var candidates = rows.Where(r => !engine.IsRunningHere(r.Id)).ToList();
            Dictionary<Guid, MeasurementInfo> remote = [];
            if (candidates.Count > 0 && !reachability.IsReachable)
            {
                Failed(NotConnected);
            }
            else if (candidates.Count > 0)
            {
                try
                {
                    var db = redis.GetDatabase();
                    var announced = await Task.WhenAll(candidates.Select(r => db.KeyExistsAsync(Options.RunningKey(r.Id))));
                    for (var i = 0; i < candidates.Count; i++)
                    {
                        if (announced[i])
                        {
                            remote[candidates[i].Id] = candidates[i].ToInfo();
                        }
                    }
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // Without Redis nothing can be relayed: list nothing rather than cards that stay empty.
                    Failed(ex.Message);
                }
            }
            var previous = Volatile.Read(ref _remote);
            Volatile.Write(ref _remote, remote);
            Interlocked.Exchange(ref _refreshedAt, time.GetTimestamp());
            Notify(previous, remote);
        }
        finally
        {
            _refresh.Release();
        }
    }

    private void Notify(IReadOnlyDictionary<Guid, MeasurementInfo> previous, Dictionary<Guid, MeasurementInfo> current)
    {
        var changes = current.Values.Where(m => !previous.ContainsKey(m.Id))
            .Concat(previous.Values.Where(m => !current.ContainsKey(m.Id)).Select(m => m with { State = MeasurementState.Stopped }))
            .ToList();
        if (changes.Count == 0)
        {
            return;
        }
        foreach (var (requester, onChange) in Volatile.Read(ref _watchers))
        {
            foreach (var m in changes.Where(m => requester.MayAccess(m.OwnerId)))
            {
                try
                {
                    onChange(m);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    logger.LogWarning(ex, "A remote measurement watcher failed");
                }
            }
        }
    }

    private async Task PollLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Options.RenewInterval, time);
        try
        {
            do
            {
                try
                {
                    await RefreshAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    logger.LogWarning(ex, "Could not list measurements running on other instances");
                }
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Nobody watches any more.
        }
    }

    private void Remove((Requester, Action<MeasurementInfo>) entry)
    {
        lock (_gate)
        {
            _watchers = Array.FindAll(_watchers, w => !ReferenceEquals(w.OnChange, entry.Item2) || !ReferenceEquals(w.Requester, entry.Item1));
            if (_watchers.Length == 0 && _poll is not null)
            {
                _poll.Cancel();
                _poll.Dispose();
                _poll = null;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _watchers = [];
            _poll?.Cancel();
            _poll?.Dispose();
            _poll = null;
        }
        _refresh.Dispose();
    }

    private sealed class Unwatch(LiveRelayClient client, (Requester, Action<MeasurementInfo>) entry) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                client.Remove(entry);
            }
        }
    }
}
