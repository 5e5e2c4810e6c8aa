using System.Collections.Concurrent;

namespace MeasureApp.Sharing;

/// <summary>
/// Tells open tabs at once that a share ended: a live chart, a replay or a detail page a shared user has
/// open on the measurement registers here and ends itself when the owner (or an admin) revokes the share.
/// In-process; with several instances a tab on another instance loses access at its next read (every read
/// path asks the catalog) and its live feed within <see cref="ShareService.RecheckInterval"/>.
/// </summary>
public sealed class ShareRevocations
{
    private readonly ConcurrentDictionary<(Guid MeasurementId, string UserId), Watchers> _watchers = new();

    /// <summary>Calls <paramref name="onRevoked"/> (once) when <paramref name="userId"/>'s share of the measurement is revoked.</summary>
    public IDisposable Watch(Guid measurementId, string userId, Action onRevoked)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        ArgumentNullException.ThrowIfNull(onRevoked);
        var watchers = _watchers.GetOrAdd((measurementId, userId), _ => new Watchers());
        return watchers.Add(onRevoked);
    }

    /// <summary>Number of open watchers (tests).</summary>
    public int Count(Guid measurementId, string userId) => _watchers.TryGetValue((measurementId, userId), out var w) ? w.Count : 0;

    /// <summary>Ends every watcher of this share.</summary>
    public void Revoked(Guid measurementId, string userId)
    {
        if (_watchers.TryRemove((measurementId, userId), out var watchers))
        {
            watchers.Fire();
        }
    }

    private sealed class Watchers
    {
        private readonly Lock _gate = new();
        private List<Action> _actions = [];

        public int Count
        {
            get
            {
                lock (_gate)
                {
                    return _actions.Count;
                }
            }
        }

        public IDisposable Add(Action action)
        {
            lock (_gate)
            {
                _actions.Add(action);
            }
            return new Registration(this, action);
        }

        public void Fire()
        {
            List<Action> all;
            lock (_gate)
            {
                all = _actions;
                _actions = [];
            }
            foreach (var a in all)
            {
                a();
            }
        }

        private void Remove(Action action)
        {
            lock (_gate)
            {
                _actions.Remove(action);
            }
        }

        private sealed class Registration(Watchers owner, Action action) : IDisposable
        {
            public void Dispose() => owner.Remove(action);
        }
    }
}

/// <summary>What a shared reader's open live chart or replay is told when the owner revokes the share.</summary>
public sealed class AccessRevokedException : Exception
{
    /// <summary>The notice shown in the tab.</summary>
    public const string Notice = "The owner stopped sharing this measurement with you.";

    /// <summary>With <see cref="Notice"/>.</summary>
    public AccessRevokedException()
        : base(Notice)
    {
    }

    /// <summary>With a message.</summary>
    public AccessRevokedException(string message)
        : base(message)
    {
    }

    /// <summary>With a message and a cause.</summary>
    public AccessRevokedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
