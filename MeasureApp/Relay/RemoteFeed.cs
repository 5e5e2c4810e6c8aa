using System.Threading.Channels;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using StackExchange.Redis;

namespace MeasureApp.Relay;

/// <summary>
/// A measurement acquired on another instance, watched from here: frames arrive on this watcher's
/// own Redis channel and go into a bounded DropOldest buffer, drained like a local subscription.
/// The watch request is renewed as a lease; disposing tells the source to stop at once (and if that
/// message is lost, the lease runs out). Redis being away only pauses the frames.
/// </summary>
internal sealed class RemoteFeed : ILiveFeed
{
    private readonly LiveRelayClient _client;
    private readonly Channel<LiveFrame> _frames;
    private readonly Guid _watcherId = Guid.NewGuid();
    private readonly CancellationTokenSource _stop = new();
    private ChannelMessageQueue? _queue;
    private LiveView _view;
    private long _dropped;
    private long _sourceDropped;
    private long _samples;
    private int _disposed;

    public RemoteFeed(LiveRelayClient client, MeasurementInfo info, string userId, LiveView view, int capacity)
    {
        _client = client;
        Info = info;
        UserId = userId;
        _view = view;
        _frames = Channel.CreateBounded<LiveFrame>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true },
            _ => Interlocked.Increment(ref _dropped));
    }

    public MeasurementInfo Info { get; }

    public string UserId { get; }

    public LiveView View => Volatile.Read(ref _view);

    public ChannelReader<LiveFrame> Frames => _frames.Reader;

    /// <summary>Drops here plus drops at the source.</summary>
    public long DroppedFrames => Interlocked.Read(ref _dropped) + Interlocked.Read(ref _sourceDropped);

    public long SamplesSeen => Interlocked.Read(ref _samples);

    internal Guid WatcherId => _watcherId;

    /// <summary>Subscribes to this watcher's channel, then asks for the frames and keeps the lease.</summary>
    public async Task StartAsync()
    {
        try
        {
            _queue = await _client.Subscriber.SubscribeAsync(RedisChannel.Literal(_client.Options.FramesChannel(_watcherId)));
            _queue.OnMessage(m => OnMessage(m.Message));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _client.Failed(ex.Message);
        }
        _client.Request(Request(watching: true));
        _ = RenewLoopAsync(_stop.Token);
    }

    public void ChangeView(LiveView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        Volatile.Write(ref _view, view);
        _client.Request(Request(watching: true));
    }

    private WatchRequest Request(bool watching) => new(watching, Info.Id, _watcherId, UserId, View);

    private void OnMessage(RedisValue message)
    {
        RelayedFrame relayed;
        try
        {
            relayed = RelayCodec.DecodeFrame((byte[])message!);
        }
        catch (FormatException ex)
        {
            _client.Ignored(ex);
            return;
        }
        Interlocked.Exchange(ref _samples, relayed.SamplesSeen);
        Interlocked.Exchange(ref _sourceDropped, relayed.DroppedFrames);
        if (relayed.Frame is null)
        {
            _frames.Writer.TryComplete();
            return;
        }
        _frames.Writer.TryWrite(relayed.Frame);
    }

    private async Task RenewLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_client.Options.RenewInterval, _client.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                // The source says when the measurement ends; the database covers a source that vanished.
                if (!await _client.IsStillRunningAsync(Info.Id, ct))
                {
                    _frames.Writer.TryComplete();
                    return;
                }
                _client.Request(Request(watching: true));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        _stop.Dispose();
        _frames.Writer.TryComplete();
        _client.Request(Request(watching: false));
        if (_queue is { } queue)
        {
            _ = _client.UnsubscribeQuietlyAsync(queue);
        }
    }
}
