using System.Collections.Concurrent;

namespace MeasureApp.Acquisition.Coordination;

/// <summary>
/// Global per-user counters of running measurements: in-process for one instance, Redis (atomic
/// Lua) when several instances share the work. Acquire and release are atomic.
/// </summary>
public interface ILimitCoordinator
{
    /// <summary>Takes one measurement slot when fewer than <paramref name="max"/> are in use.</summary>
    /// <returns>Whether a slot was taken, and how many are in use afterwards (or were, when refused).</returns>
    ValueTask<(bool Acquired, int InUse)> TryAcquireMeasurementSlotAsync(string userId, int max, CancellationToken cancellationToken);

    /// <summary>Gives one slot back.</summary>
    ValueTask ReleaseMeasurementSlotAsync(string userId, CancellationToken cancellationToken);
}

/// <summary>Single-instance coordinator: a lock-free counter per user.</summary>
public sealed class InProcessLimitCoordinator : ILimitCoordinator
{
    private readonly ConcurrentDictionary<string, StrongBox> _running = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public ValueTask<(bool Acquired, int InUse)> TryAcquireMeasurementSlotAsync(string userId, int max, CancellationToken cancellationToken)
    {
        var box = _running.GetOrAdd(userId, _ => new StrongBox());
        while (true)
        {
            var current = Volatile.Read(ref box.Value);
            if (current >= max)
            {
                return ValueTask.FromResult((false, current));
            }
            if (Interlocked.CompareExchange(ref box.Value, current + 1, current) == current)
            {
                return ValueTask.FromResult((true, current + 1));
            }
        }
    }

    /// <inheritdoc />
    public ValueTask ReleaseMeasurementSlotAsync(string userId, CancellationToken cancellationToken)
    {
        if (_running.TryGetValue(userId, out var box))
        {
            var left = Interlocked.Decrement(ref box.Value);
            if (left < 0)
            {
                Interlocked.CompareExchange(ref box.Value, 0, left);
            }
        }
        return ValueTask.CompletedTask;
    }

    private sealed class StrongBox
    {
        public int Value;
    }
}
