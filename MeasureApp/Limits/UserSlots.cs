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

/// <summary>Streaming exports being sent: one operator's slow downloads must not tie up the server
/// for everyone else (<c>Limits:MaxConcurrentExports</c>).</summary>
public sealed class ExportSlots : UserSlots;

/// <summary>Private SIMULATION players running in tabs (bounded by <c>Limits:MaxParallelMeasurements</c>).</summary>
public sealed class SimulationSlots : UserSlots;
