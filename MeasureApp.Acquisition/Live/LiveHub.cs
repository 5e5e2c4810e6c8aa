using System.Collections.Concurrent;
using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// Fans each published block out to the subscriptions of its measurement. A subscription exists
/// only for the measurement's owner (or an admin), so a block is never offered to another user's
/// circuit. Publishing never blocks: each subscription decimates into its own bounded buffer.
/// </summary>
public sealed class LiveHub
{
    private readonly ConcurrentDictionary<Guid, Topic> _topics = new();
    private readonly ResourceAccountant? _accountant;

    /// <summary>A hub without resource accounting (tests, benchmarks).</summary>
    public LiveHub()
    {
    }

    /// <summary>A hub whose subscriptions charge buffer memory and drops to their subscriber.</summary>
    public LiveHub(ResourceAccountant accountant)
    {
        ArgumentNullException.ThrowIfNull(accountant);
        _accountant = accountant;
    }

    /// <summary>Subscribes to a running measurement; null when it is not running or not the requester's ("not found").</summary>
    public LiveSubscription? Subscribe(Guid measurementId, Requester requester, LiveView view, int capacity = 64)
    {
        ArgumentNullException.ThrowIfNull(requester);
        return _topics.TryGetValue(measurementId, out var topic) && requester.MayAccess(topic.Info.OwnerId)
            ? SubscribeFor(requester.UserId, measurementId, view, capacity)
            : null;
    }

    /// <summary>
    /// Trusted system call (the relay host): subscribes on behalf of <paramref name="userId"/>, whose
    /// own instance already checked their access; the subscription is charged to them as a local one
    /// would be. Null when the measurement does not run on this instance.
    /// </summary>
    public LiveSubscription? SubscribeFor(string userId, Guid measurementId, LiveView view, int capacity = 64)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        ArgumentNullException.ThrowIfNull(view);
        if (!_topics.TryGetValue(measurementId, out var topic))
        {
            return null;
        }
        var subscription = new LiveSubscription(topic.Info, userId, view, capacity, topic.Remove, _accountant);
        topic.Add(subscription);
        return subscription;
    }

    /// <summary>Number of subscriptions on a measurement (for monitoring and tests).</summary>
    public int SubscriberCount(Guid measurementId) => _topics.TryGetValue(measurementId, out var t) ? t.Count : 0;

    internal void Open(MeasurementInfo info) => _topics.TryAdd(info.Id, new Topic(info));

    internal void Close(Guid measurementId)
    {
        if (_topics.TryRemove(measurementId, out var topic))
        {
            topic.Complete();
        }
    }

    internal void Publish(SampleBlock block)
    {
        if (_topics.TryGetValue(block.MeasurementId, out var topic))
        {
            foreach (var subscription in topic.Subscriptions)
            {
                subscription.OnBlock(block);
            }
        }
    }

    private sealed class Topic(MeasurementInfo info)
    {
        private readonly Lock _gate = new();
        private LiveSubscription[] _subscriptions = [];
        private bool _completed;

        public MeasurementInfo Info { get; } = info;

        // Copy-on-write: the publishing thread reads the array without a lock.
        public LiveSubscription[] Subscriptions => Volatile.Read(ref _subscriptions);

        public int Count => Subscriptions.Length;

        public void Add(LiveSubscription s)
        {
            lock (_gate)
            {
                if (_completed)
                {
                    s.Complete();
                    return;
                }
                _subscriptions = [.. _subscriptions, s];
            }
        }

        public void Remove(LiveSubscription s)
        {
            lock (_gate)
            {
                _subscriptions = Array.FindAll(_subscriptions, x => !ReferenceEquals(x, s));
            }
        }

        public void Complete()
        {
            LiveSubscription[] all;
            lock (_gate)
            {
                _completed = true;
                all = _subscriptions;
                _subscriptions = [];
            }
            foreach (var s in all)
            {
                s.Complete();
            }
        }
    }
}
