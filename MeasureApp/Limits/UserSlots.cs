using System.Collections.Concurrent;

namespace MeasureApp.Limits;

/// <summary>
/// Counts a kind of work each user has running on this instance and admits one more only below a
/// limit (the caller passes the user's limit). Per instance: what it protects (the database pool, the
/// CPU) is per instance too.
/// </summary>
public class UserSlots
{
    private readonly ConcurrentDictionary<string, int> _running = new(StringComparer.Ordinal);

    /// <summary>Downloads of a user in progress on this instance.</summary>
    public int CountFor(string userId) => _running.TryGetValue(userId, out var n) ? n : 0;

    /// <summary>Admits one more export of <paramref name="userId"/>, or returns null when
    /// <paramref name="max"/> are already running. Dispose the lease when the download ends.</summary>
    public IDisposable? TryEnter(string userId, int max)
    {
        while (true)
        {
            var current = CountFor(userId);
            if (current >= max)
            {
                return null;
            }
            var admitted = current == 0
                ? _running.TryAdd(userId, 1)
                : _running.TryUpdate(userId, current + 1, current);
            if (admitted)
            {
                return new Lease(this, userId);
            }
        }
    }

    private void Leave(string userId)
    {
        while (true)
        {
            var current = CountFor(userId);
            var left = current <= 1
                ? _running.TryRemove(new KeyValuePair<string, int>(userId, current))
                : _running.TryUpdate(userId, current - 1, current);
            if (left || current == 0)
            {
                return;
            }
        }
    }

    private sealed class Lease(UserSlots gate, string userId) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                gate.Leave(userId);
            }
        }
    }
}

/// <summary>A per-user count shared by every instance (Redis when configured).</summary>
public interface IClusterUserSlots
{
    /// <summary>Takes one of <paramref name="max"/> slots of <paramref name="userId"/> across the cluster:
    /// true when taken, false when all are in use, null when the cluster cannot be asked (the caller
    /// decides on this instance's count; the slot is still counted and published once it can be).</summary>
    ValueTask<bool?> TryAcquireAsync(string userId, int max);

    /// <summary>Gives back a slot taken with <see cref="TryAcquireAsync"/> (also one taken while unreachable).</summary>
    ValueTask ReleaseAsync(string userId);
}

/// <summary>Streaming exports being sent: one operator's slow downloads must not tie up the server
/// for everyone else (<c>Limits:MaxConcurrentExports</c>). With Redis the limit holds across all
/// instances (<paramref name="cluster"/>); while Redis is unreachable, and without it, per instance.</summary>
public sealed class ExportSlots(IClusterUserSlots? cluster = null) : UserSlots
{
    /// <summary>Admits one more export of <paramref name="userId"/>, or returns null when
    /// <paramref name="max"/> are already running (on this instance, or with Redis in the cluster).
    /// Dispose the lease when the download ends.</summary>
    public async ValueTask<IAsyncDisposable?> TryEnterAsync(string userId, int max)
    {
        var local = TryEnter(userId, max);
        if (local is null)
        {
            return null;
        }
        if (cluster is null)
        {
            return new ClusterLease(local, null, userId);
        }
        if (await cluster.TryAcquireAsync(userId, max) == false)
        {
            local.Dispose();
            return null;
        }
        return new ClusterLease(local, cluster, userId);
    }

    private sealed class ClusterLease(IDisposable local, IClusterUserSlots? shared, string userId) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            local.Dispose();
            if (shared is not null)
            {
                await shared.ReleaseAsync(userId);
            }
        }
    }
}

/// <summary>Private SIMULATION players running in tabs (bounded by <c>Limits:MaxParallelMeasurements</c>).</summary>
public sealed class SimulationSlots : UserSlots;
