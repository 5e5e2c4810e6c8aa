using System.Globalization;
using System.Net;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Live;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Parquet;

namespace MeasureApp.Tests.Security;

/// <summary>
/// SPEC §10 canary: 20 users acquire at the same time, each from a device whose only channel is a
/// sine around the user's own offset (user k: 1000·(k+1) ± 1), so every value names its owner. Each
/// user's live session, history reads and exports must hold 0 values of anyone else, and every other
/// user's id must be "not found" on each of those paths.
/// </summary>
public sealed class CanaryTests
{
    private const int UserCount = 20;
    private const double SampleRate = 1000;
    private const long LiveSamplesWanted = 1500;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task TwentyConcurrentUsersNeverSeeAForeignSampleLiveInHistoryOrInExports(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider, CanaryDevices());
        var services = factory.Services;
        var engine = services.GetRequiredService<MeasurementEngine>();
        var limits = services.GetRequiredService<LimitsService>();

        var users = new List<CanaryUser>();
        for (var k = 0; k < UserCount; k++)
        {
            var user = await Users.CreateOperatorAsync(services, $"canary{k:00}-{Guid.NewGuid():N}@test.local");
            users.Add(new CanaryUser(k, new Requester(user.Id, user.Email!, IsAdmin: false)));
        }

        // All 20 start at once, each on their own canary device.
        var started = await Task.WhenAll(users.Select(async u => await engine.StartAsync(u.Requester, await limits.GetAsync(u.Requester.UserId, CancellationToken.None),
            new StartRequest { DeviceId = DeviceId(u.Index), Name = $"canary {u.Index:00}", Channels = 1, SampleRate = SampleRate }, CancellationToken.None)));
        Assert.All(started, s => Assert.True(s.Succeeded, s.Error));
        for (var k = 0; k < UserCount; k++)
        {
            users[k].MeasurementId = started[k].Measurement!.Id;
        }
        var sessions = new List<UserSession>();
        try
        {
            // Live: each user's own tab session (the circuit's UserSession) on their measurement.
            foreach (var u in users)
            {
                var session = new UserSession(engine, services.GetRequiredService<LiveHub>(), limits,
                    new CurrentUser(new TestPrincipal(u.Requester.UserId, u.Requester.UserName, isAdmin: false)), TimeProvider.System, NullLogger<UserSession>.Instance);
                sessions.Add(session);
                var attached = await session.AttachAsync(u.MeasurementId, 200, frame => u.OnLiveFrame(frame), _ => { });
                Assert.NotNull(attached);
                foreach (var other in users.Where(o => o != u))
                {
                    Assert.Null(await session.AttachAsync(other.MeasurementId, 200, _ => Task.CompletedTask, _ => { }));
                    Assert.Null(engine.Find(other.MeasurementId, u.Requester));
                    Assert.False(await engine.StopAsync(other.MeasurementId, u.Requester, CancellationToken.None));
                }
                Assert.Equal([u.MeasurementId], engine.GetRunning(u.Requester).Select(m => m.Id));
            }
            await Task.WhenAll(users.Select(u => u.LiveEnough.Task.WaitAsync(TimeSpan.FromSeconds(60))));
        }
        finally
        {
            await Task.WhenAll(users.Where(u => u.MeasurementId != Guid.Empty).Select(u => engine.StopAsync(u.MeasurementId, u.Requester, CancellationToken.None)));
            foreach (var s in sessions)
            {
                await s.DisposeAsync();
            }
        }

        Assert.All(users, u =>
        {
            Assert.True(u.LiveValues > 0, $"user {u.Index} saw no live value");
            Assert.Equal(0, u.ForeignLiveValues);
        });

        // History: the detail page's reads (overview and a zoomed range), and the list.
        var history = services.GetRequiredService<HistoryService>();
        var catalog = services.GetRequiredService<MeasurementCatalog>();
        foreach (var u in users)
        {
            var list = await catalog.ListAsync(u.Requester, new MeasurementQuery { PageSize = 200 }, CancellationToken.None);
            Assert.Equal([u.MeasurementId], list.Items.Select(m => m.Id));
            foreach (var (from, to) in new (double?, double?)[] { (null, null), (0.2, 0.9) })
            {
                var read = await history.ReadAsync(u.Requester, u.MeasurementId, from, to, 300, CancellationToken.None);
                Assert.NotNull(read);
                var values = read.Channels.Single().Values;
                Assert.NotEmpty(values);
                Assert.Equal(0, values.Count(v => !u.Owns(v)));
            }
            foreach (var other in users.Where(o => o != u))
            {
                Assert.Null(await history.ReadAsync(u.Requester, other.MeasurementId, null, null, 300, CancellationToken.None));
                Assert.Null(await catalog.FindAsync(u.Requester, other.MeasurementId, CancellationToken.None));
            }
        }

        // Sharing (issue 16): each user shares read-only with the next; the reader's history of it holds exactly the
        // owner's canary values, and everyone else's measurements stay invisible to them.
        var shares = services.GetRequiredService<MeasureApp.Sharing.ShareService>();
        foreach (var u in users)
        {
            var next = users[(u.Index + 1) % UserCount];
            Assert.Equal(MeasureApp.Sharing.ShareOutcome.Ok, (await shares.ShareAsync(u.Requester, u.MeasurementId, next.Requester.UserName, CancellationToken.None)).Outcome);
        }
        foreach (var u in users)
        {
            var owner = users[(u.Index + UserCount - 1) % UserCount];
            var read = await history.ReadAsync(u.Requester, owner.MeasurementId, null, null, 300, CancellationToken.None);
            Assert.NotNull(read);
            var values = read.Channels.Single().Values;
            Assert.NotEmpty(values);
            Assert.Equal(0, values.Count(v => !owner.Owns(v)));
            foreach (var other in users.Where(o => o != u && o != owner))
            {
                Assert.Null(await history.ReadAsync(u.Requester, other.MeasurementId, null, null, 300, CancellationToken.None));
                Assert.Null(await catalog.FindReadableAsync(u.Requester, other.MeasurementId, CancellationToken.None));
            }
            // Read access is not ownership: the owner-or-admin rule of the write paths still refuses.
            Assert.Null(await catalog.FindAsync(u.Requester, owner.MeasurementId, CancellationToken.None));
        }
        foreach (var u in users)
        {
            var next = users[(u.Index + 1) % UserCount];
            Assert.Equal(MeasureApp.Sharing.ShareOutcome.Ok, (await shares.RevokeAsync(u.Requester, u.MeasurementId, next.Requester.UserName, CancellationToken.None)).Outcome);
        }

        // Exports over HTTP, logged in as each user: own data complete and clean, everyone else's 404 like an unknown id.
        var unknown = Guid.NewGuid();
        foreach (var u in users)
        {
            using var client = await HttpLogin.LoggedInClientAsync(factory, u.Requester.UserName, Users.Password);
            var record = await catalog.FindAsync(u.Requester, u.MeasurementId, CancellationToken.None);
            Assert.True(record!.SampleCount >= LiveSamplesWanted);

            var csv = await client.GetStringAsync($"/api/measurements/{u.MeasurementId}/export?format=csv&time=seconds");
            var rows = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(line => float.Parse(line.Split(',')[1], CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(record.SampleCount, rows.Count);
            Assert.Equal(0, rows.Count(v => !u.Owns(v)));

            var parquet = await ReadParquetValuesAsync(client, $"/api/measurements/{u.MeasurementId}/export?format=parquet");
            Assert.Equal(record.SampleCount, parquet.Count);
            Assert.Equal(0, parquet.Count(v => !u.Owns(v)));

            foreach (var format in new[] { "csv", "parquet" })
            {
                using var notFound = await client.GetAsync($"/api/measurements/{unknown}/export?format={format}");
                var notFoundBody = AccessProbe.WithoutTraceId(await notFound.Content.ReadAsStringAsync());
                foreach (var other in users.Where(o => o != u))
                {
                    using var response = await client.GetAsync($"/api/measurements/{other.MeasurementId}/export?format={format}");
                    Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                    var body = await response.Content.ReadAsStringAsync();
                    Assert.Equal(notFoundBody, AccessProbe.WithoutTraceId(body));
                    Assert.DoesNotContain($"canary {other.Index:00}", body, StringComparison.Ordinal);
                    Assert.DoesNotContain(other.Requester.UserName, body, StringComparison.Ordinal);
                }
            }
        }
    }

    private static string DeviceId(int k) => $"canary-{k:00}";

    private static double Offset(int k) => 1000.0 * (k + 1);

    // Index 0 is the configured sim-1; the canary devices follow it.
    private static Dictionary<string, string?> CanaryDevices()
    {
        var settings = new Dictionary<string, string?>();
        for (var k = 0; k < UserCount; k++)
        {
            var prefix = $"Acquisition:Devices:{k + 1}:";
            settings[prefix + "Id"] = DeviceId(k);
            settings[prefix + "Driver"] = "Simulated";
            settings[prefix + "Seed"] = (k + 1).ToString(CultureInfo.InvariantCulture);
            settings[prefix + "SpikeProbability"] = "0";
            settings[prefix + "Channels:0:Name"] = "canary";
            settings[prefix + "Channels:0:Waveform"] = "Sine";
            settings[prefix + "Channels:0:Amplitude"] = "1";
            settings[prefix + "Channels:0:Frequency"] = "3";
            settings[prefix + "Channels:0:Noise"] = "0";
            settings[prefix + "Channels:0:Offset"] = Offset(k).ToString(CultureInfo.InvariantCulture);
        }
        return settings;
    }

    private static async Task<List<float>> ReadParquetValuesAsync(HttpClient client, string url)
    {
        var bytes = await client.GetByteArrayAsync(url);
        using var stream = new MemoryStream(bytes);
        await using var reader = await ParquetReader.CreateAsync(stream);
        var field = reader.Schema.GetDataFields().Single(f => f.Name.StartsWith("canary", StringComparison.Ordinal));
        var values = new List<float>();
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var column = new float[group.RowCount];
            await group.ReadAsync<float>(field, column, null, CancellationToken.None);
            values.AddRange(column);
        }
        return values;
    }

    private sealed class CanaryUser(int index, Requester requester)
    {
        private long _liveSamples;
        private long _liveValues;
        private long _foreign;

        public int Index { get; } = index;

        public Requester Requester { get; } = requester;

        public Guid MeasurementId { get; set; }

        public TaskCompletionSource LiveEnough { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long LiveValues => Interlocked.Read(ref _liveValues);

        public long ForeignLiveValues => Interlocked.Read(ref _foreign);

        // The sine is ±1 around the offset; float rounding at 20 000 is below 0.002.
        public bool Owns(float value) => Math.Abs(value - Offset(Index)) <= 1.01;

        public Task OnLiveFrame(LiveFrame frame)
        {
            foreach (var channel in frame.Y)
            {
                Interlocked.Add(ref _liveValues, channel.Count);
                Interlocked.Add(ref _foreign, channel.Count(v => !Owns(v)));
            }
            if (Interlocked.Add(ref _liveSamples, frame.SampleCount) >= LiveSamplesWanted)
            {
                LiveEnough.TrySetResult();
            }
            return Task.CompletedTask;
        }
    }
}
