using System.Reflection;
using MeasureApp.Coordination;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace MeasureApp.Tests.Coordination;

/// <summary>
/// A stopping host closes the Redis connection while the liveness service may still retire this instance or run
/// a check: a command on a closed connection is "Redis unreachable" (fall back), never an exception out of the
/// host's shutdown.
/// </summary>
public sealed class RedisLinkClosedTests
{
    [Fact]
    public async Task ACommandOnAClosedConnectionFallsBackInsteadOfThrowing()
    {
        var link = new RedisLink(ClosedConnection.Create(), new RedisCoordinationOptions { KeyPrefix = "closed:", InstanceId = "stopping" },
            TimeProvider.System, NullLogger<RedisLink>.Instance);

        var (ok, _) = await link.RetireAsync();
        await link.CheckAsync();

        Assert.False(ok);
        Assert.False(link.IsReachable);
    }

    // A multiplexer that still says it is connected (the check before the call) but whose database commands
    // throw ObjectDisposedException, as a multiplexer disposed between the check and the call does.
    // DispatchProxy derives from the proxy type at run time, so it must not be sealed.
#pragma warning disable CA1852
    private class ClosedConnection : DispatchProxy
    {
        public static IConnectionMultiplexer Create() => Create<IConnectionMultiplexer, ClosedConnection>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "get_IsConnected" => true,
            "GetDatabase" => ClosedDatabase.Create(),
            "add_ConnectionFailed" or "remove_ConnectionFailed" or "add_ConnectionRestored" or "remove_ConnectionRestored" => null,
            _ => throw new ObjectDisposedException("ConnectionMultiplexer"),
        };
    }

    private class ClosedDatabase : DispatchProxy
    {
        public static IDatabase Create() => Create<IDatabase, ClosedDatabase>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => throw new ObjectDisposedException("ConnectionMultiplexer");
    }
#pragma warning restore CA1852
}
