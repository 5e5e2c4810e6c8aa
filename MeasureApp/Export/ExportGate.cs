using System.Collections.Concurrent;

namespace MeasureApp.Export;

/// <summary>
/// Counts each user's streaming exports that are being sent right now and refuses one more than the
/// user's <c>MaxConcurrentExports</c> limit: one operator's slow downloads must not tie up the server
/// for everyone else. Per instance (each instance has its own database pool to protect).
/// </summary>
public sealed class ExportGate
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

    private sealed class Lease(ExportGate gate, string userId) : IDisposable
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
