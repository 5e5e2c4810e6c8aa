using System.Collections.Concurrent;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace MeasureApp.Coordination;

/// <summary>
/// Per-user measurement slots shared by every instance on one Redis. Each user has a hash with one
/// field per instance (that instance's running count); an atomic Lua script sums the fields of live
/// instances (liveness key present), drops those of dead ones — a crashed instance never leaks
/// slots — and takes a slot when the sum is below the limit. Called at start and stop only.
/// <para>
/// When Redis is unreachable the limit is checked against the database: the user's measurements in
/// state Running plus this instance's slots taken but not yet recorded, under a per-user lock. This
/// instance's own counts stay authoritative locally and are re-published when Redis is back. Between
/// instances the fallback is best effort: two instances starting at the same moment both read the
/// database before either recorded its measurement.
/// </para>
/// </summary>
public sealed class RedisLimitCoordinator : ILimitCoordinator, IDisposable
{
    /// <summary>How long a slot taken during an outage counts as "not yet recorded" unless its row appears.</summary>
    internal static readonly TimeSpan PendingWindow = TimeSpan.FromSeconds(30);

    // The liveness keys are written by RedisLink.CheckAsync only: one that vanished (a Redis restart)
    // must stay missing until the check notices it and re-publishes.
    internal static readonly LuaScript Acquire = LuaScript.Prepare("""
        local fields = redis.call('HGETALL', @hash)
        local total = 0
        for i = 1, #fields, 2 do
          local instance = fields[i]
          if instance ~= @me and redis.call('EXISTS', @livePrefix .. instance) == 0 then
            redis.call('HDEL', @hash, instance)
          else
            total = total + tonumber(fields[i + 1])
          end
        end
        if total >= tonumber(@max) then
          return {0, total}
        end
        redis.call('HINCRBY', @hash, @me, 1)
        return {1, total + 1}
        """);

    internal static readonly LuaScript Release = LuaScript.Prepare("""
        local left = redis.call('HINCRBY', @hash, @me, -1)
        if left <= 0 then
          redis.call('HDEL', @hash, @me)
        end
        return left
        """);

    private readonly RedisLink _link;
    private readonly IDbContextFactory<AppDbContext> _contexts;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, UserSlots> _users = new(StringComparer.Ordinal);

    public RedisLimitCoordinator(RedisLink link, IDbContextFactory<AppDbContext> contexts, TimeProvider time)
    {
        _link = link;
        _contexts = contexts;
        _time = time;
        link.OnRecovery(RepublishAsync);
    }

    /// <summary>Slots this instance holds for <paramref name="userId"/> (its authoritative local count).</summary>
    public int HeldBy(string userId) => _users.TryGetValue(userId, out var u) ? Volatile.Read(ref u.Held) : 0;

    /// <inheritdoc />
    public async ValueTask<(bool Acquired, int InUse)> TryAcquireMeasurementSlotAsync(string userId, int max, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var user = _users.GetOrAdd(userId, _ => new UserSlots());
        await user.Gate.WaitAsync(cancellationToken);
        try
        {
            // No cancellation once sent: a script that ran must be counted locally too.
            var (ok, result) = await _link.TryAsync(db => Acquire.EvaluateAsync(db, new
            {
                hash = UserKey(userId),
                me = _link.InstanceId,
                max,
                livePrefix = _link.LivenessPrefix,
            }));
            if (ok)
            {
                var answer = (long[])result!;
                if (answer[0] == 1)
                {
                    user.Held++;
                }
                return (answer[0] == 1, (int)answer[1]);
            }

            var inUse = await CountFromDatabaseAsync(userId, user, cancellationToken);
            if (inUse >= max)
            {
                return (false, inUse);
            }
            user.Held++;
            user.Pending.Add(_time.GetUtcNow());
            return (true, inUse + 1);
        }
        finally
        {
            user.Gate.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask ReleaseMeasurementSlotAsync(string userId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(userId);
        if (!_users.TryGetValue(userId, out var user))
        {
            return;
        }
        await user.Gate.WaitAsync(CancellationToken.None);
        try
        {
            if (user.Held == 0)
            {
                return;
            }
            user.Held--;
            // A failure marks Redis unreachable; the recovery re-publishes the count released here.
            await _link.TryAsync(db => Release.EvaluateAsync(db, new { hash = UserKey(userId), me = _link.InstanceId }));
        }
        finally
        {
            user.Gate.Release();
        }
    }

    private RedisKey UserKey(string userId) => _link.Key("limits:" + userId);

    // The user's Running measurements in the database (every instance's, once recorded) plus the
    // slots this instance handed out in the outage whose row is not visible yet (the engine records
    // a measurement right after taking its slot).
    private async Task<int> CountFromDatabaseAsync(string userId, UserSlots user, CancellationToken cancellationToken)
    {
        await using var db = await _contexts.CreateDbContextAsync(cancellationToken);
        // DateTimeOffset ordering does not translate on SQLite; a user has a handful of running rows.
        var started = (await db.Measurements.AsNoTracking()
            .Where(m => m.OwnerId == userId && (m.State == MeasurementState.Running || m.State == MeasurementState.Starting))
            .Select(m => m.StartedAt).ToListAsync(cancellationToken))
            .OrderDescending().ToList();

        var now = _time.GetUtcNow();
        user.Pending.RemoveAll(p => now - p > PendingWindow);
        while (user.Pending.Count > user.Held)
        {
            user.Pending.RemoveAt(0);
        }
        // Newest slot first: it is recorded when a row started at or after it exists.
        var unrecorded = 0;
        var row = 0;
        foreach (var taken in user.Pending.OrderDescending())
        {
            // PostgreSQL keeps microseconds; allow for the rounding.
            if (row < started.Count && started[row] >= taken - TimeSpan.FromMilliseconds(1))
            {
                row++;
            }
            else
            {
                unrecorded++;
            }
        }
        return started.Count + unrecorded;
    }

    // Redis came back (possibly empty after a restart): this instance's counts replace its fields.
    private async Task RepublishAsync(IDatabase db)
    {
        foreach (var (userId, user) in _users)
        {
            await user.Gate.WaitAsync();
            try
            {
                if (user.Held > 0)
                {
                    await db.HashSetAsync(UserKey(userId), _link.InstanceId, user.Held);
                }
                else
                {
                    await db.HashDeleteAsync(UserKey(userId), _link.InstanceId);
                }
            }
            finally
            {
                user.Gate.Release();
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var user in _users.Values)
        {
            user.Dispose();
        }
    }

    private sealed class UserSlots : IDisposable
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public readonly List<DateTimeOffset> Pending = [];
        public int Held;

        public void Dispose() => Gate.Dispose();
    }
}
