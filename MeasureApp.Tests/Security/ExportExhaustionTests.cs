using System.Net;
using MeasureApp.Data;
using MeasureApp.Tests.Export;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;

namespace MeasureApp.Tests.Security;

/// <summary>
/// Issue 13 item 1: slow downloads must not hold pooled database connections. A pool of 5 connections,
/// 8 exports stalled mid-stream (their clients never read on) by 4 operators: everyone else still
/// logs in and reads the API, and a user's third concurrent export is refused with a clear message.
/// </summary>
public sealed class ExportExhaustionTests
{
    private const int Pool = 5;
    private const int Operators = 4;

    [Theory]
    [InlineData(DatabaseProvider.Postgres)]
    [InlineData(DatabaseProvider.Sqlite)]
    public async Task StalledExportsLeaveTheDatabasePoolToEveryoneElseAndTheExtraExportIsRefused(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider) { MaxPoolSize = Pool };
        var stalled = new List<HttpResponseMessage>();
        var clients = new List<HttpClient>();
        try
        {
            var owners = new List<AppUser>();
            for (var i = 0; i < Operators; i++)
            {
                owners.Add(await Users.CreateOperatorAsync(factory.Services));
            }
            // One measurement per operator, far larger than every buffer between the writer and the client.
            var ids = new List<Guid>();
            foreach (var owner in owners)
            {
                var signal = new KnownSignal(Guid.CreateVersion7(), 1, Enumerable.Repeat(10_000, 40).ToList(), (c, i) => i * 0.25f);
                await ExportFixture.StoreAsync(factory.Services, signal.MeasurementId, owner, "big", 1, 1000, signal.Chunks);
                ids.Add(signal.MeasurementId);
            }
            var baseline = await HttpLogin.LoggedInClientAsync(factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
            clients.Add(baseline);

            for (var o = 0; o < Operators; o++)
            {
                var client = await HttpLogin.LoggedInClientAsync(factory, owners[o].Email!, Users.Password);
                clients.Add(client);
                for (var k = 0; k < 2; k++)
                {
                    // Headers arrive with the first flush: the export is running and then blocks on the unread body.
                    var response = await client.GetAsync($"/api/measurements/{ids[o]}/export?format=csv", HttpCompletionOption.ResponseHeadersRead);
                    stalled.Add(response);
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                }
                if (o == 0)
                {
                    using var extra = await client.GetAsync($"/api/measurements/{ids[o]}/export?format=csv", HttpCompletionOption.ResponseHeadersRead);
                    Assert.Equal(HttpStatusCode.TooManyRequests, extra.StatusCode);
                    Assert.Contains("2 of 2 allowed exports", await extra.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                }
            }

            // 8 downloads stalled on a pool of 5: a new login, an API read and readiness all still work.
            var other = await HttpLogin.LoggedInClientAsync(factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
            clients.Add(other);
            using var list = await other.GetAsync("/api/measurements");
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            using var ready = await other.GetAsync("/health/ready");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            using var stillFirst = await baseline.GetAsync($"/api/measurements/{ids[1]}");
            Assert.Equal(HttpStatusCode.OK, stillFirst.StatusCode);
        }
        finally
        {
            foreach (var response in stalled)
            {
                response.Dispose();
            }
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
