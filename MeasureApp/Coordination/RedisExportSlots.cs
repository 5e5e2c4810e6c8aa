using System.Collections.Concurrent;
using MeasureApp.Limits;
using StackExchange.Redis;

namespace MeasureApp.Coordination;

/// <summary>
/// Per-user export slots (<c>Limits:MaxConcurrentExports</c>) shared by every instance on one Redis,
/// with the scheme of <see cref="RedisLimitCoordinator"/>: a hash per user with one field per
/// instance, summed over live instances by one atomic script, so a crashed instance's downloads stop
/// counting when its liveness key expires. While Redis is unreachable the caller decides on its own
/// instance's count (the limit then holds per instance); this instance's count is re-published when
/// Redis is back.
/// </summary>
public sealed class RedisExportSlots : IClusterUserSlots
{
    private readonly RedisLink _link;
    private readonly ConcurrentDictionary<string, int> _held = new(StringComparer.Ordinal);

    public RedisExportSlots(RedisLink link)
    {
        _link = link;
        link.OnRecovery(RepublishAsync);
    }

    /// <inheritdoc />
    public async ValueTask<bool?> TryAcquireAsync(string userId, int max)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var (ok, result) = await _link.TryAsync(db => RedisLimitCoordinator.Acquire.EvaluateAsync(db, new
        {
            hash = UserKey(userId),
            me = _link.InstanceId,
            max,
            livePrefix = _link.LivenessPrefix,
        }));
        if (ok && ((long[])result!)[0] != 1)
        {
            return false;
        }
        // Taken in Redis, or unreachable: either way the export runs here and is counted here.
        _held.AddOrUpdate(userId, 1, (_, n) => n + 1);
        return ok ? true : null;
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(string userId)
    {
        ArgumentNullException.ThrowIfNull(userId);
        // A user's entry stays at 0 (one per user): a recovery must clear a field released during an outage.
        _held.AddOrUpdate(userId, 0, (_, n) => Math.Max(0, n - 1));
        // A failure marks Redis unreachable; the recovery re-publishes the count released here.
        await _link.TryAsync(db => RedisLimitCoordinator.Release.EvaluateAsync(db, new { hash = UserKey(userId), me = _link.InstanceId }));
    }

    private RedisKey UserKey(string userId) => _link.Key("exports:" + userId);

    // Redis came back (possibly empty after a restart): this instance's counts replace its fields.
    private async Task RepublishAsync(IDatabase db)
    {
        foreach (var (userId, held) in _held)
        {
            if (held > 0)
            {
                await db.HashSetAsync(UserKey(userId), _link.InstanceId, held);
            }
            else
            {
                await db.HashDeleteAsync(UserKey(userId), _link.InstanceId);
            }
        }
    }
}
