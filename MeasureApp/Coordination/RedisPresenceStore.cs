using System.Text.Json;
using MeasureApp.Presence;
using StackExchange.Redis;

namespace MeasureApp.Coordination;

/// <summary>One open tab as any instance sees it.</summary>
/// <param name="Instance">The instance the circuit lives on.</param>
/// <param name="UserId">Its user.</param>
/// <param name="UserName">Its user's name.</param>
/// <param name="Page">Where it is.</param>
/// <param name="LastSeen">Its last heartbeat.</param>
public sealed record TabSighting(string Instance, string UserId, string UserName, string? Page, DateTimeOffset LastSeen);

/// <summary>The other live instances' tabs, as last read from Redis.</summary>
/// <param name="ReadAt">When they were read.</param>
/// <param name="Instances">Live instances that have tabs or are this one.</param>
/// <param name="Tabs">The other instances' tabs.</param>
public sealed record RemoteTabs(DateTimeOffset ReadAt, int Instances, IReadOnlyList<TabSighting> Tabs);

/// <summary>
/// Presence across instances. Every few seconds (never on a circuit's path) this instance writes its
/// tabs into a Redis sorted set scored by last heartbeat, plus a hash with user, name and page, and
/// reads back every other live instance's tabs; tabs of instances whose liveness key expired are
/// removed. Elects one writer per 10-s snapshot slot.
/// </summary>
public sealed class RedisPresenceStore(RedisLink link, CircuitRegistry circuits, TimeProvider time, ILogger<RedisPresenceStore> logger) : BackgroundService
{
    /// <summary>What a degraded presence answer says.</summary>
    public const string UnreachableReason = "Redis unreachable — presence shows this instance only";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HashSet<string> _published = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _publishing = new(1, 1);
    private volatile RemoteTabs? _remote;

    private RedisKey SeenKey => link.Key("presence:seen");

    private RedisKey InfoKey => link.Key("presence:tabs");

    /// <summary>Whether Redis is reachable (presence covers every instance).</summary>
    public bool IsReachable => link.IsReachable;

    /// <summary>
    /// The other instances' tabs, or null when Redis is unreachable or the last read is stale
    /// (then presence is this instance's only).
    /// </summary>
    public RemoteTabs? Remote
    {
        get
        {
            var remote = _remote;
            return link.IsReachable && remote is not null && time.GetUtcNow() - remote.ReadAt <= link.Options.PresenceInterval * 3 ? remote : null;
        }
    }

    /// <summary>Writes this instance's tabs and reads everyone's; false when Redis is unreachable.</summary>
    public async Task<bool> PublishAsync()
    {
        await _publishing.WaitAsync();
        try
        {
            return await PublishCoreAsync();
        }
        finally
        {
            _publishing.Release();
        }
    }

    private async Task<bool> PublishCoreAsync()
    {
        var now = time.GetUtcNow();
        var tabs = circuits.All;
        var (ok, remote) = await link.TryAsync(async db =>
        {
            var members = tabs.ToDictionary(t => Member(link.InstanceId, t.CircuitId), StringComparer.Ordinal);
            var gone = _published.Where(m => !members.ContainsKey(m)).Select(m => (RedisValue)m).ToArray();
            var write = db.CreateTransaction();
            if (members.Count > 0)
            {
                _ = write.SortedSetAddAsync(SeenKey, [.. members.Select(m => new SortedSetEntry(m.Key, m.Value.LastSeen.ToUnixTimeMilliseconds()))]);
                _ = write.HashSetAsync(InfoKey, [.. members.Select(m => new HashEntry(m.Key, JsonSerializer.Serialize(new TabInfo(m.Value.UserId, m.Value.UserName, m.Value.Page), Json)))]);
            }
            if (gone.Length > 0)
            {
                _ = write.SortedSetRemoveAsync(SeenKey, gone);
                _ = write.HashDeleteAsync(InfoKey, gone);
            }
            await write.ExecuteAsync();
            _published.Clear();
            _published.UnionWith(members.Keys);
            return await ReadOthersAsync(db, now);
        });
        if (ok)
        {
            _remote = remote;
        }
        return ok;
    }

    /// <summary>
    /// Whether this instance writes the snapshot of the 10-s slot starting at <paramref name="at"/>:
    /// the first instance to claim it in Redis, or every instance while Redis is unreachable.
    /// </summary>
    public async Task<bool> ClaimSnapshotAsync(DateTimeOffset at)
    {
        var slot = at.ToUnixTimeSeconds() / (long)PresenceSnapshotService.Interval.TotalSeconds;
        var (ok, claimed) = await link.TryAsync(db => db.StringSetAsync(link.Key($"presence:snapshot:{slot}"), link.InstanceId, TimeSpan.FromMinutes(1), When.NotExists));
        return !ok || claimed;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(link.Options.PresenceInterval, time);
        do
        {
            // Skipped while Redis is unreachable (PublishAsync answers false at once); the next tick after the recovery catches up.
            await PublishAsync();
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // A clean shutdown takes this instance's tabs out at once instead of after the liveness TTL.
        var mine = _published.Select(m => (RedisValue)m).ToArray();
        if (mine.Length > 0)
        {
            await link.TryAsync(async db =>
            {
                await db.SortedSetRemoveAsync(SeenKey, mine);
                return await db.HashDeleteAsync(InfoKey, mine);
            });
        }
    }

    private static string Member(string instance, string circuitId) => instance + "|" + circuitId;

    private async Task<RemoteTabs> ReadOthersAsync(IDatabase db, DateTimeOffset now)
    {
        var seenTask = db.SortedSetRangeByRankWithScoresAsync(SeenKey);
        var infoTask = db.HashGetAllAsync(InfoKey);
        var seen = await seenTask;
        var info = (await infoTask).ToDictionary(e => (string)e.Name!, e => (string?)e.Value, StringComparer.Ordinal);

        var others = seen.Select(e => (string)e.Element!).Select(m => m[..Math.Max(0, m.IndexOf('|', StringComparison.Ordinal))])
            .Where(i => i.Length > 0 && i != link.InstanceId).Distinct(StringComparer.Ordinal).ToList();
        var alive = new HashSet<string>(StringComparer.Ordinal);
        var checks = others.Select(i => (Instance: i, Exists: db.KeyExistsAsync(link.LivenessPrefix + i))).ToList();
        foreach (var (instance, exists) in checks)
        {
            if (await exists)
            {
                alive.Add(instance);
            }
        }

        var tabs = new List<TabSighting>();
        var dead = new List<RedisValue>();
        foreach (var entry in seen)
        {
            var member = (string)entry.Element!;
            var separator = member.IndexOf('|', StringComparison.Ordinal);
            var instance = separator > 0 ? member[..separator] : "";
            if (instance == link.InstanceId)
            {
                continue;
            }
            if (!alive.Contains(instance) || !info.TryGetValue(member, out var json) || json is null)
            {
                dead.Add(member);
                continue;
            }
            var tab = Parse(json);
            if (tab is null)
            {
                dead.Add(member);
                continue;
            }
            tabs.Add(new TabSighting(instance, tab.UserId, tab.UserName, tab.Page, DateTimeOffset.FromUnixTimeMilliseconds((long)entry.Score)));
        }
        if (dead.Count > 0)
        {
            logger.LogDebug("Removing {Count} tabs of instances that are gone", dead.Count);
            await db.SortedSetRemoveAsync(SeenKey, [.. dead]);
            await db.HashDeleteAsync(InfoKey, [.. dead]);
        }
        return new RemoteTabs(now, alive.Count + 1, tabs);
    }

    private static TabInfo? Parse(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<TabInfo>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed record TabInfo(string UserId, string UserName, string? Page);
}
