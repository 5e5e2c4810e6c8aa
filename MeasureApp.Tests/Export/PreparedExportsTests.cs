using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Export;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Export;

/// <summary>Prepared exports: owner-only, one download, bounded per user, deleted on cancel, download or expiry.</summary>
public sealed class PreparedExportsTests(ExportFixture fixture) : IClassFixture<ExportFixture>, IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private PreparedExports? _exports;

    private PreparedExports Exports => _exports ??= new PreparedExports(
        fixture.Factory.Services.GetRequiredService<MeasurementCatalog>(),
        fixture.Factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>(),
        fixture.Factory.Services.GetRequiredService<ISampleStore>(),
        fixture.Factory.Services.GetRequiredService<ExportsInProgress>(),
        _time, NullLogger<PreparedExports>.Instance);

    private Requester Owner => new(fixture.OwnerUser.Id, fixture.OwnerUser.Email!, IsAdmin: false);

    [Fact]
    public async Task TheOwnerGetsTheFileOnceWithEveryRowAndItIsDeletedAfterwards()
    {
        var started = await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv&channels=0,2&from=1&to=2&time=seconds"), CancellationToken.None);
        var export = Assert.IsType<PreparedExport>(started.Export);
        await export.Completion;

        Assert.Equal(PreparedExportState.Ready, export.State);
        Assert.Equal(1001, export.RowsTotal);
        Assert.Equal(export.RowsTotal, export.RowsDone);
        var stranger = await Users.CreateOperatorAsync(fixture.Factory.Services);
        Assert.Null(Exports.Claim(export.Token, stranger.Id));

        var claimed = Assert.IsType<PreparedExport>(Exports.Claim(export.Token, Owner.UserId));
        string[] lines;
        await using (var file = PreparedExports.OpenClaimed(claimed))
        using (var reader = new StreamReader(file))
        {
            lines = (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        Assert.Equal("time,ch1 [V],ch3 [V]", lines[0]);
        Assert.Equal(1 + 1001, lines.Length);
        Assert.Equal("1.000000000,0.84147096,1.1", lines[1]);
        Assert.False(File.Exists(claimed.FilePath));
        Assert.Null(Exports.Claim(export.Token, Owner.UserId));
        Assert.Equal(0, Exports.CountFor(Owner.UserId));
    }

    [Fact]
    public async Task AnotherUsersOrAnUnknownMeasurementIsNotFoundAndABadRequestIsRefusedWithTheReason()
    {
        var stranger = await Users.CreateOperatorAsync(fixture.Factory.Services);
        var foreign = await Exports.StartAsync(new Requester(stranger.Id, stranger.Email!, false), fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv"), CancellationToken.None);
        var unknown = await Exports.StartAsync(Owner, Guid.NewGuid(), MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv"), CancellationToken.None);
        var badChannel = await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv&channels=7"), CancellationToken.None);

        Assert.True(foreign.NotFound);
        Assert.Null(foreign.Export);
        Assert.Equal(unknown, foreign);
        Assert.False(badChannel.NotFound);
        Assert.Null(badChannel.Export);
        Assert.Equal("Unknown channel 7: the measurement has channels 0–2.", badChannel.Error);
        Assert.Equal(0, Exports.CountFor(stranger.Id));
    }

    [Fact]
    public async Task AUserHasAtMostTwoAtOnceAndCancellingDeletesTheFileAndFreesTheSlot()
    {
        var first = (await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=parquet&channels=1"), CancellationToken.None)).Export!;
        var second = (await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv&channels=1&from=0&to=1"), CancellationToken.None)).Export!;
        await Task.WhenAll(first.Completion, second.Completion);

        var third = await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv"), CancellationToken.None);
        Assert.Null(third.Export);
        Assert.Contains("at most 2 at once", third.Error, StringComparison.Ordinal);

        Assert.True(File.Exists(first.FilePath));
        Exports.Cancel(first, "someone-else");
        Assert.True(File.Exists(first.FilePath));
        Exports.Cancel(first, Owner.UserId);
        Assert.False(File.Exists(first.FilePath));
        Assert.Null(Exports.Claim(first.Token, Owner.UserId));

        var fourth = await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv&channels=0&from=0&to=0.5"), CancellationToken.None);
        Assert.NotNull(fourth.Export);
        await fourth.Export.Completion;
        Assert.Equal(PreparedExportState.Ready, fourth.Export.State);
    }

    [Fact]
    public async Task AFileNobodyFetchesIsDeletedAfterItsLifetime()
    {
        var export = (await Exports.StartAsync(Owner, fixture.MeasurementId, MeasureApp.Tests.Export.ExportRequestTests.Parse("format=csv&channels=0&from=0&to=1"), CancellationToken.None)).Export!;
        await export.Completion;
        Assert.True(File.Exists(export.FilePath));

        _time.Advance(PreparedExports.Lifetime + TimeSpan.FromMinutes(1));

        Assert.False(File.Exists(export.FilePath));
        Assert.Equal(PreparedExportState.Gone, export.State);
        Assert.Null(Exports.Claim(export.Token, Owner.UserId));
        Assert.Equal(0, Exports.CountFor(Owner.UserId));
    }

    public void Dispose() => _exports?.Dispose();
}
