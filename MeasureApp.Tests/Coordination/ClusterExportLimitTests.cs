using System.Net;
using System.Net.Sockets;
using MeasureApp.Coordination;
using MeasureApp.Limits;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace MeasureApp.Tests.Coordination;

/// <summary>Issue 13: <c>Limits:MaxConcurrentExports</c> holds across the instances sharing one Redis, and per
/// instance while Redis cannot be reached.</summary>
public sealed class ClusterExportLimitTests : TwoRedisInstances
{
    [Fact]
    public async Task TwoInstancesTogetherAdmitNoMoreExportsOfAUserThanTheLimit()
    {
        var a = new ExportSlots(new RedisExportSlots(await RedisKit.LinkAsync(RedisA, Prefix, "a")));
        var b = new ExportSlots(new RedisExportSlots(await RedisKit.LinkAsync(RedisB, Prefix, "b")));

        var first = await a.TryEnterAsync("user-1", 2);
        await using var second = await b.TryEnterAsync("user-1", 2);
        var thirdOnA = await a.TryEnterAsync("user-1", 2);
        var thirdOnB = await b.TryEnterAsync("user-1", 2);
        await using var otherUser = await a.TryEnterAsync("user-2", 2);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(thirdOnA);
        Assert.Null(thirdOnB);
        Assert.NotNull(otherUser);
        // A refused export holds nothing, here or in Redis.
        Assert.Equal(1, a.CountFor("user-1"));
        Assert.Equal(1, b.CountFor("user-1"));
        var fields = await RedisA.GetDatabase().HashGetAllAsync(Prefix + "exports:user-1");
        Assert.Equal(2, fields.Sum(f => (int)f.Value));

        await first.DisposeAsync();
        await using var afterRelease = await b.TryEnterAsync("user-1", 2);
        Assert.NotNull(afterRelease);
        Assert.Equal(2, b.CountFor("user-1"));
    }

    [Fact]
    public async Task WhileRedisCannotBeReachedEachInstanceHoldsTheLimitOnItsOwn()
    {
        using var nothing = new TcpListener(IPAddress.Loopback, 0);
        nothing.Start();
        var port = ((IPEndPoint)nothing.LocalEndpoint).Port;
        nothing.Stop();
        await using var unreachable = await RedisKit.ConnectAsync($"127.0.0.1:{port},connectTimeout=300,connectRetry=0");
        var link = new RedisLink(unreachable, new RedisCoordinationOptions { KeyPrefix = Prefix, InstanceId = "alone" }, TimeProvider.System, NullLogger<RedisLink>.Instance);
        var alone = new ExportSlots(new RedisExportSlots(link));

        await using var first = await alone.TryEnterAsync("user-3", 2);
        await using var second = await alone.TryEnterAsync("user-3", 2);
        var third = await alone.TryEnterAsync("user-3", 2);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(third);
        Assert.False(link.IsReachable);
    }
}
