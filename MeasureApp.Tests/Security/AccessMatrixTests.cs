using System.Net;
using System.Text;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Export;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Security;

/// <summary>
/// SPEC §10 access matrix over HTTP on both database providers: every id-bearing API (REST resource,
/// stop, delete, export in every form, prepared-export downloads) tried by each operator with the
/// other's ids answers exactly like an unknown id and has no effect; the same calls on one's own ids
/// work (so a 404 is the ownership check, not a missing route); an admin sees everyone's.
/// </summary>
public sealed class AccessMatrixTests
{
    private sealed record Party(string UserId, string Email, Requester Requester, HttpClient Client, Guid Stored, string StoredName, Guid Running, string RunningName);

    // (method, path with {0} = measurement id)
    private static readonly (string Method, string Path)[] IdRequests =
    [
        ("GET", "/api/measurements/{0}"),
        ("POST", "/api/measurements/{0}/stop"),
        ("DELETE", "/api/measurements/{0}"),
        ("GET", "/api/measurements/{0}/export"),
        ("GET", "/api/measurements/{0}/export?format=csv&time=seconds"),
        ("GET", "/api/measurements/{0}/export?format=parquet"),
        ("GET", "/api/measurements/{0}/export?format=csv&channels=0&from=0&to=1"),
        // Bad parameters must not tell a foreign id from an unknown one either (ownership is checked first).
        ("GET", "/api/measurements/{0}/export?format=xlsx"),
        ("GET", "/api/measurements/{0}/export?channels=7"),
        ("GET", "/api/measurements/{0}/export?from=5&to=1"),
        // Sharing (issue 16): who has access, share on, revoke — all answer a foreign id like an unknown one.
        ("GET", "/api/measurements/{0}/shares"),
        ("POST", "/api/measurements/{0}/shares"),
        ("DELETE", "/api/measurements/{0}/shares/someone%40test.local"),
        // Tags and metadata (issue 16), annotations, analysis.
        ("GET", "/api/measurements/{0}/tags"),
        ("PUT", "/api/measurements/{0}/tags"),
        ("GET", "/api/measurements/{0}/metadata"),
        ("PUT", "/api/measurements/{0}/metadata"),
        ("GET", "/api/measurements/{0}/annotations"),
        ("GET", "/api/measurements/{0}/stats"),
    ];

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task EveryIdBearingApiAnswersAForeignIdExactlyLikeAnUnknownOneAndLeaksNothing(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var engine = factory.Services.GetRequiredService<MeasurementEngine>();
        var alice = await CreatePartyAsync(factory, "alice");
        var bob = await CreatePartyAsync(factory, "bob");
        using var admin = await HttpLogin.LoggedInClientAsync(factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var unknown = Guid.NewGuid();
        try
        {
            foreach (var (me, other) in new[] { (alice, bob), (bob, alice) })
            {
                string[] secrets = [other.StoredName, other.RunningName, other.Email, other.UserId];
                foreach (var (method, path) in IdRequests)
                {
                    var expected = await SendAsync(me.Client, method, AccessProbe.Format(path, unknown));
                    Assert.True(expected.Status is HttpStatusCode.NotFound, $"{method} {path} with an unknown id answered {expected.Status}");
                    foreach (var id in new[] { other.Stored, other.Running })
                    {
                        var answer = await SendAsync(me.Client, method, AccessProbe.Format(path, id));
                        Assert.True(answer.Status == expected.Status, $"{method} {path} with the other's id answered {answer.Status}");
                        Assert.Equal(expected.Comparable, answer.Comparable);
                        AccessProbe.AssertNoSecret(answer.Raw, secrets);
                    }
                }

                // The list, also with the admin-only owner filter and a search for the other's name.
                foreach (var query in new[] { "", $"?owner={other.UserId}", $"?search={Uri.EscapeDataString(other.StoredName)}" })
                {
                    var list = await me.Client.GetStringAsync("/api/measurements" + query);
                    AccessProbe.AssertNoSecret(list, [.. secrets, other.Stored.ToString(), other.Running.ToString()]);
                }
                Assert.Contains(me.Stored.ToString(), await me.Client.GetStringAsync($"/api/measurements?owner={other.UserId}"), StringComparison.Ordinal);
            }

            // None of the guesses had an effect.
            var adminRequester = new Requester("admin-check", AppFactory.AdminEmail, IsAdmin: true);
            var catalog = factory.Services.GetRequiredService<MeasurementCatalog>();
            foreach (var p in new[] { alice, bob })
            {
                Assert.NotNull(engine.Find(p.Running, adminRequester));
                Assert.NotNull(await catalog.FindAsync(adminRequester, p.Stored, CancellationToken.None));
            }

            // The admin sees both, and the owner filter selects one owner.
            foreach (var p in new[] { alice, bob })
            {
                using var one = await admin.GetAsync($"/api/measurements/{p.Stored}");
                Assert.Equal(HttpStatusCode.OK, one.StatusCode);
                Assert.Contains(p.StoredName, await one.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                var owned = await admin.GetStringAsync($"/api/measurements?owner={p.UserId}&pageSize=200");
                Assert.Contains(p.Stored.ToString(), owned, StringComparison.Ordinal);
                Assert.DoesNotContain((p == alice ? bob : alice).Stored.ToString(), owned, StringComparison.Ordinal);
            }

            // The same calls on one's own ids do work: the 404s above are the ownership check.
            using (var ownExport = await alice.Client.GetAsync($"/api/measurements/{alice.Stored}/export?format=csv"))
            {
                Assert.Equal(HttpStatusCode.OK, ownExport.StatusCode);
            }
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(alice.Client, "POST", $"/api/measurements/{alice.Running}/stop")).Status);
            Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(alice.Client, "DELETE", $"/api/measurements/{alice.Stored}")).Status);
            Assert.Null(await catalog.FindAsync(adminRequester, alice.Stored, CancellationToken.None));
            Assert.NotNull(engine.Find(bob.Running, adminRequester));
        }
        finally
        {
            var cleanup = new Requester("admin-cleanup", AppFactory.AdminEmail, IsAdmin: true);
            await engine.StopAsync(alice.Running, cleanup, CancellationToken.None);
            await engine.StopAsync(bob.Running, cleanup, CancellationToken.None);
            alice.Client.Dispose();
            bob.Client.Dispose();
        }
    }

    [Fact]
    public async Task APreparedExportIsDownloadedByItsOwnerOnlyAndAnotherUsersTokenIsNotFound()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite);
        var alice = await CreatePartyAsync(factory, "alice", running: false);
        var bob = await CreatePartyAsync(factory, "bob", running: false);
        var exports = factory.Services.GetRequiredService<PreparedExports>();
        try
        {
            // Preparing someone else's measurement is refused exactly like an unknown one.
            var foreign = await exports.StartAsync(bob.Requester, alice.Stored, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv"), CancellationToken.None);
            var unknown = await exports.StartAsync(bob.Requester, Guid.NewGuid(), MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv"), CancellationToken.None);
            Assert.Null(foreign.Export);
            Assert.True(foreign.NotFound);
            Assert.Equal(unknown, foreign);

            var prepared = await exports.StartAsync(alice.Requester, alice.Stored, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv&time=seconds"), CancellationToken.None);
            Assert.NotNull(prepared.Export);
            await prepared.Export.Completion.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(PreparedExportState.Ready, prepared.Export.State);

            // Bob holding Alice's token (leaked link) gets what any unknown token gets, and does not use it up.
            var expected = await SendAsync(bob.Client, "GET", $"/api/exports/{new string('0', 48)}");
            var stolen = await SendAsync(bob.Client, "GET", "/" + prepared.Export.DownloadPath);
            Assert.Equal(HttpStatusCode.NotFound, stolen.Status);
            Assert.Equal(expected.Comparable, stolen.Comparable);
            AccessProbe.AssertNoSecret(stolen.Raw, [alice.StoredName, alice.Email, alice.UserId]);

            var mine = await SendAsync(alice.Client, "GET", "/" + prepared.Export.DownloadPath);
            Assert.Equal(HttpStatusCode.OK, mine.Status);
            Assert.Equal(3001, mine.Raw.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(alice.Client, "GET", "/" + prepared.Export.DownloadPath)).Status);
        }
        finally
        {
            alice.Client.Dispose();
            bob.Client.Dispose();
        }
    }

    private static async Task<Party> CreatePartyAsync(AppFactory factory, string who, bool running = true)
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var user = await Users.CreateOperatorAsync(factory.Services, $"{who}-{tag}@test.local");
        var requester = new Requester(user.Id, user.Email!, IsAdmin: false);
        var storedName = $"{who} stored {tag}";
        var stored = await AccessProbe.StoreMeasurementAsync(factory.Services, user.Id, user.Email!, storedName);
        var runningName = $"{who} running {tag}";
        var runningId = Guid.Empty;
        if (running)
        {
            var started = await factory.Services.GetRequiredService<MeasurementEngine>().StartAsync(requester, new UserLimits(),
                new StartRequest { DeviceId = "sim-1", Name = runningName, Channels = 1, SampleRate = 1000 }, CancellationToken.None);
            Assert.True(started.Succeeded, started.Error);
            runningId = started.Measurement!.Id;
        }
        var client = await HttpLogin.LoggedInClientAsync(factory, user.Email!, Users.Password);
        return new Party(user.Id, user.Email!, requester, client, stored, storedName, runningId, runningName);
    }

    private sealed record Answer(HttpStatusCode Status, string Comparable, string Raw);

    private static async Task<Answer> SendAsync(HttpClient client, string method, string url)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (method is "POST" or "PUT")
        {
            // The REST API takes POSTs and PUTs only as JSON (else 415): a guess must send JSON to reach the ownership check.
            request.Content = new StringContent(url.EndsWith("/tags", StringComparison.Ordinal) ? "[\"probe\"]" : "{}", Encoding.UTF8, "application/json");
        }
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var type = response.Content.Headers.ContentType?.ToString() ?? "";
        // Problem details carry a per-request trace id; everything else must be identical.
        return new Answer(response.StatusCode, type + "\n" + AccessProbe.WithoutTraceId(body), body);
    }
}
