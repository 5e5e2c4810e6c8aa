using System.Net;
using System.Text;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Relay;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace MeasureApp.Tests.Relay;

/// <summary>
/// <c>POST /api/measurements/{id}/stop</c> on app instance B (real host, Redis configured) for a
/// measurement acquired by instance A (an engine with its relay in the same process, same prefix).
/// </summary>
public sealed class RemoteStopApiTests
{
    [Fact]
    public async Task TheStopEndpointStopsAMeasurementOnAnotherInstanceForItsOwnerOnly()
    {
        var prefix = $"test:relay:{Guid.NewGuid():N}:";
        using var b = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = TestEnvironment.RedisConnectionString,
            ["Relay:Prefix"] = prefix,
            ["Relay:StopTimeout"] = "00:00:01",
        });
        var alice = await Users.CreateOperatorAsync(b.Services);
        var bob = await Users.CreateOperatorAsync(b.Services);
        var aliceClient = await HttpLogin.LoggedInClientAsync(b, alice.Email!, Users.Password);
        var bobClient = await HttpLogin.LoggedInClientAsync(b, bob.Email!, Users.Password);
        await using var a = await EngineHarness.StartNewAsync();
        await using var redisA = await ConnectionMultiplexer.ConnectAsync(TestEnvironment.RedisConnectionString);
        using var hostA = new LiveRelayHost(redisA, a.Hub, a.Engine, Microsoft.Extensions.Options.Options.Create(new RelayOptions { Prefix = prefix }), TimeProvider.System, NullLogger<LiveRelayHost>.Instance, new MeasureApp.Coordination.RedisReachability(redisA, TimeProvider.System, NullLogger.Instance));
        await hostA.StartAsync(CancellationToken.None);
        var owner = new Requester(alice.Id, alice.Email!, IsAdmin: false);
        var first = await StartOnAAsync(a, b, owner);
        var second = await StartOnAAsync(a, b, owner);
        var stopped = a.WhenStopped(alice.Id, first.Id);

        // Another user: not found, and it keeps running.
        Assert.Equal(HttpStatusCode.NotFound, (await StopAsync(bobClient, first.Id)).StatusCode);
        Assert.NotNull(a.Engine.Find(first.Id, owner));

        Assert.Equal(HttpStatusCode.OK, (await StopAsync(aliceClient, first.Id)).StatusCode);
        Assert.Equal(StopReason.User, (await stopped).StopReason);

        // A's relay gone: B says so (not 409 "stop it there", not a hang).
        await hostA.StopAsync(CancellationToken.None);
        var silent = await StopAsync(aliceClient, second.Id);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, silent.StatusCode);
        Assert.Contains("did not answer", await silent.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.NotNull(a.Engine.Find(second.Id, owner));
    }

    private static async Task<MeasurementInfo> StartOnAAsync(EngineHarness a, AppFactory b, Requester owner)
    {
        var info = await a.StartMeasurementAsync(owner, EngineHarness.Request());
        // The shared database: A's row as its store writes it.
        await b.Services.GetRequiredService<ISampleStore>().CreateMeasurementAsync(info, CancellationToken.None);
        return info;
    }

    private static Task<HttpResponseMessage> StopAsync(HttpClient client, Guid id) =>
        client.PostAsync($"/api/measurements/{id}/stop", new StringContent("{}", Encoding.UTF8, "application/json"));
}
